"""Eligibility of claim lines: CALCULATION.md § Waterfall, step 0.

A line is eligible unless one of ten reasons holds; the first that holds (in the order of the spec)
is its ``reason`` and its ``eligible_amount`` is 0. Every rule is read from the product data through
the tables of ``pipeline.stages.coverage``, merged onto the lines: no loop over lines, claims or
policies.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.products.load import ProductBook
from pipeline.stages import coverage

LINE_COLUMNS = [
    "line_id",
    "claim_id",
    "item",
    "amount",
    "spent_date",
    "spent_in",
    "insurer_consent",
    "victims",
    "victim_type",
    "first_month",
]
CLAIM_COLUMNS = [
    "claim_id",
    "policy_id",
    "event_type",
    "series_id",
    "known_date",
    "notice_date",
    "claim_made_date",
    "claim_jurisdiction",
    "evidence",
    "exclusion_code",
]
POLICY_COLUMNS = [
    "policy_id",
    "product",
    "liability_limit",
    "liability_deductible",
    "expense_limit",
    "expense_deductible",
]
CONTEXT_COLUMNS = ["policy_id", "product", "plan", "series", "part", "item_number"]
"""Columns added to every line so that a reader can redo its figures: the policy and product, the
plan whose rules apply (``leak_lite``: its single plan ``standard``), the series (``series_id``, or
the claim's own id when empty), the part (empty for never-paid items) and the item number."""


def cover_period(policies: pd.DataFrame) -> pd.DataFrame:
    """``cover_start`` = join_date or period_start, ``cover_end`` = cancel_date or period_end: the
    cover period ``[cover_start, cover_end)`` of each policy (CALCULATION.md § Policies)."""
    return pd.DataFrame(
        {
            "cover_start": policies["join_date"].fillna(policies["period_start"]),
            "cover_end": policies["cancel_date"].fillna(policies["period_end"]),
        },
        index=policies.index,
    )


def line_terms(
    lines: pd.DataFrame, claims: pd.DataFrame, policies: pd.DataFrame, products: ProductBook
) -> pd.DataFrame:
    """Each line (in input order, index 0..n-1) with its claim, its policy's terms and cover period,
    the plan whose rules apply, its item's terms and its event's terms for that plan.

    Raises ValueError if a line's claim or a claim's policy is missing (the stages before guarantee it).
    """
    riders = coverage.all_riders(products)
    policy_terms = policies[[*POLICY_COLUMNS, *riders]].assign(
        plan=coverage.coverage_plan(policies, products), **cover_period(policies)
    )
    known_claims = claims.loc[claims["policy_id"].isin(policies["policy_id"]), "claim_id"]
    unknown = ~lines["claim_id"].isin(known_claims)
    if unknown.any():
        missing = ", ".join(lines.loc[unknown, "line_id"].astype(str).head(5))
        raise ValueError(f"lines whose claim or policy is unknown: {missing}")
    terms = (
        lines[LINE_COLUMNS]
        .reset_index(drop=True)
        .merge(claims[CLAIM_COLUMNS], on="claim_id", how="left", validate="many_to_one")
        .merge(policy_terms, on="policy_id", how="left", validate="many_to_one")
    )
    terms = terms.merge(coverage.item_terms(products), on=["product", "item"], how="left", validate="many_to_one")
    events = coverage.event_terms(products)
    terms = terms.merge(events, on=["product", "event_type", "plan"], how="left", validate="many_to_one")
    flags = [c for c in events.columns if c not in ("product", "event_type", "plan")]
    return terms.assign(
        **{flag: terms[flag].eq(True) for flag in flags},
        part=terms["part"].fillna("").astype("str"),
        series=terms["series_id"].fillna(terms["claim_id"]).astype("str"),
        event_listed=_matches(terms, events, ["product", "event_type", "plan"]),
        item_offered=_matches(terms, coverage.item_availability(products), ["product", "item", "plan", "event_type"]),
        part_excluded=_matches(terms, coverage.exclusion_parts(products), ["product", "exclusion_code", "part"]),
    )


def _matches(terms: pd.DataFrame, table: pd.DataFrame, on: list[str]) -> pd.Series:
    """True where the line's values of ``on`` appear as a row of ``table``."""
    found = pd.MultiIndex.from_frame(terms[on]).isin(pd.MultiIndex.from_frame(table[on]))
    return pd.Series(found, index=terms.index)


def never_paid(terms: pd.DataFrame, products: ProductBook) -> pd.Series:
    """0.1 ``not_covered_item``: an item no product pays (common.toml ``never_paid_items``)."""
    return terms["item"].isin(products.never_paid_items)


def event_not_covered(terms: pd.DataFrame, products: ProductBook) -> pd.Series:
    """0.2 ``event_not_covered``: the plan does not list the event, a rider it requires is missing, or
    a rider that removes it is attached."""
    uncovered = ~terms["event_listed"]
    for rider in coverage.all_riders(products):
        attached = terms[rider].eq(True)
        uncovered |= (terms[f"requires_{rider}"] & ~attached) | (terms[f"excluded_by_{rider}"] & attached)
    return uncovered


def item_not_covered(terms: pd.DataFrame) -> pd.Series:
    """0.3 ``item_not_covered``: the catalogue does not offer the item for this plan and event."""
    return ~terms["item_offered"]


def outside_period(terms: pd.DataFrame) -> pd.Series:
    """0.4 ``outside_period``: liability line whose ``claim_made_date``, or expense line whose
    ``known_date``, is not in ``[cover_start, cover_end)`` (an empty date is outside)."""
    date = terms["claim_made_date"].where(terms["part"].eq("liability"), terms["known_date"])
    inside = date.ge(terms["cover_start"]) & date.lt(terms["cover_end"])
    return terms["part"].isin(["liability", "expense"]) & ~inside


def excluded(terms: pd.DataFrame) -> pd.Series:
    """0.5 ``excluded:<code>``: the claim's ``exclusion_code`` removes this line's part."""
    return terms["part_excluded"]


def overseas_claim(terms: pd.DataFrame) -> pd.Series:
    """0.6 ``overseas_claim``: liability line of a claim made overseas that the plan/event does not
    cover overseas."""
    made_overseas = terms["claim_jurisdiction"].eq("overseas")
    return terms["part"].eq("liability") & made_overseas & ~terms["overseas_claim_covered"]


def overseas_expense(terms: pd.DataFrame) -> pd.Series:
    """0.7 ``overseas_expense``: expense line spent overseas that the plan/event does not cover."""
    spent_overseas = terms["spent_in"].eq("overseas")
    return terms["part"].eq("expense") & spent_overseas & ~terms["overseas_spending_covered"]


def outside_window(terms: pd.DataFrame, products: ProductBook) -> pd.Series:
    """0.8 ``outside_window``: expense line spent before ``known_date`` or after ``notice_date`` +
    the plan's expense window (a product/plan with no window has no such rule)."""
    outside = pd.Series(False, index=terms.index)
    for product, plan, length in coverage.expense_windows(products):
        rows = terms["part"].eq("expense") & terms["product"].eq(product) & terms["plan"].eq(plan)
        if not rows.any():
            continue
        window_end = terms.loc[rows, "notice_date"] + length
        spent = terms.loc[rows, "spent_date"]
        outside.loc[rows] = spent.lt(terms.loc[rows, "known_date"]) | spent.gt(window_end)
    return outside


def no_evidence(terms: pd.DataFrame, products: ProductBook) -> pd.Series:
    """0.9 ``no_evidence``: expense line whose claim lists none of the evidence codes its event needs
    on this plan (none needed: never)."""
    listed = ";" + terms["evidence"].fillna("").astype("str").str.replace(" ", "") + ";"
    needs_any = pd.Series(False, index=terms.index)
    has_needed = pd.Series(False, index=terms.index)
    for code in products.evidence_codes:
        needed = terms[f"needs_evidence_{code}"]
        needs_any |= needed
        has_needed |= needed & listed.str.contains(f";{code};", regex=False)
    return terms["part"].eq("expense") & needs_any & ~has_needed


def no_consent(terms: pd.DataFrame) -> pd.Series:
    """0.10 ``no_consent``: the item needs the insurer's consent and ``insurer_consent`` is false."""
    return terms["consent"].eq(True) & ~terms["insurer_consent"].astype("bool")


def ineligibility_reason(terms: pd.DataFrame, products: ProductBook) -> pd.Series:
    """The first reason that holds, in the order of step 0, or ``''`` when the line is eligible."""
    reasons = [
        ("not_covered_item", never_paid(terms, products)),
        ("event_not_covered", event_not_covered(terms, products)),
        ("item_not_covered", item_not_covered(terms)),
        ("outside_period", outside_period(terms)),
        ("excluded:" + terms["exclusion_code"].fillna("").astype("str"), excluded(terms)),
        ("overseas_claim", overseas_claim(terms)),
        ("overseas_expense", overseas_expense(terms)),
        ("outside_window", outside_window(terms, products)),
        ("no_evidence", no_evidence(terms, products)),
        ("no_consent", no_consent(terms)),
    ]
    conditions = [holds.to_numpy(dtype=bool) for _, holds in reasons]
    labels = [np.broadcast_to(np.asarray(label, dtype=object), len(terms)) for label, _ in reasons]
    chosen = np.select(conditions, labels, default="") if len(terms) else np.array([], dtype=object)
    return pd.Series(chosen, index=terms.index, dtype="str")


def eligible_amount(terms: pd.DataFrame, reason: pd.Series) -> pd.Series:
    """The line's amount when it is eligible, else 0 (step 0)."""
    return terms["amount"].astype("int64").where(reason.eq(""), 0).astype("int64")


def eligibility_columns(terms: pd.DataFrame, products: ProductBook) -> pd.DataFrame:
    """Context columns, ``reason`` and ``eligible_amount`` of each line of ``terms``."""
    reason = ineligibility_reason(terms, products)
    columns = terms[CONTEXT_COLUMNS].assign(reason=reason, eligible_amount=eligible_amount(terms, reason))
    return columns.astype({"item_number": "Int64", "eligible_amount": "int64"})


def eligible_lines(
    lines: pd.DataFrame, claims: pd.DataFrame, policies: pd.DataFrame, products: ProductBook
) -> pd.DataFrame:
    """``lines`` (same rows, same order, same index) with the context columns, ``reason`` ('' when
    eligible) and ``eligible_amount`` (0 when not): CALCULATION.md § Waterfall step 0."""
    terms = line_terms(lines, claims, policies, products)
    added = eligibility_columns(terms, products).set_axis(lines.index)
    return lines.assign(**{column: added[column] for column in added.columns})
