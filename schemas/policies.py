"""Policy rows: validated (one version per policy as at a month), then priced and accounted.

Rules: DATA_CONTRACT.md § policies, CALCULATION.md § Policies.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.common import (
    Provenance,
    Rule,
    Text,
    allowed_where,
    catalogue,
    date_in_period,
    exclusion_codes,
    member_of,
    not_in,
    one_year_after,
    pairs,
    required_where,
    unless,
)

if TYPE_CHECKING:
    from pipeline.products import ProductBook

# How each input column is parsed (pipeline.parse.PARSERS); DATA_CONTRACT.md § policies.
POLICY_KINDS = {
    "policy_id": "id",
    "product": "code",
    "insured_name": "text",
    "industry": "text",
    "revenue": "yen",
    "premium_basis": "code",
    "actual_revenue": "yen",
    "plan": "code",
    "leak_only": "bool",
    "it_business": "bool",
    "liability_limit": "yen",
    "liability_deductible": "yen",
    "expense_limit": "yen",
    "expense_deductible": "yen",
    "payment_method": "code",
    "period_start": "date",
    "period_end": "date",
    "join_date": "date",
    "cancel_date": "date",
}
# Terms a policy either chooses from the product's options or, on a fixed-term product, leaves empty
# (or gives exactly the product's value).
TERM_COLUMNS = (
    "liability_limit",
    "liability_deductible",
    "expense_limit",
    "expense_deductible",
    "payment_method",
    "premium_basis",
)


class PolicyValid(Provenance):
    """A policy row that passed validation. ``leak_lite`` rows have their fixed terms filled in
    (limits, deductibles, ``payment_method``, ``premium_basis``) from the product data; ``plan`` stays
    empty for ``leak_lite``. Riders default to False."""

    policy_id: Series[Text] = pa.Field(str_length={"min_value": 1})
    product: Series[Text] = pa.Field(isin=["leak_lite", "cyber_security"])
    insured_name: Series[Text]
    industry: Series[Text] = pa.Field(nullable=True)
    revenue: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)
    premium_basis: Series[Text] = pa.Field(isin=["fixed", "adjustable"])
    actual_revenue: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)
    plan: Series[Text] = pa.Field(nullable=True, isin=["basic", "wide"])
    leak_only: Series[bool]
    it_business: Series[bool]
    liability_limit: Series[int] = pa.Field(ge=0)
    liability_deductible: Series[int] = pa.Field(ge=0)
    expense_limit: Series[int] = pa.Field(ge=0)
    expense_deductible: Series[int] = pa.Field(ge=0)
    payment_method: Series[Text] = pa.Field(isin=["lump_sum", "installment", "large_installment"])
    period_start: Series[pd.Timestamp]
    period_end: Series[pd.Timestamp]
    join_date: Series[pd.Timestamp] = pa.Field(nullable=True)
    cancel_date: Series[pd.Timestamp] = pa.Field(nullable=True)


class PolicyPriced(PolicyValid):
    """Annual premium and status as at a month (CALCULATION.md § Premium). Premium figures are empty
    for referrals; ``warnings`` is a ``;``-joined list of codes, empty when none."""

    status: Series[Text] = pa.Field(isin=["ok", "refer"])
    warnings: Series[Text]
    annual_premium: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)
    cover_months: Series[int] = pa.Field(ge=0, le=12)
    written_premium: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    adjustment_premium: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    earned_to_date: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    upr: Series[pd.Int64Dtype] = pa.Field(nullable=True)


class PolicyAccounted(PolicyPriced):
    """Priced policy with the month's movements and the limits left after claims."""

    written_this_month: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    earned_this_month: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    remaining_liability_limit: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    remaining_expense_limit: Series[pd.Int64Dtype] = pa.Field(nullable=True)


class PolicyParsed(Provenance):
    """A policy row after parsing (pipeline.parse), before the product rules of
    :func:`policy_rules`: every value typed, empty where the cell was empty."""

    policy_id: Series[Text]
    product: Series[Text]
    insured_name: Series[Text]
    industry: Series[Text] = pa.Field(nullable=True)
    revenue: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)
    premium_basis: Series[Text] = pa.Field(nullable=True)
    actual_revenue: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)
    plan: Series[Text] = pa.Field(nullable=True)
    leak_only: Series[bool]
    it_business: Series[bool]
    liability_limit: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)
    liability_deductible: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)
    expense_limit: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)
    expense_deductible: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)
    payment_method: Series[Text] = pa.Field(nullable=True)
    period_start: Series[pd.Timestamp]
    period_end: Series[pd.Timestamp]
    join_date: Series[pd.Timestamp] = pa.Field(nullable=True)
    cancel_date: Series[pd.Timestamp] = pa.Field(nullable=True)


def _yen(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _fixed_term_rules(
    policies: pd.DataFrame, code: str, terms: dict[str, object], rider_columns: list[str]
) -> list[Rule]:
    """A fixed-term product (``leak_lite``): terms empty or exactly the product's, no plan, no riders."""
    mine = policies["product"] == code
    rules = [
        Rule(
            column,
            f"{code} takes {column} {_yen(terms[column])} (or leave it empty)",
            unless(mine & policies[column].notna(), policies[column] == terms[column]),
        )
        for column in TERM_COLUMNS
    ]
    rules.append(Rule("plan", f"{code} has no plan: leave plan empty", unless(mine, policies["plan"].isna())))
    rules += [
        Rule(rider, f"{code} has no riders: leave {rider} empty or false", unless(mine, ~policies[rider]))
        for rider in rider_columns
    ]
    return rules


def _option_rules(policies: pd.DataFrame, code: str, definition: dict, rider_columns: list[str]) -> list[Rule]:
    """A product with options (``cyber_security``): plan, terms chosen from the option lists, and
    the option rules (PRODUCTS.md § cyber_security, DATA_CONTRACT.md § Validation details)."""
    mine = policies["product"] == code
    options, option_rules = definition["options"], definition["option_rules"]
    plans = list(definition["plans"])
    rules = [
        required_where(policies, mine, "plan", f"plan is required for {code}"),
        allowed_where(policies, mine, "plan", plans, f"plan must be one of {', '.join(plans)}"),
    ]
    for column in TERM_COLUMNS:
        allowed = list(options[column])
        shown = ", ".join(_yen(value) for value in allowed)
        rules.append(required_where(policies, mine, column, f"{column} is required for {code}"))
        rules.append(allowed_where(policies, mine, column, allowed, f"{column} must be one of {shown}"))
    rules += [
        Rule(rider, f"{rider} is not a rider of {code}", unless(mine, ~policies[rider]))
        for rider in rider_columns
        if rider not in definition["riders"]
    ]
    share = Decimal(option_rules["expense_limit_max_share_of_liability_limit"])
    numerator, denominator = share.as_integer_ratio()
    expense, liability = policies["expense_limit"], policies["liability_limit"]
    rules.append(
        Rule(
            "expense_limit",
            f"expense_limit must be at most {share:.0%} of liability_limit",
            unless(mine & expense.notna() & liability.notna(), expense * denominator <= liability * numerator),
        )
    )
    cap = option_rules["liability_limit_max_with_it_business"]
    rules.append(
        Rule(
            "liability_limit",
            f"with it_business, liability_limit must be at most {cap:,}",
            unless(mine & policies["it_business"] & liability.notna(), liability <= cap),
        )
    )
    leak_only_plans = list(option_rules["leak_only_plans"])
    rules.append(
        Rule(
            "leak_only",
            f"leak_only is a rider of plan {' / '.join(leak_only_plans)} only",
            unless(mine & policies["leak_only"] & policies["plan"].notna(), policies["plan"].isin(leak_only_plans)),
        )
    )
    return rules


def effective_terms(policies: pd.DataFrame, book: ProductBook) -> pd.DataFrame:
    """``policies`` with the fixed terms of fixed-term products filled in where left empty
    (PolicyValid holds complete terms)."""
    filled = {}
    for column in TERM_COLUMNS:
        values = policies[column].copy()
        for code, product in book.products.items():
            terms = product.definition.get("fixed_terms")
            if terms is not None:
                values = values.mask((policies["product"] == code) & values.isna(), terms[column])
        filled[column] = values
    return policies.assign(**filled)


def policy_rules(policies: pd.DataFrame, book: ProductBook) -> list[Rule]:
    """Every row-level rule of a parsed policies sheet (DATA_CONTRACT.md § policies and
    § Validation details; CALCULATION.md § Policies). Option lists and fixed terms come from the
    product data."""
    products = list(book.products)
    rider_columns = sorted({rider for product in book.products.values() for rider in product.riders})
    rules = [
        allowed_where(
            policies, policies["product"].notna(), "product", products, f"product must be one of {', '.join(products)}"
        )
    ]
    for code, product in book.products.items():
        if "fixed_terms" in product.definition:
            rules += _fixed_term_rules(policies, code, product.definition["fixed_terms"], rider_columns)
        else:
            rules += _option_rules(policies, code, product.definition, rider_columns)

    basis = effective_terms(policies, book)["premium_basis"]
    rules.append(
        Rule(
            "actual_revenue",
            "actual_revenue only with premium_basis adjustable",
            unless(policies["actual_revenue"].notna(), basis == "adjustable"),
        )
    )
    start, end = policies["period_start"], policies["period_end"]
    rules.append(
        Rule(
            "period_end",
            "period_end must be exactly one year after period_start (same date; 29 Feb -> 28 Feb)",
            unless(start.notna() & end.notna(), end == one_year_after(start)),
        )
    )
    joiners = [code for code, product in book.products.items() if product.definition["mid_term_joiners"]]
    rules.append(
        Rule(
            "join_date",
            f"join_date only on {' / '.join(joiners) or 'no product'} (mid-term joiners)",
            unless(policies["join_date"].notna(), policies["product"].isin(joiners)),
        )
    )
    rules.append(date_in_period(policies, "join_date", start, end, "join_date must lie in [period_start, period_end)"))
    cover_start = policies["join_date"].fillna(start)
    rules.append(
        date_in_period(
            policies,
            "cancel_date",
            cover_start,
            end,
            "cancel_date must lie in [cover start (join_date or period_start), period_end)",
        )
    )
    return rules


def product_change_rule(
    policies: pd.DataFrame, claims_on_file: pd.DataFrame, lines_on_file: pd.DataFrame, book: ProductBook
) -> Rule:
    """A policy restatement may not give it a product that its claims' exclusion codes or its lines'
    items do not belong to (those rows were validated against the earlier product)."""
    candidates = policies[["policy_id", "product"]].reset_index(names="row")
    claims = claims_on_file.loc[member_of(claims_on_file["policy_id"], policies["policy_id"])]
    with_claims = candidates.merge(claims[["claim_id", "policy_id", "exclusion_code"]], on="policy_id")
    bad_exclusion = with_claims["exclusion_code"].notna() & ~pairs(with_claims, "product", "exclusion_code").isin(
        exclusion_codes(book)
    )
    lines = lines_on_file.loc[member_of(lines_on_file["claim_id"], with_claims["claim_id"])]
    with_lines = with_claims.merge(lines[["claim_id", "item"]], on="claim_id")
    bad_item = ~pairs(with_lines, "product", "item").isin(catalogue(book))
    conflicted = set(with_claims.loc[bad_exclusion, "row"]) | set(with_lines.loc[bad_item, "row"])
    return Rule(
        "product",
        "product differs from the version on file and its claims or lines on file do not fit the new product "
        "(send a new policy_id instead)",
        not_in(policies.index, conflicted),
    )
