"""The claims waterfall, CALCULATION.md § Waterfall steps 1–6: the spec's worked example to the yen,
each step in isolation, leak_lite's combined cap, series, and the month order of the queue."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.arrow_text import labels_as_text
from pipeline.products.load import load_products
from pipeline.stages.waterfall import STEP_COLUMNS, adjudicated_lines
from tests import factories
from tests.helpers import cumulative_cap
from tests.reference import reference_lines

PRODUCTS = load_products()
COLUMNS = ["line_id", "reason", *STEP_COLUMNS, "adjustments"]


def adjudicate(policies: list[dict], claims: list[dict], lines: list[dict]) -> pd.DataFrame:
    """Engine result (checked equal to the row-by-row reference), indexed by line_id."""
    frames = factories.lines(*lines), factories.claims(*claims), factories.policies(*policies)
    engine = adjudicated_lines(*frames, PRODUCTS)
    reference = reference_lines(*frames, PRODUCTS)
    pd.testing.assert_frame_equal(
        labels_as_text(engine[COLUMNS]).reset_index(drop=True),
        reference[COLUMNS],
        check_dtype=False,
        check_index_type=False,
    )
    return engine.set_index("line_id")


def payable(result: pd.DataFrame) -> list[int]:
    return result["payable"].tolist()


# CALCULATION.md § A worked example (cyber_security, wide).
WORKED_POLICY = {
    "liability_limit": 50_000_000,
    "liability_deductible": 100_000,
    "expense_limit": 20_000_000,
    "expense_deductible": 100_000,
}
WORKED_LINES = [
    {"item": "damages", "amount": 60_000},
    {"item": "defense", "amount": 3_000_000},
    {"item": "response", "amount": 80_000},
    {"item": "condolence", "amount": 20_000_000, "victims": 30_000, "victim_type": "individual"},
    {"item": "containment", "amount": 12_000_000},
]


def test_worked_example_to_the_yen() -> None:
    result = adjudicate([WORKED_POLICY], [{}], WORKED_LINES)
    expected = pd.DataFrame(
        [
            [60_000, 60_000, 60_000, 0, 0, 0, 0, 0, "deductible"],
            [3_000_000, 3_000_000, 3_000_000, 2_960_000, 2_960_000, 2_960_000, 2_960_000, 2_960_000, "deductible"],
            [80_000, 80_000, 80_000, 0, 0, 0, 0, 0, "deductible"],
            [
                20_000_000,
                20_000_000,
                15_000_000,
                14_980_000,
                14_980_000,
                14_980_000,
                14_980_000,
                14_980_000,
                "victim_cap;deductible",
            ],
            [
                12_000_000,
                12_000_000,
                12_000_000,
                12_000_000,
                10_800_000,
                10_000_000,
                5_020_000,
                5_020_000,
                "reduction_ratio;sublimit;limit",
            ],
        ],
        columns=["amount", *STEP_COLUMNS, "adjustments"],
        index=pd.Index(["L00001", "L00002", "L00003", "L00004", "L00005"], name="line_id"),
    )
    pd.testing.assert_frame_equal(labels_as_text(result[expected.columns]), expected, check_dtype=False)
    assert (result["reason"] == "").all()
    for column in STEP_COLUMNS:
        assert result[column].dtype == "int64"


def test_worked_example_does_not_depend_on_input_order() -> None:
    shuffled = [WORKED_LINES[i] | {"line_id": f"L{i + 1:05d}"} for i in (4, 2, 0, 3, 1)]
    result = adjudicate([WORKED_POLICY], [{}], shuffled).sort_index()
    assert payable(result) == [0, 2_960_000, 0, 14_980_000, 5_020_000]


def test_output_keeps_input_rows_order_and_index_and_does_not_mutate() -> None:
    lines = factories.lines(*WORKED_LINES).set_axis([9, 7, 5, 3, 1])
    claims, policies = factories.claims({}), factories.policies(WORKED_POLICY)
    copies = lines.copy(), claims.copy(), policies.copy()
    result = adjudicated_lines(lines, claims, policies, PRODUCTS)
    for before, after in zip(copies, (lines, claims, policies), strict=True):
        pd.testing.assert_frame_equal(before, after)
    assert result.index.tolist() == [9, 7, 5, 3, 1]
    pd.testing.assert_frame_equal(result[lines.columns], lines)


# Step 1: victim cap.
@pytest.mark.parametrize(
    ("product", "victim_type", "victims", "amount", "expected", "adjustments"),
    [
        ("cyber_security", "individual", 100, 80_000, 50_000, "victim_cap"),
        ("cyber_security", "corporate", 2, 80_000, 80_000, ""),
        ("cyber_security", "corporate", 1, 80_000, 50_000, "victim_cap"),
        ("leak_lite", "individual", 30, 50_000, 30_000, "victim_cap"),
        ("leak_lite", "corporate", 3, 500_000, 300_000, "victim_cap"),
    ],
)
def test_victim_cap(product: str, victim_type: str, victims: int, amount: int, expected: int, adjustments: str) -> None:
    line = {"item": "condolence", "amount": amount, "victims": victims, "victim_type": victim_type}
    result = adjudicate([{"product": product}], [{}], [line])
    assert result["after_victim_cap"].tolist() == [expected]
    assert result["adjustments"].tolist() == [adjustments]


# Step 2: deductibles.
def test_liability_deductible_is_per_claim_and_skips_litigation_response() -> None:
    policy = {"liability_deductible": 500_000}
    lines = [
        {"item": "litigation_response", "amount": 300_000},
        {"item": "damages", "amount": 200_000},
        {"item": "defense", "amount": 400_000},
        {"claim_id": "C0002", "item": "damages", "amount": 700_000},
    ]
    result = adjudicate([policy], [{}, {}], lines)
    assert result["after_deductible"].tolist() == [300_000, 0, 100_000, 200_000]
    assert result["adjustments"].tolist() == ["", "deductible", "deductible", "deductible"]


def test_expense_deductible_is_shared_by_the_series_across_claims() -> None:
    policy = {"expense_deductible": 100_000}
    claims = [{"series_id": "S1"}, {"series_id": "S1"}, {}]
    lines = [
        {"item": "response", "amount": 30_000, "spent_date": "2026-05-10"},
        {"claim_id": "C0002", "item": "publicity", "amount": 200_000, "spent_date": "2026-05-11"},
        {"claim_id": "C0003", "item": "response", "amount": 200_000, "spent_date": "2026-05-12"},
    ]
    result = adjudicate([policy], claims, lines)
    assert result["after_deductible"].tolist() == [0, 130_000, 100_000]


def test_ineligible_lines_absorb_no_deductible() -> None:
    policy = {"liability_deductible": 100_000}
    lines = [{"item": "defense", "amount": 60_000, "insurer_consent": False}, {"item": "damages", "amount": 150_000}]
    result = adjudicate([policy], [{}], lines)
    assert result["reason"].tolist() == ["no_consent", ""]
    assert result["after_deductible"].tolist() == [0, 50_000]


# Step 3: reduction ratio, floored exactly.
@pytest.mark.parametrize(
    ("item", "claim", "amount", "expected"),
    [
        ("system_restoration", {}, 1_111_111, 999_999),
        ("prevention", {}, 11, 9),
        ("containment", {}, 60_000, 54_000),
        ("attack_investigation", {"event_type": "cyber_other", "evidence": "soc_report"}, 12_345, 9_876),
        ("response", {}, 12_345, 12_345),
    ],
)
def test_reduction_ratio(item: str, claim: dict, amount: int, expected: int) -> None:
    result = adjudicate([{}], [claim], [{"item": item, "amount": amount}])
    assert result["after_reduction"].tolist() == [expected]


# Step 4: sub-limits per (claim, item), then (policy, item).
def test_litigation_response_sublimit_per_claim_then_per_policy() -> None:
    lines = [
        {"item": "litigation_response", "amount": 7_000_000, "spent_date": "2026-05-10"},
        {"item": "litigation_response", "amount": 6_000_000, "spent_date": "2026-05-11"},
        {"claim_id": "C0002", "item": "litigation_response", "amount": 5_000_000, "spent_date": "2026-05-12"},
        {"claim_id": "C0002", "item": "damages", "amount": 5_000_000, "spent_date": "2026-05-12"},
    ]
    result = adjudicate([{}], [{}, {}], lines)
    assert result["after_sublimit"].tolist() == [7_000_000, 3_000_000, 0, 5_000_000]
    assert result["adjustments"].tolist() == ["", "sublimit", "sublimit", ""]


def test_ninety_percent_items_each_have_their_own_sublimit() -> None:
    policy = {"expense_limit": 50_000_000, "liability_limit": 100_000_000}
    lines = [
        {"item": "system_restoration", "amount": 20_000_000},
        {"item": "containment", "amount": 5_000_000},
        {"item": "containment", "amount": 8_000_000},
        {"item": "prevention", "amount": 10_000_000},
    ]
    result = adjudicate([policy], [{}], lines)
    assert result["after_reduction"].tolist() == [18_000_000, 4_500_000, 7_200_000, 9_000_000]
    assert result["after_sublimit"].tolist() == [10_000_000, 4_500_000, 5_500_000, 9_000_000]


def test_attack_investigation_eighty_percent_and_sublimit() -> None:
    claim = {"event_type": "cyber_other", "evidence": "authority_notice"}
    lines = [{"item": "attack_investigation", "amount": 15_000_000}] * 2
    result = adjudicate([{"expense_limit": 50_000_000}], [claim], lines)
    assert result["after_reduction"].tolist() == [12_000_000, 12_000_000]
    assert payable(result) == [10_000_000, 0]
    assert result["adjustments"].tolist() == ["reduction_ratio;sublimit", "reduction_ratio;sublimit"]


# Step 5: part limits.
def test_liability_limit_per_claim_then_per_policy() -> None:
    policy = {"liability_limit": 20_000_000}
    lines = [
        {"item": "damages", "amount": 25_000_000, "spent_date": "2026-05-10"},
        {"claim_id": "C0002", "item": "damages", "amount": 4_000_000, "spent_date": "2026-05-11"},
    ]
    result = adjudicate([policy], [{}, {}], lines)
    assert payable(result) == [20_000_000, 0]
    assert result["adjustments"].tolist() == ["limit", "limit"]


def test_expense_limit_per_series_then_policy() -> None:
    policy = {"expense_limit": 10_000_000}
    claims = [{"series_id": "S1"}, {"series_id": "S1"}, {"series_id": "S2"}]
    lines = [
        {"item": "response", "amount": 6_000_000, "spent_date": "2026-05-10"},
        {"claim_id": "C0002", "item": "response", "amount": 6_000_000, "spent_date": "2026-05-11"},
        {"claim_id": "C0003", "item": "response", "amount": 1_000_000, "spent_date": "2026-05-12"},
    ]
    result = adjudicate([policy], claims, lines)
    assert payable(result) == [6_000_000, 4_000_000, 0]


def test_parts_have_separate_limits() -> None:
    policy = {"liability_limit": 20_000_000, "expense_limit": 10_000_000}
    lines = [{"item": "damages", "amount": 30_000_000}, {"item": "response", "amount": 30_000_000}]
    assert payable(adjudicate([policy], [{}], lines)) == [20_000_000, 10_000_000]


# Step 6 and leak_lite's parts.
def test_leak_lite_expense_limit_per_claim_and_combined_cap() -> None:
    claims = [{"policy_id": "P0001"}, {"policy_id": "P0001"}]
    lines = [
        {"item": "response", "amount": 800_000, "spent_date": "2026-05-10"},
        {"item": "prevention", "amount": 500_000, "spent_date": "2026-05-11"},
        {"claim_id": "C0002", "item": "response", "amount": 900_000, "spent_date": "2026-05-12"},
        {"item": "damages", "amount": 99_000_000, "spent_date": "2026-05-13"},
        {"claim_id": "C0002", "item": "damages", "amount": 5_000_000, "spent_date": "2026-05-14"},
    ]
    result = adjudicate([{"product": "leak_lite"}], claims, lines)
    assert result["after_limit"].tolist() == [800_000, 200_000, 900_000, 99_000_000, 1_000_000]
    assert payable(result) == [800_000, 200_000, 900_000, 98_100_000, 0]
    assert result["adjustments"].tolist() == ["", "limit", "", "combined_limit", "limit;combined_limit"]


def test_combined_cap_does_not_apply_to_cyber_security() -> None:
    policy = {"liability_limit": 100_000_000, "expense_limit": 50_000_000}
    lines = [{"item": "damages", "amount": 100_000_000}, {"item": "response", "amount": 50_000_000}]
    assert payable(adjudicate([policy], [{}], lines)) == [100_000_000, 50_000_000]


def test_never_paid_items_count_in_no_total() -> None:
    policy = {"liability_limit": 20_000_000}
    lines = [{"item": "ransom", "amount": 50_000_000}, {"item": "damages", "amount": 20_000_000}]
    result = adjudicate([policy], [{}], lines)
    assert result["reason"].tolist() == ["not_covered_item", ""]
    assert payable(result) == [0, 20_000_000]
    assert result.loc["L00001", "part"] == ""


# Series and months.
def test_series_spanning_claims_shares_expense_deductible_and_limit() -> None:
    policy = {"expense_limit": 10_000_000, "expense_deductible": 100_000}
    claims = [{"series_id": "S1"}, {"series_id": "S1", "known_date": "2026-06-01", "notice_date": "2026-06-02"}]
    lines = [
        {"item": "response", "amount": 4_000_000, "spent_date": "2026-05-10"},
        {"claim_id": "C0002", "item": "publicity", "amount": 8_000_000, "spent_date": "2026-06-10"},
    ]
    result = adjudicate([policy], claims, lines)
    assert result["after_deductible"].tolist() == [3_900_000, 8_000_000]
    assert payable(result) == [3_900_000, 6_100_000]
    assert result["series"].tolist() == ["S1", "S1"]


def test_limit_exhausted_across_months() -> None:
    policy = {"liability_limit": 20_000_000}
    lines = [
        {"item": "damages", "amount": 15_000_000, "first_month": "2026-05", "spent_date": "2026-05-20"},
        {"item": "damages", "amount": 15_000_000, "first_month": "2026-06", "spent_date": "2026-06-05"},
        {"item": "damages", "amount": 15_000_000, "first_month": "2026-07", "spent_date": "2026-07-05"},
    ]
    assert payable(adjudicate([policy], [{}], lines)) == [15_000_000, 5_000_000, 0]


def test_a_later_months_line_never_reduces_an_earlier_months_payable() -> None:
    """The June line was spent first, but joined the queue a month later (CALCULATION.md § Order)."""
    policy = {"liability_limit": 20_000_000, "liability_deductible": 100_000}
    may = {"item": "damages", "amount": 15_000_000, "first_month": "2026-05", "spent_date": "2026-05-25"}
    june = {"item": "damages", "amount": 15_000_000, "first_month": "2026-06", "spent_date": "2026-05-20"}
    alone = adjudicate([policy], [{}], [may])
    both = adjudicate([policy], [{}], [may, june])
    assert payable(alone) == [14_900_000]
    assert payable(both) == [14_900_000, 5_100_000]


def test_empty_lines() -> None:
    result = adjudicated_lines(factories.lines({}).iloc[:0], factories.claims({}), factories.policies({}), PRODUCTS)
    assert len(result) == 0 and "payable" in result.columns


def test_cumulative_cap_primitive() -> None:
    """CALCULATION.md: min(amount, limit − what earlier lines of the group got), never below 0."""
    amounts = pd.Series([5, 7, 3, 4, 9, 2])
    groups = [pd.Series(["a", "a", "b", "a", "b", "c"])]
    limits = pd.Series([10, 10, 10, 10, 10, pd.NA], dtype="Int64")
    assert cumulative_cap(amounts, groups, limits).tolist() == [5, 5, 3, 0, 7, 2]
