"""Reinsurance to the yen (CALCULATION.md § Reinsurance, § Time; REINSURANCE.md).

The first part works by hand from PRODUCTS.md's plain treaty (``treaty_plain.toml``: QS 40%,
commission 30%, XoL 70,000,000 xs 30,000,000 per claim, no aggregate terms) and checks today's
formulas. The second part works by hand through REINSURANCE.md's rules on the shipped programme's
``2026`` year (AAD 10,000,000; reinstatements 100% and 50%; rate 3% of GNPI; event layer
300,000,000 xs 100,000,000 with one reinstatement at 100%, rate 2%) and its ``prior`` year.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.products.load import DEFAULT_PRODUCTS_DIR, load_products, load_programme
from pipeline.stages.reinsurance import (
    TECHNICAL_ACCOUNT_LINES,
    claim_first_months,
    reinsurance,
    reinsurance_claims,
    reinsurance_policies,
)
from tests import factories
from tests.property.strategies import reproducible

PLAIN = load_programme(DEFAULT_PRODUCTS_DIR / "treaty_plain.toml")
PROGRAMME = load_products().programme


def _policies(
    written: Sequence[int | None],
    this_month: Sequence[int | None] | None = None,
    products: list[str] | None = None,
    starts: list[str] | None = None,
) -> pd.DataFrame:
    count = len(written)
    rows = [
        {"product": product, "period_start": start}
        for product, start in zip(products or ["cyber_security"] * count, starts or ["2026-04-01"] * count, strict=True)
    ]
    return factories.policies(*rows).assign(
        written_premium=pd.Series(written, dtype="Int64"),
        written_this_month=pd.Series(this_month or [0] * count, dtype="Int64"),
    )


def _claims(totals: list[int], this_month: list[int] | None = None, **columns: Any) -> pd.DataFrame:
    frame = factories.claims(*[{} for _ in totals])
    extra = {"first_month": ["2026-04"] * len(totals), **columns}
    return frame.assign(payable_total=totals, payable_this_month=this_month or [0] * len(totals), **extra)


def _plain_claims(totals: list[int], this_month: list[int]) -> pd.DataFrame:
    return reinsurance_claims(_claims(totals, this_month), PLAIN, _policies([0]))


# -- plain treaty: premium -------------------------------------------------------------------------


def test_ceded_premium_and_commission_floored_per_policy() -> None:
    out = reinsurance_policies(_policies([100_000, 333_333, 16_666]), PLAIN)
    # floor(0.4 × 333,333) = 133,333 (133,333.2); floor(0.3 × 133,333) = 39,999 (39,999.9)
    assert out["ceded_premium"].tolist() == [40_000, 133_333, 6_666]
    assert out["commission"].tolist() == [12_000, 39_999, 1_999]
    assert out["retained_premium"].tolist() == [60_000, 200_000, 10_000]
    assert out["treaty_year"].tolist() == ["all"] * 3


def test_exact_decimal_never_loses_a_yen() -> None:
    # 0.4 × 60,000 in binary floats is 24,000.000000000004 or 23,999.999...; exact is 24,000.
    out = reinsurance_policies(_policies([60_000, 70_000]), PLAIN)
    assert out["ceded_premium"].tolist() == [24_000, 28_000]
    assert out["commission"].tolist() == [7_200, 8_400]


def test_this_month_is_the_difference_of_floors_not_the_floor_of_the_difference() -> None:
    # Written 333,333 as at M of which 111,111 this month: 222,222 as at M-1.
    out = reinsurance_policies(_policies([333_333], [111_111]), PLAIN)
    ceded_before = 222_222 * 4 // 10  # 88,888
    assert out.loc[0, "ceded_premium_this_month"] == 133_333 - ceded_before == 44_445  # not floor(0.4×111,111)
    assert out.loc[0, "commission_this_month"] == 39_999 - 26_666
    assert out.loc[0, "written_premium_this_month"] == 111_111


def test_this_month_from_the_previous_frame() -> None:
    now = _policies([333_333, 20_000], [None, None])
    before = now.iloc[[0]].assign(written_premium=pd.Series([222_222], dtype="Int64"))
    out = reinsurance_policies(now, PLAIN, policies_before=before)
    # P0002 is absent at M-1: counts as 0.
    assert out["ceded_premium_this_month"].tolist() == [44_445, 8_000]


def test_referral_has_empty_ceded_premium() -> None:
    out = reinsurance_policies(_policies([None, None], [None, -50_000]), PLAIN)
    assert out["ceded_premium"].isna().all() and out["commission"].isna().all()
    assert out["ceded_premium_this_month"].isna().loc[0]  # empty at both dates
    assert out.loc[1, "ceded_premium_this_month"] == -20_000  # referred this month: reversal of last month's


def test_product_outside_the_programme_cedes_nothing() -> None:
    programme = type(PLAIN)(PLAIN.name, ("cyber_security",), PLAIN.years)
    out = reinsurance_policies(_policies([100_000, 20_000], products=["cyber_security", "leak_lite"]), programme)
    assert out["ceded_premium"].tolist() == [40_000, 0]
    assert out["treaty_year"].isna().tolist() == [False, True]


def test_sum_of_ceded_premium_is_the_sum_of_per_policy_floors() -> None:
    written = [100_001, 33_333, 7, 999_999]
    out = reinsurance_policies(_policies(written), PLAIN)
    assert out["ceded_premium"].sum() == sum(w * 4 // 10 for w in written)
    assert out["ceded_premium"].sum() != sum(written) * 4 // 10  # floors per policy, not on the total


# -- plain treaty: claims --------------------------------------------------------------------------


def test_claim_below_the_layer() -> None:
    row = _plain_claims([1_000_001], [0]).iloc[0]
    assert (row["qs_recovery"], row["retained"], row["xol_recovery"], row["net"]) == (400_000, 600_001, 0, 600_001)


def test_claim_through_the_layer() -> None:
    # 150,000,000: QS 60,000,000; retained 90,000,000; XoL 60,000,000 (90M - 30M); net 30,000,000.
    row = _plain_claims([150_000_000], [0]).iloc[0]
    assert (row["qs_recovery"], row["retained"], row["xol_recovery"], row["net"]) == (
        60_000_000,
        90_000_000,
        60_000_000,
        30_000_000,
    )
    assert row["layer_used_share"] == pytest.approx(60 / 70)


def test_claim_beyond_the_layer() -> None:
    # 250,000,003: QS floor(100,000,001.2) = 100,000,001; retained 150,000,002; XoL capped at 70M.
    row = _plain_claims([250_000_003], [0]).iloc[0]
    assert (row["qs_recovery"], row["retained"], row["xol_recovery"], row["net"]) == (
        100_000_001,
        150_000_002,
        70_000_000,
        80_000_002,
    )
    assert row["layer_used_share"] == 1.0


def test_claim_movements_this_month() -> None:
    # As at M-1: 200,000,003 -> QS 80,000,001, retained 120,000,002, XoL 70M (already full), net 50,000,002.
    row = _plain_claims([250_000_003], [50_000_000]).iloc[0]
    assert row["qs_recovery_this_month"] == 20_000_000
    assert row["xol_recovery_this_month"] == 0
    assert row["net_this_month"] == 30_000_000
    # Entering the layer this month: 60M as at M-1 (retained 36M, XoL 6M) -> 150M.
    row = _plain_claims([150_000_000], [90_000_000]).iloc[0]
    assert row["xol_recovery_this_month"] == 60_000_000 - 6_000_000


@reproducible(30, suppressed=())
@given(st.lists(st.integers(min_value=0, max_value=2_000_000_000), min_size=1, max_size=20))
def test_recoveries_plus_net_equal_payable(totals: list[int]) -> None:
    out = _plain_claims(totals, [0] * len(totals))
    assert (out["qs_recovery"] + out["xol_recovery"] + out["cat_recovery"] + out["net"]).tolist() == totals
    assert (out["xol_recovery"] <= 70_000_000).all() and (out["net"] >= 0).all()
    # CALCULATION.md's formulas, claim by claim: no aggregate terms in the plain treaty.
    expected = [min(max(t - t * 4 // 10 - 30_000_000, 0), 70_000_000) for t in totals]
    assert out["xol_recovery"].tolist() == expected


def test_claim_product_from_policies() -> None:
    programme = type(PLAIN)(PLAIN.name, ("cyber_security",), PLAIN.years)
    policies = _policies([0, 0], products=["cyber_security", "leak_lite"])
    claims = _claims([1_000_000, 1_000_000]).assign(policy_id=["P0001", "P0002"])
    out = reinsurance_claims(claims, programme, policies)
    assert out["qs_recovery"].tolist() == [400_000, 0]
    assert out["net"].tolist() == [600_000, 1_000_000]
    assert out["product"].tolist() == ["cyber_security", "leak_lite"]


# -- the programme, worked by hand (REINSURANCE.md § Rules) ----------------------------------------
# One policy written 10,000,000 in the 2026 year: ceded 4,000,000, commission 1,200,000,
# GNPI 6,000,000, per-risk layer premium floor(3% × 6M) = 180,000, event layer premium 120,000.

BOOK_2026 = _policies([10_000_000])


def _run(claims: pd.DataFrame, policies: pd.DataFrame = BOOK_2026, **kwargs: pd.DataFrame):  # type: ignore[no-untyped-def]
    return reinsurance(policies, claims, PROGRAMME, **kwargs)


def _by_claim(claims: pd.DataFrame, policies: pd.DataFrame = BOOK_2026) -> pd.DataFrame:
    return _run(claims, policies).claims.set_index("claim_id")


def test_treaty_year_follows_period_start_risks_attaching() -> None:
    policies = _policies([1_000_000] * 4, starts=["2019-01-01", "2026-03-31", "2026-04-01", "2027-03-31"])
    out = reinsurance_policies(policies, PROGRAMME)
    assert out["treaty_year"].tolist() == ["prior", "prior", "2026", "2026"]


def test_aad_absorbs_the_first_claim() -> None:
    # c1 80M: QS 32M, retained 48M, layer loss 18M of which the AAD takes 10M: recovery 8M.
    # c2 60M: QS 24M, retained 36M, loss 6M, AAD used up: recovery 6M.
    # RP: floor(180,000 × 8/70) = 20,571; RP(14M) = 36,000 -> c2 pays 15,429.
    out = _by_claim(_claims([80_000_000, 60_000_000], known_date=["2026-05-01", "2026-05-02"]))
    assert out["risk_layer_loss"].tolist() == [18_000_000, 6_000_000]
    assert out["xol_recovery"].tolist() == [8_000_000, 6_000_000]
    assert out["net_after_risk_xol"].tolist() == [40_000_000, 30_000_000]
    assert out["reinstatement_premium_risk"].tolist() == [20_571, 15_429]
    # The AAD goes to the first claim in treaty order, whatever the row order.
    swapped = _by_claim(_claims([60_000_000, 80_000_000], known_date=["2026-05-02", "2026-05-01"]))
    assert swapped.loc["C0002", "xol_recovery"] == 8_000_000 and swapped.loc["C0001", "xol_recovery"] == 6_000_000


def test_treaty_order_is_first_month_then_known_date_then_claim_id() -> None:
    # C0001 known earlier but first reported in 2026-06: it comes after C0002 (2026-05).
    claims = _claims(
        [80_000_000, 80_000_000], known_date=["2026-04-10", "2026-05-01"], first_month=["2026-06", "2026-05"]
    )
    out = _by_claim(claims)
    assert out.loc["C0002", "xol_recovery"] == 8_000_000  # took the AAD
    assert out.loc["C0001", "xol_recovery"] == 18_000_000


def test_partial_reinstatement_at_50_percent_is_floored_once() -> None:
    # c1 200M: retained 120M, loss 70M, recovery 60M (AAD 10M); RP(60M) = floor(180,000 × 60/70) = 154,285.
    # c2 150M: retained 90M, loss 60M, recovery 60M: 10M of the first limit at 100% (25,714.28…) and
    # 50M of the second at 50% (64,285.71…): RP(120M) − RP(60M) = 244,285 − 154,285 = 90,000
    # (flooring each part would give 89,999).
    out = _by_claim(_claims([200_000_000, 150_000_000], known_date=["2026-05-01", "2026-05-02"]))
    assert out["xol_recovery"].tolist() == [60_000_000, 60_000_000]
    assert out["reinstatement_premium_risk"].tolist() == [154_285, 90_000]


def test_exhausted_aggregate_limit() -> None:
    # After the two claims above (120M recovered), c3 250M: loss 70M, recovery 70M (190M), RP(190M) = 270,000
    # (both reinstatements used up at 140M); c4 150M: loss 60M but only 20M left of 210M; c5 60M: nothing.
    totals = [200_000_000, 150_000_000, 250_000_000, 150_000_000, 60_000_000]
    known = ["2026-05-01", "2026-05-02", "2026-05-03", "2026-05-04", "2026-05-05"]
    ceded = _run(_claims(totals, known_date=known))
    out = ceded.claims.set_index("claim_id")
    assert out["xol_recovery"].tolist() == [60_000_000, 60_000_000, 70_000_000, 20_000_000, 0]
    assert out["xol_recovery"].sum() == 210_000_000  # limit × (1 + 2 reinstatements)
    assert out["reinstatement_premium_risk"].tolist() == [154_285, 90_000, 25_715, 0, 0]
    assert out.loc["C0004", "net_after_risk_xol"] == 90_000_000 - 20_000_000
    risk = ceded.treaty.set_index(["treaty_year", "layer"]).loc[("2026", "risk_xol")]
    assert (risk["recoveries"], risk["aggregate_left"], risk["aggregate_used_share"]) == (210_000_000, 0, 1.0)
    assert (risk["limits_reinstated"], risk["aggregate_deductible_used"]) == (2.0, 10_000_000)
    assert (risk["premium"], risk["reinstatement_premium"]) == (180_000, 270_000)
    assert (risk["in_layer"], risk["exhausting_layer"]) == (5, 2)


def _event_book() -> tuple[pd.DataFrame, pd.DataFrame]:
    policies = _policies([10_000_000, 0, 0])
    claims = _claims(
        [50_000_000, 50_000_000, 50_000_000, 60_000_000],
        [20_000_000, 50_000_000, 50_000_000, 60_000_000],
        policy_id=["P0001", "P0002", "P0003", "P0001"],
        first_month=["2026-05", "2026-06", "2026-06", "2026-06"],
        known_date=["2026-05-01", "2026-05-01", "2026-05-02", "2026-05-03"],
        cat_event_id=["E1", "E1", "E1", "E1"],
    )
    return policies, claims


def test_event_spread_over_policies_and_months() -> None:
    # One cloud outage on three policies, reported in 2026-05 and 2026-06. Nets after the per-risk
    # layer: 30M, 30M, 30M and 36M (c4's 6M layer loss is inside the AAD): event total 126M, so the
    # event layer (300M xs 100M) takes 26M, all on c4, the claim that crosses the retention.
    policies, claims = _event_book()
    ceded = _run(claims, policies)
    out = ceded.claims.set_index("claim_id")
    assert out["net_after_risk_xol"].tolist() == [30_000_000, 30_000_000, 30_000_000, 36_000_000]
    assert out["event_layer_loss"].tolist() == [0, 0, 0, 26_000_000]
    assert out["cat_recovery"].tolist() == [0, 0, 0, 26_000_000]
    assert out["net"].tolist() == [30_000_000, 30_000_000, 30_000_000, 10_000_000]
    assert out["reinstatement_premium_event"].tolist() == [0, 0, 0, 10_400]  # floor(120,000 × 26/300)
    # As at M-1 only c1 was known, at 30M payable (net 18M): the whole event recovery is this month's.
    assert out["cat_recovery_this_month"].tolist() == [0, 0, 0, 26_000_000]
    assert out.loc["C0001", "net_after_risk_xol_this_month"] == 12_000_000
    event = ceded.events.set_index("cat_event_id").loc["E1"]
    assert (event["claims"], event["policies"], event["first_claim_id"]) == (4, 3, "C0001")
    assert (event["net_after_risk_xol"], event["event_layer_loss"], event["cat_recovery"]) == (
        126_000_000,
        26_000_000,
        26_000_000,
    )
    assert event["net_after_risk_xol_this_month"] == 126_000_000 - 18_000_000
    assert event["cat_recovery_this_month"] == 26_000_000


def test_event_claims_in_two_treaty_years_are_two_events() -> None:
    # E2 hits a policy of the prior year (no event layer) and four of 2026. The prior claim (200M:
    # retained 120M, XoL 70M with no AAD, net 50M) does not join the 2026 event: 4 × 30M = 120M there,
    # event loss 20M (with it, 170M would give 70M).
    policies = _policies([10_000_000, 0, 0, 0, 0], starts=["2026-04-01"] * 4 + ["2025-10-01"])
    claims = _claims(
        [50_000_000] * 4 + [200_000_000],
        policy_id=["P0001", "P0002", "P0003", "P0004", "P0005"],
        known_date=["2026-05-01", "2026-05-02", "2026-05-03", "2026-05-04", "2026-04-20"],
        cat_event_id=["E2"] * 5,
    )
    ceded = _run(claims, policies)
    out = ceded.claims.set_index("claim_id")
    assert out["treaty_year"].tolist() == ["2026"] * 4 + ["prior"]
    assert out.loc["C0005", ["xol_recovery", "net_after_risk_xol", "cat_recovery"]].tolist() == [
        70_000_000,
        50_000_000,
        0,
    ]
    assert out["cat_recovery"].tolist() == [0, 0, 0, 20_000_000, 0]
    events = ceded.events
    assert events[["treaty_year", "cat_event_id", "claims"]].values.tolist() == [["2026", "E2", 4]]


def test_events_walk_in_the_order_of_their_first_claim() -> None:
    # Five claims of 500M (retained 300M each) on three events E3, E4, E5, in treaty order c1 (E3),
    # c2 (E4), c3 (E5), c4 (E3), c5 (E4). Per-risk recoveries 60M (AAD), 70M, 70M, 10M (the 210M
    # aggregate is then used up), 0: nets 240M, 230M, 230M, 290M, 300M. Event layer losses: E3 = c1
    # 140M + c4 160M (capped at 300M), E4 = c2 130M + c5 170M, E5 = c3 130M. Events walk in the order
    # of their first claim (E3, E4, E5), so the aggregate limit (600M) is used up by E3 and E4 and
    # c3 recovers nothing, although it was reported before c4 and c5.
    claims = _claims(
        [500_000_000] * 5,
        known_date=["2026-05-01", "2026-05-02", "2026-05-03", "2026-05-04", "2026-05-05"],
        cat_event_id=["E3", "E4", "E5", "E3", "E4"],
    )
    ceded = _run(claims)
    out = ceded.claims.set_index("claim_id")
    assert out["xol_recovery"].tolist() == [60_000_000, 70_000_000, 70_000_000, 10_000_000, 0]
    assert out["net_after_risk_xol"].tolist() == [240_000_000, 230_000_000, 230_000_000, 290_000_000, 300_000_000]
    assert out["event_layer_loss"].tolist() == [140_000_000, 130_000_000, 130_000_000, 160_000_000, 170_000_000]
    assert out["cat_recovery"].tolist() == [140_000_000, 130_000_000, 0, 160_000_000, 170_000_000]
    # The event layer's premium 120,000 is reinstated once (100%): all of it by E3's 300M.
    assert out["reinstatement_premium_event"].tolist() == [56_000, 0, 0, 64_000, 0]
    events = ceded.events.set_index("cat_event_id")
    assert events["cat_recovery"].to_dict() == {"E3": 300_000_000, "E4": 300_000_000, "E5": 0}
    assert events["first_claim_id"].to_dict() == {"E3": "C0001", "E4": "C0002", "E5": "C0003"}


def test_policy_outside_every_treaty_year() -> None:
    policies = _policies([10_000_000, 2_000_000], starts=["2026-04-01", "2027-05-01"])
    claims = _claims([200_000_000], policy_id=["P0002"])
    ceded = _run(claims, policies)
    assert ceded.outside_policies == 1
    pol = ceded.policies.set_index("policy_id")
    assert pd.isna(pol.loc["P0002", "treaty_year"])
    assert (pol.loc["P0002", "ceded_premium"], pol.loc["P0002", "commission"]) == (0, 0)
    row = ceded.claims.iloc[0]
    assert pd.isna(row["treaty_year"])
    assert (row["qs_recovery"], row["xol_recovery"], row["cat_recovery"], row["net"]) == (0, 0, 0, 200_000_000)
    outside = ceded.treaty[ceded.treaty["layer"] == "outside"].iloc[0]
    assert (outside["policies"], outside["claims"], outside["losses"]) == (1, 1, 200_000_000)
    # The policy's premium is not in the GNPI of any year.
    account = ceded.technical_account.set_index(["treaty_year", "line"])["to_date"]
    assert account[("2026", "risk_layer_premium")] == 180_000


def test_technical_account_lines_are_column_sums_and_balance_is_their_sum() -> None:
    policies, claims = _event_book()
    ceded = _run(claims.assign(payable_total=[200_000_000, 150_000_000, 50_000_000, 60_000_000]), policies)
    account = ceded.technical_account
    assert account.columns.tolist() == ["treaty_year", "line", "to_date", "this_month"]
    assert account["line"].tolist() == list(TECHNICAL_ACCOUNT_LINES) * 2
    lines = account[account["treaty_year"] == "2026"].set_index("line")
    pol, clm = ceded.policies, ceded.claims
    for line, (frame, column, sign) in {
        "qs_ceded_premium": (pol, "ceded_premium", 1),
        "qs_commission": (pol, "commission", -1),
        "reinstatement_premium_risk": (clm, "reinstatement_premium_risk", 1),
        "reinstatement_premium_event": (clm, "reinstatement_premium_event", 1),
        "qs_recovery": (clm, "qs_recovery", -1),
        "risk_xol_recovery": (clm, "xol_recovery", -1),
        "event_recovery": (clm, "cat_recovery", -1),
    }.items():
        assert lines.loc[line, "to_date"] == sign * frame[column].sum()
        assert lines.loc[line, "this_month"] == sign * frame[f"{column}_this_month"].sum()
    assert lines.loc["qs_ceded_premium", "to_date"] == 4_000_000
    assert lines.loc["qs_commission", "to_date"] == -1_200_000
    assert (lines.loc["risk_layer_premium", "to_date"], lines.loc["event_layer_premium", "to_date"]) == (
        180_000,
        120_000,
    )
    for column in ("to_date", "this_month"):
        assert lines.loc["balance", column] == lines[column].drop("balance").sum()
    assert lines.loc["balance", "to_date"] < 0  # recoveries exceed premiums: due from the reinsurers


def test_layer_premium_this_month_follows_written_premium() -> None:
    # Written 10M of which 4M this month: GNPI 6M now, 3.6M at M-1: 180,000 - 108,000 = 72,000.
    ceded = reinsurance(_policies([10_000_000], [4_000_000]), _claims([0]), PROGRAMME)
    lines = ceded.technical_account.set_index(["treaty_year", "line"])
    assert lines.loc[("2026", "risk_layer_premium"), "this_month"] == 72_000
    assert lines.loc[("2026", "event_layer_premium"), "this_month"] == 120_000 - 72_000


def test_claims_before_frame_gives_the_same_movements_when_nothing_was_restated() -> None:
    policies, claims = _event_book()
    derived = _run(claims, policies).claims
    before = claims.assign(payable_total=claims["payable_total"] - claims["payable_this_month"])
    before = before[before["payable_total"] > 0].drop(columns=["first_month"])
    given_frame = _run(claims, policies, claims_before=before).claims
    pd.testing.assert_frame_equal(derived, given_frame)


def test_claim_first_months_from_the_history() -> None:
    history = factories.claims(
        {"bordereau_month": "2026-05"}, {"bordereau_month": "2026-04", "claim_id": "C0001"}, {"claim_id": "C0009"}
    )
    months = claim_first_months(history.assign(bordereau_month=["2026-05", "2026-04", "2026-07"]), "2026-06")
    assert months.to_dict() == {"C0001": "2026-04"}
