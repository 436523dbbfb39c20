"""Claim totals, this-month movements and remaining limits (CALCULATION.md § Claim totals, § Time)."""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from pipeline.engine import policy_part
from pipeline.products.load import load_products
from pipeline.reports.summary import by_item
from pipeline.stages.claims import (
    LineSums,
    claim_totals,
    line_sums,
    line_sums_together,
    lines_with_movements,
    payable_by_part,
    remaining_limits,
)
from pipeline.stages.waterfall import adjudicated_lines
from schemas.claims import ClaimTotals
from schemas.lines import LineAdjudicated
from tests import factories
from tests.property.strategies import Book, books, reproducible

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
    remaining = remaining_limits(POLICIES, payable_by_part(adjudicated(JUNE), "policy_id"), PRODUCTS).set_index(
        "policy_id"
    )
    assert remaining.loc["P0001", "remaining_liability_limit"] == 0
    assert remaining.loc["P0001", "remaining_expense_limit"] == 7_000_000
    assert remaining.loc["P0002", "remaining_liability_limit"] == 100_000_000 - 5_000_000
    assert remaining["remaining_expense_limit"].isna().loc["P0002"]
    assert str(remaining["remaining_liability_limit"].dtype) == "Int64"


def test_remaining_limits_of_a_policy_without_claims() -> None:
    remaining = remaining_limits(POLICIES, payable_by_part(adjudicated([]), "policy_id"), PRODUCTS)
    assert remaining["remaining_liability_limit"].tolist() == [20_000_000, 100_000_000]
    assert remaining["remaining_expense_limit"].tolist()[0] == 10_000_000


@reproducible(40, suppressed=(HealthCheck.too_slow,))
@given(book=books(max_portfolios=8), parts=st.integers(1, 5))
def test_the_sums_of_parts_of_whole_policies_are_the_whole_lines_sums(book: Book, parts: int) -> None:
    """``line_sums_together`` of the ``line_sums`` of parts that each hold whole policies (the Dask
    engine's parts) gives the whole lines' sums: the same claims and policies with the same payables
    (one row each), the same sums per product and item, the month's payable per part and the line
    count; and the summary's ``by_item`` of the two is the same table."""
    lines, claims, policies = book.frames()
    adjudicated = lines_with_movements(adjudicated_lines(lines, claims, policies, PRODUCTS), None)
    whole = line_sums(adjudicated)
    part_of = policy_part(adjudicated["policy_id"], parts).to_numpy()
    together = line_sums_together([line_sums(adjudicated[part_of == number]) for number in range(parts)])
    for name in ("per_claim", "per_policy"):
        pd.testing.assert_frame_equal(getattr(together, name).sort_index(), getattr(whole, name).sort_index())

    def items(sums: LineSums) -> pd.DataFrame:
        return sums.per_item.sort_values(["product", "item"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(items(together), items(whole))
    pd.testing.assert_series_equal(together.this_month_by_part, whole.this_month_by_part)
    assert together.lines == whole.lines == len(adjudicated)
    pd.testing.assert_frame_equal(by_item(together.per_item, PRODUCTS), by_item(whole.per_item, PRODUCTS))
    paid = adjudicated["payable_this_month"][adjudicated["part"].eq("expense").to_numpy(dtype=bool, na_value=False)]
    assert int(whole.this_month_by_part["expense"]) == int(paid.sum())
