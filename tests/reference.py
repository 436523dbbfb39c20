"""A plain, row-by-row reference for the claims waterfall (CALCULATION.md § Claims, steps 0–6).

Written to be read by an actuary and checked against the spec line by line, not to be fast: it walks
the lines one at a time with Python dicts and running totals, and shares no code with the engine
(``pipeline/stages/``) — only the product data files, read as plain dicts. The property tests compare
the engine with it on thousands of random portfolios.
"""

from __future__ import annotations

import calendar
import datetime as dt
from fractions import Fraction
from typing import Any

import pandas as pd

from pipeline.products.load import ProductBook

STEPS = ["eligible_amount", "after_victim_cap", "after_deductible", "after_reduction", "after_sublimit", "after_limit"]
CODES = ["victim_cap", "deductible", "reduction_ratio", "sublimit", "limit", "combined_limit"]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with plain Python values (None for empty cells, datetime.date for dates)."""
    rows = []
    for row in frame.to_dict("records"):
        clean: dict[str, Any] = {}
        for key, value in row.items():
            if value is None or (not isinstance(value, str) and pd.isna(value)):
                value = None
            elif isinstance(value, pd.Timestamp):
                value = value.date()
            clean[str(key)] = value
        rows.append(clean)
    return rows


def add_years(day: dt.date, years: int) -> dt.date:
    """Same calendar date ``years`` later; 29 Feb becomes 28 Feb in a common year."""
    year = day.year + years
    return day.replace(year=year, day=min(day.day, calendar.monthrange(year, day.month)[1]))


def add_months(day: dt.date, months: int) -> dt.date:
    """Same day ``months`` later, clamped to the month's last day."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def reason_for(line: dict, claim: dict, policy: dict, products: ProductBook) -> str:
    """Step 0: the first reason that holds, or '' when the line is eligible."""
    never_paid = [entry["item"] for entry in products.common["never_paid_items"]]
    if line["item"] in never_paid:
        return "not_covered_item"

    product = products.products[policy["product"]]
    plan = policy["plan"] or product.definition["plans"][0]
    event = None
    for candidate in product.coverage["events"]:
        if candidate["code"] == claim["event_type"]:
            event = candidate
    if event is None or plan not in event["plans"]:
        return "event_not_covered"
    for rider in event["requires_riders"]:
        if not policy[rider]:
            return "event_not_covered"
    for rider in event["excluded_by_riders"]:
        if policy[rider]:
            return "event_not_covered"

    item = None
    for candidate in product.coverage["items"]:
        if candidate["item"] == line["item"]:
            item = candidate
    if item is None or plan not in item["plans"] or claim["event_type"] not in item["events"]:
        return "item_not_covered"
    part = item["part"]

    cover_start = policy["join_date"] or policy["period_start"]
    cover_end = policy["cancel_date"] or policy["period_end"]
    date = claim["claim_made_date"] if part == "liability" else claim["known_date"]
    if date is None or not (cover_start <= date < cover_end):
        return "outside_period"

    code = claim["exclusion_code"]
    if code and part in product.coverage["exclusions"].get(code, []):
        return "excluded:" + code

    if part == "liability" and claim["claim_jurisdiction"] == "overseas" and plan not in event["overseas_claim_plans"]:
        return "overseas_claim"
    if part == "expense" and line["spent_in"] == "overseas" and plan not in event["overseas_spending_plans"]:
        return "overseas_expense"

    window = product.coverage["expense_window"].get(plan)
    if part == "expense" and window is not None:
        last_day = claim["notice_date"]
        last_day = add_years(last_day, int(window.get("years", 0)))
        last_day = add_months(last_day, int(window.get("months", 0)))
        last_day = last_day + dt.timedelta(days=int(window.get("days", 0)))
        if line["spent_date"] < claim["known_date"] or line["spent_date"] > last_day:
            return "outside_window"

    needed = event["evidence"].get(plan, [])
    given = [code.strip() for code in (claim["evidence"] or "").split(";")]
    if part == "expense" and needed and not any(code in given for code in needed):
        return "no_evidence"

    if item["consent"] and not line["insurer_consent"]:
        return "no_consent"
    return ""


def reference_lines(
    lines: pd.DataFrame, claims: pd.DataFrame, policies: pd.DataFrame, products: ProductBook
) -> pd.DataFrame:
    """Every line's reason and step amounts, one line at a time, in the lines' input order."""
    claims_by_id = {claim["claim_id"]: claim for claim in _records(claims)}
    policies_by_id = {policy["policy_id"]: policy for policy in _records(policies)}
    rows = _records(lines)

    # Step 0 and the facts each line needs later.
    for row in rows:
        claim = claims_by_id[row["claim_id"]]
        policy = policies_by_id[claim["policy_id"]]
        product = products.products[policy["product"]]
        row["claim"], row["policy"], row["product_data"] = claim, policy, product
        row["catalogue"] = None
        for candidate in product.coverage["items"]:
            if candidate["item"] == row["item"]:
                row["catalogue"] = candidate
        row["reason"] = reason_for(row, claim, policy, products)
        row["eligible_amount"] = row["amount"] if row["reason"] == "" else 0

    def global_order(row: dict) -> tuple:
        number = row["catalogue"]["number"] if row["catalogue"] else 10**9
        return (row["first_month"], row["spent_date"], row["claim_id"], number, row["line_id"])

    # What earlier lines of each group already took (deductibles) or got (caps).
    used: dict[tuple, int] = {}

    def take(key: tuple, amount: int, limit: int) -> int:
        """A cumulative cap: min(amount, limit − what earlier lines of the group got), never below 0."""
        got = min(amount, max(limit - used.get(key, 0), 0))
        used[key] = used.get(key, 0) + got
        return got

    for row in sorted(rows, key=global_order):
        claim, policy, product, item = row["claim"], row["policy"], row["product_data"], row["catalogue"]
        part = item["part"] if item else None
        series = claim["series_id"] or claim["claim_id"]
        group_id = {
            "claim": ("claim", claim["claim_id"]),
            "series": ("series", policy["policy_id"], series),
            "policy": ("policy", policy["policy_id"]),
        }
        amount = row["eligible_amount"]

        # 1. Victim cap.
        if row["item"] == "condolence" and row["victims"] is not None and row["victim_type"] is not None:
            amount = min(amount, row["victims"] * product.coverage["condolence_caps"][row["victim_type"]])
        row["after_victim_cap"] = amount

        # 2. Deductible, absorbed in global order by the group's lines.
        if part is not None and item["deductible"]:
            deductible = policy[f"{part}_deductible"]
            level = product.definition["parts"][part]["deductible_per"]
            absorbed = take(("deductible", part, *group_id[level]), amount, deductible)
            amount = amount - absorbed
        row["after_deductible"] = amount

        # 3. Reduction ratio, exact and floored.
        if item is not None and "reduction_ratio" in item:
            amount = int(Fraction(amount) * Fraction(item["reduction_ratio"]) // 1)
        row["after_reduction"] = amount

        # 4. Sub-limits per (claim, item), then (policy, item).
        if item is not None and "sublimit" in item:
            for level in product.coverage["sublimit_per"]:
                amount = take(("sublimit", row["item"], *group_id[level]), amount, item["sublimit"])
        row["after_sublimit"] = amount

        # 5. Part limits per the product's groups; the limit is the policy's limit for the part.
        if part is not None:
            for level in product.definition["parts"][part]["limit_per"]:
                amount = take(("limit", part, *group_id[level]), amount, policy[f"{part}_limit"])
        row["after_limit"] = amount

        # 6. Combined cap on liability + expense per policy.
        if part is not None and "combined_cap" in product.definition:
            amount = take(("combined", policy["policy_id"]), amount, product.definition["combined_cap"]["amount"])
        row["payable"] = amount

        steps = [*STEPS, "payable"]
        codes = [
            code for code, before, after in zip(CODES, steps, steps[1:], strict=False) if row[before] != row[after]
        ]
        row["adjustments"] = ";".join(codes)

    columns = ["line_id", "reason", *STEPS, "payable", "adjustments"]
    return pd.DataFrame([{column: row[column] for column in columns} for row in rows], columns=columns)
