"""The catalogue of intended bad rows (one per rule of DATA_CONTRACT.md they break) and the plan
that spreads them over the months: every kind at least once, a handful every month."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

from pipeline.products.load import ProductBook
from pipeline.sample.bad_rows import (
    BadRow,
    Cells,
    Context,
    base_claim,
    base_line,
    base_policy,
    claim_template,
    date_text,
    line_template,
    policy_template,
    row_cells,
)
from pipeline.sample.dates import EXCEL_OFFSET, MISSING, Calendar
from pipeline.sample.policies import scheme_and_contract_products
from pipeline.sample.xlsx import Raw


def _options(ctx: Context) -> dict[str, Any]:
    return scheme_and_contract_products(ctx.book)[1].definition["options"]


def _not_an_option(ctx: Context, key: str) -> int:
    values = sorted(_options(ctx)[key])
    return next(m for a, b in pairwise(values) if (m := (a + b) // 2) not in values)


def _bad_liability_limit(ctx: Context, cells: Cells) -> None:
    """A liability limit that is not an option; the expense limit is lowered to at most half of it, so
    that the row breaks this one rule only."""
    rules = scheme_and_contract_products(ctx.book)[1].definition["option_rules"]
    share = rules["expense_limit_max_share_of_liability_limit"]
    cells["liability_limit"] = liability = _not_an_option(ctx, "liability_limit")
    expense = cells.get("expense_limit")
    if isinstance(expense, int) and expense > liability * share:
        cells["expense_limit"] = max(v for v in _options(ctx)["expense_limit"] if v <= liability * share)


def _set(**values: object) -> Callable[[Context, Cells], None]:
    def change(ctx: Context, cells: Cells) -> None:
        cells.update(values)

    return change


def _expense_over_half(ctx: Context, cells: Cells) -> None:
    rules = scheme_and_contract_products(ctx.book)[1].definition["option_rules"]
    share = rules["expense_limit_max_share_of_liability_limit"]
    liability = min(_options(ctx)["liability_limit"])
    cells["liability_limit"] = liability
    cells["expense_limit"] = min(v for v in _options(ctx)["expense_limit"] if v > liability * share)


def _it_business_limit(ctx: Context, cells: Cells) -> None:
    rules = scheme_and_contract_products(ctx.book)[1].definition["option_rules"]
    cells["it_business"] = True
    cells["liability_limit"] = max(_options(ctx)["liability_limit"])
    assert cells["liability_limit"] > rules["liability_limit_max_with_it_business"]  # type: ignore[operator]


def _leak_only_on_other_plan(ctx: Context, cells: Cells) -> bool:
    contract = scheme_and_contract_products(ctx.book)[1]
    others = [p for p in contract.plans if p not in contract.definition["option_rules"]["leak_only_plans"]]
    if not others:
        return False
    cells.update(plan=others[0], leak_only=True)
    return True


def _invalid_policy_restatement(ctx: Context) -> list[BadRow] | None:
    pol = ctx.policies
    contract = scheme_and_contract_products(ctx.book)[1]
    restated_ids = set(pol.loc[pol["restated"] == 1, "policy_id"])
    frame = pol[(pol["restated"] == 0) & (pol["month"] < ctx.month) & (pol["product"] == contract.code)]
    frame = frame[~frame["policy_id"].isin(restated_ids | ctx.used)]
    row = ctx.pick(frame)
    if row is None:
        return None
    cells = row_cells(row, "policies")
    _bad_liability_limit(ctx, cells)
    ctx.used.add(str(cells["policy_id"]))
    problem = "invalid restatement (liability_limit not an allowed option): rejected, the earlier version stays"
    return [BadRow("policies", cells, str(cells["policy_id"]), "liability_limit", problem)]


def _invalid_line_restatement(ctx: Context) -> list[BadRow] | None:
    lns = ctx.lines
    restated_ids = set(lns.loc[lns["restated"] == 1, "line_id"])
    frame = lns[(lns["restated"] == 0) & (lns["month"] < ctx.month) & (lns["victims"] == MISSING)]
    row = ctx.pick(frame[~frame["line_id"].isin(restated_ids | ctx.used)])
    if row is None:
        return None
    cells = row_cells(row, "lines")
    cells["amount"] = "15万円"
    ctx.used.add(str(cells["line_id"]))
    problem = "invalid restatement (amount in 万 notation): rejected, the earlier version stays"
    return [BadRow("lines", cells, str(cells["line_id"]), "amount", problem)]


def _duplicate(base: Callable[[Context], Cells | None], sheet: str, key: str) -> Callable:
    def template(ctx: Context) -> list[BadRow] | None:
        first, second = base(ctx), base(ctx)
        if first is None or second is None:
            return None
        second[key] = first[key]
        problem = f"{key} appears twice in the file: every copy is rejected"
        return [BadRow(sheet, cells, str(first[key]), key, problem) for cells in (first, second)]

    return template


def _policy_not_yet_known(ctx: Context, cells: Cells) -> bool:
    pol = ctx.policies
    later = pol[(pol["restated"] == 0) & (pol["month"] > ctx.month)]
    row = ctx.pick(later)
    if row is None:
        return False
    cells["policy_id"] = row["policy_id"]
    return True


def _foreign_exclusion(ctx: Context, cells: Cells) -> bool:
    scheme, contract = scheme_and_contract_products(ctx.book)
    foreign = [code for code in contract.exclusions if code not in scheme.exclusions]
    pol = ctx.policies
    sites = pol[(pol["restated"] == 0) & (pol["month"] <= ctx.month) & (pol["product"] == scheme.code)]
    row = ctx.pick(sites)
    if row is None or not foreign:
        return False
    cells.update(policy_id=row["policy_id"], exclusion_code=foreign[0], event_type="leak")
    return True


def _series_on_other_policy(ctx: Context, cells: Cells) -> bool:
    clm = ctx.claims[ctx.claims["restated"] == 0]
    with_series = clm[clm["series_id"].notna()]
    done = with_series.groupby("series_id")["month"].max()
    done = done[done < ctx.month]
    if done.empty:
        return False
    series = str(done.index[int(ctx.rng.integers(0, len(done)))])
    owners = set(with_series.loc[with_series["series_id"] == series, "policy_id"])
    others = clm[(clm["month"] <= ctx.month) & ~clm["policy_id"].isin(owners)]
    row = ctx.pick(others)
    if row is None:
        return False
    cells.update(row_cells(row, "claims"), claim_id=cells["claim_id"], series_id=series)
    return True


def _no_jurisdiction(ctx: Context, cells: Cells) -> None:
    if cells["claim_made_date"] is None:
        cells["claim_made_date"] = cells["notice_date"]
    cells["claim_jurisdiction"] = None


def _liability_without_claim_made(ctx: Context, cells: Cells) -> bool:
    clm = ctx.claims
    restated = set(clm.loc[clm["restated"] == 1, "claim_id"])
    candidates = clm[
        (clm["restated"] == 0)
        & (clm["month"] <= ctx.month)
        & (clm["claim_made_date"] == MISSING)
        & (clm["event_type"] == "leak")
        & ~clm["claim_id"].isin(restated)
    ]
    row = ctx.pick(candidates)
    if row is None:
        return False
    product = ctx.book.products[str(row["product"])]
    liability = product.items.loc[product.items["part"] == "liability", "item"].tolist()
    cells.update(claim_id=row["claim_id"], item=liability[0], victims=None, victim_type=None)
    cells["spent_date"] = max(int(row["known_date"]), int(ctx.cal.starts[ctx.month])) + EXCEL_OFFSET
    return True


def _line_of_rejected_claim(ctx: Context) -> list[BadRow] | None:
    claim, line = base_claim(ctx), base_line(ctx)
    if claim is None or line is None:
        return None
    claim["policy_id"] = "CS8888888"
    line["claim_id"] = claim["claim_id"]
    return [
        BadRow("claims", claim, str(claim["claim_id"]), "policy_id", "policy_id is not a known policy (orphan claim)"),
        BadRow("lines", line, str(line["line_id"]), "claim_id", "line of a rejected claim: rejected too"),
    ]


def _item_of_other_product(ctx: Context, cells: Cells) -> bool:
    clm = ctx.claims
    matches = clm.loc[clm["claim_id"] == cells["claim_id"], "product"]
    if matches.empty:
        return False
    own = str(matches.iat[0])
    products = ctx.book.products
    catalogue = set(products[own].items["item"]) | set(ctx.book.never_paid_items)
    foreign = [i for p in products.values() if p.code != own for i in p.items["item"] if i not in catalogue]
    if not foreign:
        return False
    cells["item"] = foreign[0]
    return True


def _month_end(ctx: Context, days: int) -> int:
    return int(ctx.cal.ends[ctx.month]) + days + EXCEL_OFFSET


def templates() -> list[tuple[str, Callable[[Context], list[BadRow] | None]]]:
    """Every kind of bad row, interleaved policies / claims / lines."""
    policy = [
        ("yen_in_man", policy_template(False, "revenue", "yen written in 万 notation", _set(revenue="3,500万"))),
        (
            "impossible_date",
            policy_template(
                True,
                "period_start",
                "impossible date (30 February)",
                lambda c, x: x.update(period_start=date_text(x["period_start"], "{y}年2月30日")),
            ),
        ),
        ("unknown_product", policy_template(False, "product", "unknown product", _set(product="cyber_plus"))),
        ("duplicate_policy", _duplicate(lambda c: base_policy(c, False), "policies", "policy_id")),
        (
            "bad_option",
            policy_template(
                False,
                "liability_limit",
                "liability_limit is not an allowed option",
                _bad_liability_limit,
            ),
        ),
        (
            "expense_over_half",
            policy_template(False, "expense_limit", "expense_limit above 50% of liability_limit", _expense_over_half),
        ),
        (
            "it_business_limit",
            policy_template(
                False, "liability_limit", "liability_limit above the it_business maximum", _it_business_limit
            ),
        ),
        (
            "leak_only_not_basic",
            policy_template(
                False, "leak_only", "leak_only rider on a plan that does not allow it", _leak_only_on_other_plan
            ),
        ),
        (
            "period_end_mismatch",
            policy_template(
                False,
                "period_end",
                "period_end is not period_start + 1 year",
                lambda c, x: x.update(period_end=x["period_end"] + 1),
            ),
        ),
        (
            "cancel_before_start",
            policy_template(
                False,
                "cancel_date",
                "cancel_date before the cover period",
                lambda c, x: x.update(cancel_date=x["period_start"] - 10),
            ),
        ),
        (
            "join_not_allowed",
            policy_template(
                False,
                "join_date",
                "join_date on a product without mid-term joiners",
                lambda c, x: x.update(join_date=x["period_start"] + 40),
            ),
        ),
        (
            "scheme_terms_changed",
            policy_template(
                True,
                "liability_limit",
                "fixed-terms product with a different liability_limit",
                _set(liability_limit=50_000_000),
            ),
        ),
        (
            "serial_in_date",
            policy_template(
                False,
                "period_start",
                "bare number in a date column (serial typed as General)",
                lambda c, x: x.update(period_start=Raw(x["period_start"])),
            ),
        ),
        (
            "dotted_date",
            policy_template(
                True,
                "period_start",
                "date written 2026.4.1",
                lambda c, x: x.update(period_start=date_text(x["period_start"], "{y}.{m}.{d}")),
            ),
        ),
        (
            "era_out_of_range",
            policy_template(
                False,
                "period_start",
                "era date outside its era (平成 ended in year 31)",
                lambda c, x: x.update(period_start=date_text(x["period_start"], "H{h}.{m}.{d}")),
            ),
        ),
        (
            "missing_name",
            policy_template(True, "insured_name", "required insured_name is empty", _set(insured_name=None)),
        ),
        ("negative_revenue", policy_template(False, "revenue", "negative yen", _set(revenue=-5_000_000))),
        (
            "adjustable_scheme",
            policy_template(
                True, "premium_basis", "fixed-terms product sent as adjustable", _set(premium_basis="adjustable")
            ),
        ),
        ("missing_plan", policy_template(False, "plan", "plan missing on a product with plans", _set(plan=None))),
        ("invalid_policy_restatement", _invalid_policy_restatement),
    ]
    claim = [
        (
            "orphan_claim",
            claim_template("policy_id", "policy_id is not a known policy (orphan claim)", _set(policy_id="CS8888888")),
        ),
        (
            "policy_not_yet_known",
            claim_template(
                "policy_id", "policy first reported in a later month: must be sent again", _policy_not_yet_known
            ),
        ),
        (
            "known_after_notice",
            claim_template(
                "known_date", "known_date after notice_date", lambda c, x: x.update(known_date=x["notice_date"] + 5)
            ),
        ),
        (
            "notice_after_month",
            claim_template(
                "notice_date",
                "notice_date after the end of the bordereau month",
                lambda c, x: x.update(notice_date=_month_end(c, 3), known_date=_month_end(c, 1)),
            ),
        ),
        ("unknown_event", claim_template("event_type", "unknown event_type", _set(event_type="ransomware"))),
        (
            "foreign_exclusion",
            claim_template("exclusion_code", "exclusion_code not of the policy's product", _foreign_exclusion),
        ),
        (
            "series_other_policy",
            claim_template("series_id", "series_id already belongs to another policy", _series_on_other_policy),
        ),
        (
            "no_jurisdiction",
            claim_template("claim_jurisdiction", "claim_made_date without claim_jurisdiction", _no_jurisdiction),
        ),
        ("duplicate_claim", _duplicate(base_claim, "claims", "claim_id")),
        ("unknown_evidence", claim_template("evidence", "unknown evidence code", _set(evidence="police_report"))),
    ]
    line = [
        ("unknown_claim", line_template("claim_id", "claim_id is not a known claim", _set(claim_id="C8888888"))),
        ("line_of_rejected_claim", _line_of_rejected_claim),
        ("amount_in_man", line_template("amount", "yen written in 万 notation", _set(amount="12万"))),
        ("fraction_amount", line_template("amount", "yen with a fraction", _set(amount=12_345.5))),
        ("negative_amount", line_template("amount", "negative yen", _set(amount=-30_000))),
        (
            "spent_after_month",
            line_template(
                "spent_date",
                "spent_date after the end of the bordereau month",
                lambda c, x: x.update(spent_date=_month_end(c, 3)),
            ),
        ),
        (
            "condolence_no_victims",
            line_template(
                "victims",
                "condolence line without victims",
                _set(item="condolence", victims=None, victim_type="individual"),
            ),
        ),
        (
            "item_of_other_product",
            line_template("item", "item not in the policy's product catalogue", _item_of_other_product),
        ),
        (
            "liability_without_claim_made",
            line_template("item", "liability line on a claim with no claim_made_date", _liability_without_claim_made),
        ),
        (
            "bad_victim_type",
            line_template(
                "victim_type", "unknown victim_type", _set(item="condolence", victims=120, victim_type="group")
            ),
        ),
        ("duplicate_line", _duplicate(base_line, "lines", "line_id")),
        (
            "bad_boolean",
            line_template(
                "insurer_consent", "insurer_consent is not a boolean spelling", _set(insurer_consent="maybe")
            ),
        ),
        ("invalid_line_restatement", _invalid_line_restatement),
    ]
    interleaved = []
    for k in range(max(len(policy), len(claim), len(line))):
        for group in (policy, claim, line):
            if k < len(group):
                interleaved.append(group[k])
    return interleaved


def plan_bad_rows(
    rng: np.random.Generator, book: ProductBook, cal: Calendar, policies: pd.DataFrame, claims: pd.DataFrame,
    lines: pd.DataFrame, per_month: int = 5,
) -> list[list[BadRow]]:  # fmt: skip
    """Bad rows per month: every template once somewhere (those that need an earlier or a later month
    wait for one), then repeats, at least ``per_month`` per month."""
    everything = templates()
    queue = list(everything)
    per_month = max(per_month, -(-len(queue) // cal.count))
    plan: list[list[BadRow]] = []
    used: set[str] = set()
    cursor = 0
    for month in range(cal.count):
        ctx = Context(rng, book, cal, month, policies, claims, lines, used=used)
        rows: list[BadRow] = []
        pending = list(queue)
        made = attempts = 0
        while made < per_month and attempts < 3 * len(everything):
            attempts += 1
            if pending:
                name, template = pending.pop(0)
            else:
                name, template = everything[cursor % len(everything)]
                cursor += 1
            produced = template(ctx)
            if produced is None:
                continue
            queue = [entry for entry in queue if entry[0] != name]
            for bad in produced:
                bad.template = name
            rows.extend(produced)
            made += 1
        plan.append(rows)
    return plan
