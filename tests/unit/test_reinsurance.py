"""Reinsurance formulas to the yen (CALCULATION.md § Reinsurance, § Time; treaty from treaty.toml).

Expected figures are worked by hand from the shipped illustrative treaty: QS 40%, commission 30%,
XoL 70,000,000 xs 30,000,000 per claim. The treaty-independent checks use the loaded terms.
"""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.products.load import load_products
from pipeline.stages.reinsurance import TreatyTerms, reinsurance_claims, reinsurance_policies, treaty_summary
from tests import factories

TREATY = load_products().treaty
TERMS = TreatyTerms.of(TREATY)


def test_shipped_treaty_terms_are_the_ones_the_examples_assume() -> None:
    assert (str(TERMS.ceded_share), str(TERMS.ceding_commission)) == ("0.40", "0.30")
    assert (TERMS.retention, TERMS.limit) == (30_000_000, 70_000_000)


def _policies(written: list[int | None], this_month: list[int | None], products: list[str] | None = None):
    rows = [{"product": p} for p in (products or ["cyber_security"] * len(written))]
    return factories.policies(*rows).assign(
        written_premium=pd.Series(written, dtype="Int64"),
        written_this_month=pd.Series(this_month, dtype="Int64"),
    )


def _claims(totals: list[int], this_month: list[int]):
    frame = factories.claims(*[{} for _ in totals])
    return frame.assign(payable_total=totals, payable_this_month=this_month)


# -- premium ---------------------------------------------------------------------------------------


def test_ceded_premium_and_commission_floored_per_policy() -> None:
    out = reinsurance_policies(_policies([100_000, 333_333, 16_666], [0, 0, 0]), TREATY)
    # floor(0.4 × 333,333) = 133,333 (133,333.2); floor(0.3 × 133,333) = 39,999 (39,999.9)
    assert out["ceded_premium"].tolist() == [40_000, 133_333, 6_666]
    assert out["commission"].tolist() == [12_000, 39_999, 1_999]
    assert out["retained_premium"].tolist() == [60_000, 200_000, 10_000]


def test_exact_decimal_never_loses_a_yen() -> None:
    # 0.4 × 60,000 in binary floats is 24,000.000000000004 or 23,999.999...; exact is 24,000.
    out = reinsurance_policies(_policies([60_000, 70_000], [0, 0]), TREATY)
    assert out["ceded_premium"].tolist() == [24_000, 28_000]
    assert out["commission"].tolist() == [7_200, 8_400]


def test_this_month_is_the_difference_of_floors_not_the_floor_of_the_difference() -> None:
    # Written 333,333 as at M of which 111,111 this month: 222,222 as at M-1.
    out = reinsurance_policies(_policies([333_333], [111_111]), TREATY)
    ceded_before = 222_222 * 4 // 10  # 88,888
    assert out.loc[0, "ceded_premium_this_month"] == 133_333 - ceded_before == 44_445  # not floor(0.4×111,111)
    assert out.loc[0, "commission_this_month"] == 39_999 - 26_666
    assert out.loc[0, "written_premium_this_month"] == 111_111


def test_this_month_from_the_previous_frame() -> None:
    now = _policies([333_333, 20_000], [None, None])
    before = now.iloc[[0]].assign(written_premium=pd.Series([222_222], dtype="Int64"))
    out = reinsurance_policies(now, TREATY, policies_before=before)
    # P0002 is absent at M-1: counts as 0.
    assert out["ceded_premium_this_month"].tolist() == [44_445, 8_000]


def test_referral_has_empty_ceded_premium() -> None:
    out = reinsurance_policies(_policies([None, None], [None, -50_000]), TREATY)
    assert out["ceded_premium"].isna().all() and out["commission"].isna().all()
    assert pd.isna(out.loc[0, "ceded_premium_this_month"])  # empty at both dates
    assert out.loc[1, "ceded_premium_this_month"] == -20_000  # referred this month: reversal of last month's


def test_product_outside_the_treaty_cedes_nothing() -> None:
    treaty = {**TREATY, "products": ["cyber_security"]}
    out = reinsurance_policies(_policies([100_000, 20_000], [0, 0], ["cyber_security", "leak_lite"]), treaty)
    assert out["ceded_premium"].tolist() == [40_000, 0]


def test_sum_of_ceded_premium_is_the_sum_of_per_policy_floors() -> None:
    written = [100_001, 33_333, 7, 999_999]
    out = reinsurance_policies(_policies(written, [0] * 4), TREATY)
    assert out["ceded_premium"].sum() == sum(w * 4 // 10 for w in written)
    assert out["ceded_premium"].sum() != sum(written) * 4 // 10  # floors per policy, not on the total


# -- claims ----------------------------------------------------------------------------------------


def test_claim_below_the_layer() -> None:
    out = reinsurance_claims(_claims([1_000_001], [0]), TREATY)
    row = out.iloc[0]
    assert (row["qs_recovery"], row["retained"], row["xol_recovery"], row["net"]) == (400_000, 600_001, 0, 600_001)


def test_claim_through_the_layer() -> None:
    # 150,000,000: QS 60,000,000; retained 90,000,000; XoL 60,000,000 (90M - 30M); net 30,000,000.
    row = reinsurance_claims(_claims([150_000_000], [0]), TREATY).iloc[0]
    assert (row["qs_recovery"], row["retained"], row["xol_recovery"], row["net"]) == (
        60_000_000,
        90_000_000,
        60_000_000,
        30_000_000,
    )
    assert row["layer_used_share"] == pytest.approx(60 / 70)


def test_claim_beyond_the_layer() -> None:
    # 250,000,003: QS floor(100,000,001.2) = 100,000,001; retained 150,000,002; XoL capped at 70M.
    row = reinsurance_claims(_claims([250_000_003], [0]), TREATY).iloc[0]
    assert (row["qs_recovery"], row["retained"], row["xol_recovery"], row["net"]) == (
        100_000_001,
        150_000_002,
        70_000_000,
        80_000_002,
    )
    assert row["layer_used_share"] == 1.0


def test_claim_movements_this_month() -> None:
    # As at M-1: 200,000,003 -> QS 80,000,001, retained 120,000,002, XoL 70M (already full), net 50,000,002.
    row = reinsurance_claims(_claims([250_000_003], [50_000_000]), TREATY).iloc[0]
    assert row["qs_recovery_this_month"] == 20_000_000
    assert row["xol_recovery_this_month"] == 0
    assert row["net_this_month"] == 30_000_000
    # Entering the layer this month: 60M as at M-1 (retained 36M, XoL 6M) -> 150M.
    row = reinsurance_claims(_claims([150_000_000], [90_000_000]), TREATY).iloc[0]
    assert row["xol_recovery_this_month"] == 60_000_000 - 6_000_000


@given(st.lists(st.integers(min_value=0, max_value=2_000_000_000), min_size=1, max_size=20))
def test_recoveries_plus_net_equal_payable(totals: list[int]) -> None:
    out = reinsurance_claims(_claims(totals, [0] * len(totals)), TREATY)
    assert (out["qs_recovery"] + out["xol_recovery"] + out["net"]).tolist() == totals
    assert (out["xol_recovery"] <= TERMS.limit).all() and (out["net"] >= 0).all()


def test_claim_product_from_policies() -> None:
    treaty = {**TREATY, "products": ["cyber_security"]}
    policies = factories.policies({}, {"product": "leak_lite"})
    claims = _claims([1_000_000, 1_000_000], [0, 0]).assign(policy_id=["P0001", "P0002"])
    out = reinsurance_claims(claims, treaty, policies)
    assert out["qs_recovery"].tolist() == [400_000, 0]
    assert out["net"].tolist() == [600_000, 1_000_000]


# -- treaty summary --------------------------------------------------------------------------------


def test_treaty_summary_totals() -> None:
    policies = reinsurance_policies(_policies([100_000, 333_333], [0, 111_111]), TREATY)
    claims = reinsurance_claims(_claims([150_000_000, 250_000_003, 1_000], [0, 50_000_000, 0]), TREATY)
    summary = treaty_summary(policies, claims, TREATY).set_index("figure")
    assert summary.loc["ceded_premium", "to_date"] == 173_333
    assert summary.loc["commission", "to_date"] == 12_000 + 39_999
    assert summary.loc["xol_recovery", "to_date"] == 130_000_000
    assert summary.loc["claims_in_layer", "to_date"] == 2
    assert summary.loc["claims_exhausting_layer", "to_date"] == 1
    total = (
        summary.loc["qs_recovery", "to_date"] + summary.loc["xol_recovery", "to_date"] + summary.loc["net", "to_date"]
    )
    assert total == summary.loc["payable_total", "to_date"] == 400_001_003
    assert summary.loc["treaty_xol_limit", "to_date"] == TERMS.limit
