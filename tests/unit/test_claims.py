"""Claim totals, this-month movements and remaining limits (CALCULATION.md § Claim totals, § Time)."""

from __future__ import annotations

import pandas as pd

from pipeline.products.load import load_products
from pipeline.stages.claims import claim_totals, lines_with_movements, remaining_limits
from pipeline.stages.waterfall import adjudicated_lines
from schemas.claims import ClaimTotals
from schemas.lines import LineAdjudicated
from tests import factories

PRODUCTS = load_products()
POLICIES = factories.policies({"liability_limit": 20_000_000, "expense_limit": 10_000_000}, {"product": "leak_lite"})
CLAIMS = factories.claims({}, {"policy_id": "P0002"}, {})  # C0003 has no lines
MAY = [
    {"line_id": "A", "item": "damages", "amount": 12_000_000, "first_month": "2026-05"},
    {"line_id": "B", "item": "response", "amount": 3_000_000, "first_month": "2026-05"},
    {"line_id": "C", "item": "ransom", "amount": 9_000_000, "first_month": "2026-05"},
    {"line_id": "D", "claim_id": "C0002", "item": "response", "amount": 2_000_000, "first_month": "2026-05"},
    {"line_id": "E", "claim_id": "C0002", "item": "damages", "amount": 4_000_000, "first_month": "2026-05"},
]
JUNE = [
    *MAY,
    {"line_id": "F", "item": "damages", "amount": 10_000_000, "first_month": "2026-06", "spent_date": "2026-06-03"},
]


def adjudicated(rows: list[dict]) -> pd.DataFrame:
    lines = factories.lines(*rows) if rows else factories.lines({}).iloc[:0]
    return adjudicated_lines(lines, CLAIMS, POLICIES, PRODUCTS)


def test_lines_with_movements() -> None:
    before = lines_with_movements(adjudicated(MAY), None)
    now = lines_with_movements(adjudicated(JUNE), adjudicated(MAY))
    assert before["payable_this_month"].tolist() == before["payable"].tolist()
    assert now.set_index("line_id")["payable_this_month"].to_dict() == {
        "A": 0,
        "B": 0,
        "C": 0,
        "D": 0,
        "E": 0,
        "F": 8_000_000,
    }
    LineAdjudicated.validate(now)


def test_lines_with_movements_of_a_restated_line() -> None:
    restated = [row | {"amount": 15_000_000} if row["line_id"] == "A" else row for row in MAY]
    now = lines_with_movements(adjudicated(restated), adjudicated(MAY))
    assert now.set_index("line_id").loc["A", "payable_this_month"] == 3_000_000


def test_claim_totals() -> None:
    totals = claim_totals(CLAIMS, adjudicated(JUNE), CLAIMS, adjudicated(MAY)).set_index("claim_id")
    assert totals["payable_liability"].to_dict() == {"C0001": 20_000_000, "C0002": 4_000_000, "C0003": 0}
    assert totals["payable_expense"].to_dict() == {"C0001": 3_000_000, "C0002": 1_000_000, "C0003": 0}
    assert totals["payable_total"].to_dict() == {"C0001": 23_000_000, "C0002": 5_000_000, "C0003": 0}
    assert totals["payable_this_month"].to_dict() == {"C0001": 8_000_000, "C0002": 0, "C0003": 0}
    ClaimTotals.validate(totals.reset_index())


def test_claim_totals_without_a_month_before() -> None:
    totals = claim_totals(CLAIMS, adjudicated(MAY))
    assert totals["payable_this_month"].tolist() == totals["payable_total"].tolist() == [15_000_000, 5_000_000, 0]
    assert totals.index.equals(CLAIMS.index)


def test_remaining_limits() -> None:
    remaining = remaining_limits(POLICIES, adjudicated(JUNE), PRODUCTS).set_index("policy_id")
    assert remaining.loc["P0001", "remaining_liability_limit"] == 0
    assert remaining.loc["P0001", "remaining_expense_limit"] == 7_000_000
    assert remaining.loc["P0002", "remaining_liability_limit"] == 100_000_000 - 5_000_000
    assert remaining["remaining_expense_limit"].isna().loc["P0002"]
    assert str(remaining["remaining_liability_limit"].dtype) == "Int64"


def test_remaining_limits_of_a_policy_without_claims() -> None:
    remaining = remaining_limits(POLICIES, adjudicated([]), PRODUCTS)
    assert remaining["remaining_liability_limit"].tolist() == [20_000_000, 100_000_000]
    assert remaining["remaining_expense_limit"].tolist()[0] == 10_000_000
