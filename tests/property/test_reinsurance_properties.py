"""Properties of the reinsurance programme on generated books (REINSURANCE.md).

Each example draws a programme of two treaty years (random retentions, limits, AADs, reinstatement
lists, rates, with or without an event layer) and a book of policies across both years and outside
them, with claims grouped in a few cyber events. The engine must equal the plain row-by-row
reference (``tests/reinsurance_reference.py``); recoveries never exceed an aggregate limit; a claim
reported later never changes an earlier claim's per-risk recovery (nor its event recovery when it
starts an event of its own); the technical account's lines are the sums of their columns and the
balance their sum; PRODUCTS.md's plain treaty gives CALCULATION.md's figures. Reproducible:
``derandomize=True``, no example database; about 200 examples in all, about 40 seconds.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from pipeline.products.load import DEFAULT_PRODUCTS_DIR, load_programme
from pipeline.products.programme import Layer, Programme, TreatyYear
from pipeline.stages.reinsurance import CLAIM_MONEY, reinsurance
from tests import factories
from tests.property.strategies import reproducible
from tests.reinsurance_reference import reference

PLAIN = load_programme(DEFAULT_PRODUCTS_DIR / "treaty_plain.toml")
BOUNDARY, END = pd.Timestamp("2026-04-01"), pd.Timestamp("2027-04-01")
STARTS = ["2025-06-01", "2026-01-15", "2026-04-01", "2026-09-01", "2027-03-31", "2027-05-01"]
MONTHS = ["2026-04", "2026-05", "2026-06"]
M = 1_000_000


percentages = st.sampled_from([Decimal("1.00"), Decimal("0.50"), Decimal("1.25"), Decimal("0.333")])


@st.composite
def layers(draw: st.DrawFn, annual: bool) -> Layer:
    limit = draw(st.sampled_from([5, 20, 70, 150])) * M
    reinstatements = draw(st.one_of(st.none(), st.lists(percentages, max_size=3).map(tuple)))
    return Layer(
        retention=draw(st.sampled_from([0, 10, 30, 60])) * M,
        limit=limit,
        aggregate_deductible=draw(st.sampled_from([0, 3, 10, 40])) * M if annual else 0,
        reinstatements=reinstatements,
        rate_on_gnpi=draw(st.sampled_from([Decimal(0), Decimal("0.03"), Decimal("0.077")])),
    )


@st.composite
def programmes(draw: st.DrawFn) -> Programme:
    years = []
    for code, start, end in (("early", None, BOUNDARY), ("late", BOUNDARY, END)):
        event = draw(st.one_of(st.none(), layers(annual=False)))
        share = draw(st.sampled_from([Decimal("0.40"), Decimal("0.25"), Decimal("0.333")]))
        years.append(TreatyYear(code, start, end, share, Decimal("0.30"), draw(layers(annual=True)), event))
    return Programme("generated", ("leak_lite", "cyber_security"), tuple(years))


@st.composite
def books(draw: st.DrawFn) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Policies (some referrals, some outside every year) and claims with events and movements."""
    count = draw(st.integers(1, 5))
    starts = draw(st.lists(st.sampled_from(STARTS), min_size=count, max_size=count))
    written = draw(st.lists(st.one_of(st.none(), st.integers(0, 50 * M)), min_size=count, max_size=count))
    this_month = [draw(st.integers(0, w)) if w is not None else None for w in written]
    policies = factories.policies(*[{"period_start": start} for start in starts], checked=False).assign(
        written_premium=pd.Series(written, dtype="Int64"), written_this_month=pd.Series(this_month, dtype="Int64")
    )
    claims_count = draw(st.integers(1, 12))
    rows: list[dict[str, Any]] = []
    for index in range(claims_count):
        total = draw(st.one_of(st.integers(0, 300 * M), st.sampled_from([0, 50 * M, 100 * M, 250 * M])))
        rows.append(
            {
                "claim_id": f"C{draw(st.integers(0, 99)):02d}{index:02d}",
                "policy_id": f"P{draw(st.integers(1, count)):04d}",
                "known_date": f"2026-0{draw(st.integers(4, 6))}-{draw(st.integers(10, 12))}",
                "cat_event_id": draw(st.sampled_from([None, None, "E1", "E2", "E3"])),
                "first_month": draw(st.sampled_from(MONTHS)),
                "payable_total": total,
                "payable_this_month": draw(st.integers(0, total)),
            }
        )
    frame = factories.claims(
        *[
            {k: v for k, v in row.items() if k not in ("first_month", "payable_total", "payable_this_month")}
            for row in rows
        ],
        checked=False,  # tests/property/test_strategies.py validates these books in full
    )
    claims = frame.assign(
        first_month=[row["first_month"] for row in rows],
        payable_total=[row["payable_total"] for row in rows],
        payable_this_month=[row["payable_this_month"] for row in rows],
    )
    return policies, claims


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict[str, Any]]:
    return [dict(zip(columns, values, strict=True)) for values in frame[columns].itertuples(index=False)]


def _reference(policies: pd.DataFrame, claims: pd.DataFrame, programme: Programme) -> dict[str, Any]:
    pol = _records(policies, ["policy_id", "product", "period_start", "written_premium"])
    clm = _records(claims, ["claim_id", "policy_id", "payable_total", "first_month", "known_date", "cat_event_id"])
    for row in clm:
        row["cat_event_id"] = row["cat_event_id"] if isinstance(row["cat_event_id"], str) else None
    return reference(pol, clm, programme)


@reproducible(80)
@given(programmes(), books())
def test_engine_equals_the_row_by_row_reference(programme: Programme, book: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    policies, claims = book
    copies = (policies.copy(), claims.copy())
    engine = reinsurance(policies, claims, programme)
    pd.testing.assert_frame_equal(copies[0], policies)
    pd.testing.assert_frame_equal(copies[1], claims)
    expected = _reference(policies, claims, programme)
    out = engine.claims.set_index("claim_id")
    for claim_id, row in expected["claims"].items():
        got = out.loc[claim_id]
        assert (None if pd.isna(got["treaty_year"]) else got["treaty_year"]) == row["year"]
        for column in CLAIM_MONEY:
            assert got[column] == row[column], (claim_id, column)
    lines = engine.technical_account.set_index(["treaty_year", "line"])["to_date"]
    for code, premiums in expected["premiums"].items():
        assert lines[(code, "risk_layer_premium")] == premiums["risk"]
        assert lines[(code, "event_layer_premium")] == premiums["event"]
    # As at M-1 (payable − this month, written − this month) the engine equals the reference too,
    # so every _this_month column is the difference of two reference valuations.
    before_claims = claims.assign(payable_total=claims["payable_total"] - claims["payable_this_month"])
    written = policies["written_premium"]
    before_policies = policies.assign(written_premium=written - policies["written_this_month"])
    previous = _reference(before_policies, before_claims, programme)["claims"]
    for claim_id, row in expected["claims"].items():
        for column in CLAIM_MONEY:
            moved = "payable_this_month" if column == "payable_total" else f"{column}_this_month"
            assert out.loc[claim_id, moved] == row[column] - previous[claim_id][column], (claim_id, column)


@reproducible(50)
@given(programmes(), books())
def test_recoveries_never_exceed_the_aggregate_limits(
    programme: Programme, book: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    policies, claims = book
    engine = reinsurance(policies, claims, programme)
    out = engine.claims
    assert (out["qs_recovery"] + out["xol_recovery"] + out["cat_recovery"] + out["net"] == out["payable_total"]).all()
    assert (out[list(CLAIM_MONEY)] >= 0).all().all()
    for year in programme.years:
        of_year = out[out["treaty_year"] == year.code]
        risk = year.risk_layer
        assert (of_year["xol_recovery"] <= risk.limit).all()
        if risk.aggregate_limit is not None:
            assert of_year["xol_recovery"].sum() <= risk.aggregate_limit
        assert of_year["xol_recovery"].sum() <= max(of_year["risk_layer_loss"].sum() - risk.aggregate_deductible, 0)
        layer = year.event_layer
        if layer is None:
            assert (of_year["cat_recovery"] == 0).all()
            continue
        if layer.aggregate_limit is not None:
            assert of_year["cat_recovery"].sum() <= layer.aggregate_limit
        per_event = of_year.groupby(of_year["cat_event_id"].fillna(of_year["claim_id"]))["event_layer_loss"].sum()
        assert (per_event <= layer.limit).all()
    outside = out[out["treaty_year"].isna()]
    assert (outside["net"] == outside["payable_total"]).all()
    assert engine.outside_policies == int(engine.policies["treaty_year"].isna().sum())


@reproducible(40)
@given(programmes(), books(), st.integers(0, 400 * M), st.sampled_from([None, "E1", "E9"]))
def test_a_claim_reported_later_never_changes_an_earlier_claims_recovery(
    programme: Programme, book: tuple[pd.DataFrame, pd.DataFrame], total: int, event: str | None
) -> None:
    policies, claims = book
    first = reinsurance(policies, claims, programme).claims.set_index("claim_id")
    late = factories.claims({"claim_id": "Z9999", "policy_id": "P0001", "cat_event_id": event}).assign(
        first_month="2026-09", payable_total=total, payable_this_month=total
    )
    second = reinsurance(policies, pd.concat([claims, late], ignore_index=True), programme).claims
    second = second.set_index("claim_id").loc[first.index]
    assert second["xol_recovery"].tolist() == first["xol_recovery"].tolist()
    assert second["reinstatement_premium_risk"].tolist() == first["reinstatement_premium_risk"].tolist()
    assert second["event_layer_loss"].tolist() == first["event_layer_loss"].tolist()
    if event != "E1":  # a new event (or none) walks after every earlier event
        assert second["cat_recovery"].tolist() == first["cat_recovery"].tolist()


@reproducible(30)
@given(programmes(), books())
def test_technical_account_lines_are_sums_and_balance_is_their_sum(
    programme: Programme, book: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    policies, claims = book
    engine = reinsurance(policies, claims, programme)
    account = engine.technical_account.set_index(["treaty_year", "line"])
    sources = {
        "qs_ceded_premium": (engine.policies, "ceded_premium", 1),
        "qs_commission": (engine.policies, "commission", -1),
        "reinstatement_premium_risk": (engine.claims, "reinstatement_premium_risk", 1),
        "reinstatement_premium_event": (engine.claims, "reinstatement_premium_event", 1),
        "qs_recovery": (engine.claims, "qs_recovery", -1),
        "risk_xol_recovery": (engine.claims, "xol_recovery", -1),
        "event_recovery": (engine.claims, "cat_recovery", -1),
    }
    for year in programme.years:
        lines = account.loc[year.code]
        for line, (frame, column, sign) in sources.items():
            of_year = frame[frame["treaty_year"] == year.code]
            assert lines.loc[line, "to_date"] == sign * int(of_year[column].fillna(0).sum())
            assert lines.loc[line, "this_month"] == sign * int(of_year[f"{column}_this_month"].fillna(0).sum())
        for column in ("to_date", "this_month"):
            assert lines.loc["balance", column] == lines[column].drop("balance").sum()


@reproducible(30)
@given(books())
def test_plain_treaty_gives_calculation_md_figures(book: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    policies, claims = book
    engine = reinsurance(policies, claims, PLAIN)
    pol = engine.policies
    written = policies["written_premium"].fillna(-1).tolist()  # -1: a referral, empty figures
    assert pol["ceded_premium"].fillna(-1).tolist() == [-1 if w < 0 else w * 4 // 10 for w in written]
    expected_commission = [-1 if w < 0 else (w * 4 // 10) * 3 // 10 for w in written]
    assert pol["commission"].fillna(-1).tolist() == expected_commission
    assert engine.outside_policies == 0
    out = engine.claims
    for total, row in zip(claims["payable_total"], out.to_dict("records"), strict=True):
        qs = total * 4 // 10
        xol = min(max(total - qs - 30_000_000, 0), 70_000_000)
        assert (row["qs_recovery"], row["retained"], row["xol_recovery"], row["net"]) == (
            qs,
            total - qs,
            xol,
            total - qs - xol,
        )
        assert (row["cat_recovery"], row["reinstatement_premium_risk"], row["reinstatement_premium_event"]) == (0, 0, 0)
    lines = engine.technical_account.set_index("line")
    assert lines.loc[["risk_layer_premium", "event_layer_premium", "event_recovery"], "to_date"].tolist() == [0, 0, 0]
