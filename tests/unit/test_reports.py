"""Report builders: KPI figures, breakdowns, largest claims, limits left, triangle (issue #5).

The frames are built with tests/factories.py and the computed columns filled by hand, so the
figures below are checked against arithmetic done on paper, not against the stages.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.arrow_text import labels_as_text, text_as_labels
from pipeline.io.workbook import Sheet
from pipeline.products.load import DEFAULT_PRODUCTS_DIR, load_products, load_programme
from pipeline.reports import summary, triangle
from pipeline.reports.annotated import claims_annotated_sheets, policies_annotated_sheets
from pipeline.reports.labels import labels_for
from pipeline.reports.portfolio import PortfolioInputs, portfolio_summary_sheets
from pipeline.stages.claims import line_sums
from pipeline.stages.reinsurance import reinsurance
from tests import factories
from tests.helpers import payable_history_from_lines
from tests.property.strategies import reproducible

MONTH = "2026-06"
BOOK = load_products()
PLAIN = load_programme(DEFAULT_PRODUCTS_DIR / "treaty_plain.toml")  # the figures below are CALCULATION.md's


def _int(values: list[int | None]) -> pd.Series:
    return pd.Series(values, dtype="Int64")


def sample_policies() -> pd.DataFrame:
    """Five policies: two cyber_security wide, a referral (no revenue), leak_lite, a big one."""
    frame = factories.policies(
        {"revenue": 300_000_000, "industry": "情報通信業"},
        {"product": "leak_lite", "revenue": 40_000_000, "industry": "小売業", "join_date": "2026-06-10"},
        {"plan": "basic", "revenue": None, "industry": None},
        {"revenue": 2_000_000_000, "liability_limit": 500_000_000, "expense_limit": 200_000_000, "industry": "製造業"},
        {"product": "leak_lite", "revenue": 120_000_000, "industry": "小売業", "cancel_date": "2026-05-15"},
    )
    return frame.assign(
        status=["ok", "ok", "refer", "ok", "ok"],
        warnings=["", "", "", "large_installment_below_minimum", ""],
        annual_premium=_int([100_000, 20_000, None, 333_333, 40_000]),
        cover_months=[12, 10, 12, 12, 12],
        written_premium=_int([100_000, 16_666, None, 333_333, 6_666]),
        written_this_month=_int([0, 16_666, None, 111_111, 0]),
        adjustment_premium=_int([0, 0, None, 0, 0]),
        earned_to_date=_int([24_931, 1_000, None, 82_191, 6_666]),
        earned_this_month=_int([8_219, 1_000, None, 27_397, 0]),
        upr=_int([75_069, 15_666, None, 251_142, 0]),
        remaining_liability_limit=_int([98_999_999, 100_000_000, 100_000_000, 110_000_000, 100_000_000]),
        remaining_expense_limit=_int([1_000_000, None, 10_000_000, 190_000_000, None]),
    )


def sample_claims() -> pd.DataFrame:
    frame = factories.claims(
        {"policy_id": "P0004", "known_date": "2026-04-20", "notice_date": "2026-04-25"},
        {"policy_id": "P0004", "known_date": "2026-04-05", "notice_date": "2026-04-06", "event_type": "it_user"},
        {"policy_id": "P0001", "known_date": "2026-06-01", "notice_date": "2026-06-02"},
        {"policy_id": "P0002", "known_date": "2026-05-03", "notice_date": "2026-05-04"},
        {"policy_id": "P0003", "known_date": "2026-05-10", "notice_date": "2026-05-11"},
    )
    return frame.assign(
        payable_liability=[140_000_000, 250_000_003, 0, 0, 0],
        payable_expense=[10_000_000, 0, 1_000_001, 0, 500_000],
        payable_total=[150_000_000, 250_000_003, 1_000_001, 0, 500_000],
        payable_this_month=[10_000_000, 50_000_000, 1_000_001, 0, 0],
    )


def sample_lines() -> pd.DataFrame:
    frame = factories.lines(
        {"claim_id": "C0001", "item": "damages", "amount": 140_000_000, "first_month": "2026-05"},
        {"claim_id": "C0001", "item": "response", "amount": 10_000_000, "first_month": "2026-06"},
        {"claim_id": "C0002", "item": "damages", "amount": 200_000_003, "first_month": "2026-04"},
        {"claim_id": "C0002", "item": "defense", "amount": 50_000_000, "first_month": "2026-06"},
        {"claim_id": "C0003", "item": "response", "amount": 1_000_001, "first_month": "2026-06"},
        {"claim_id": "C0004", "item": "ransom", "amount": 5_000_000, "first_month": "2026-05"},
        {"claim_id": "C0005", "item": "investigation", "amount": 500_000, "first_month": "2026-05"},
    )
    payable = [140_000_000, 10_000_000, 200_000_003, 50_000_000, 1_000_001, 0, 500_000]
    return frame.assign(
        policy_id=["P0004", "P0004", "P0004", "P0004", "P0001", "P0002", "P0003"],
        product=[
            "cyber_security",
            "cyber_security",
            "cyber_security",
            "cyber_security",
            "cyber_security",
            "leak_lite",
            "cyber_security",
        ],
        part=["liability", "expense", "liability", "liability", "expense", "", "expense"],
        item_number=[1, 5, 1, 2, 5, 99, 6],
        reason=["", "", "", "", "", "not_covered_item", ""],
        eligible_amount=[*payable[:5], 0, 500_000],
        after_victim_cap=[*payable[:5], 0, 500_000],
        after_deductible=[*payable[:5], 0, 500_000],
        after_reduction=[*payable[:5], 0, 500_000],
        after_sublimit=[*payable[:5], 0, 500_000],
        after_limit=[*payable[:5], 0, 500_000],
        payable=payable,
        payable_this_month=[0, 10_000_000, 0, 50_000_000, 1_000_001, 0, 0],
        adjustments=["", "", "", "", "", "", ""],
    )


def sample_history() -> pd.DataFrame:
    """Per-claim payable as at each month (what the claims stage gives when run month by month)."""
    rows = [
        ("C0002", "2026-04", 200_000_003),
        ("C0001", "2026-05", 140_000_000),
        ("C0002", "2026-05", 200_000_003),
        ("C0004", "2026-05", 0),
        ("C0005", "2026-05", 500_000),
    ]
    final = sample_claims()
    rows += [(c, MONTH, int(p)) for c, p in zip(final["claim_id"], final["payable_total"], strict=True)]
    return pd.DataFrame(rows, columns=["claim_id", "valuation_month", "payable_total"])


def sample_reconciliation() -> pd.DataFrame:
    return pd.DataFrame(
        [
            ("2026-05", "2026-05/policies.xlsx", "policies", 4, 3, 1),
            ("2026-06", "2026-06/policies.xlsx", "policies", 3, 2, 1),
            ("2026-06", "2026-06/claims.xlsx", "claims", 6, 5, 1),
            ("2026-06", "2026-06/claims.xlsx", "lines", 9, 7, 2),
            ("total", "", "", 22, 17, 5),
        ],
        columns=["month", "file", "sheet", "rows_read", "rows_processed", "rows_rejected"],
    )


def sample_inputs() -> PortfolioInputs:
    policies, claims = sample_policies(), sample_claims()
    ceded_and_recovered = reinsurance(policies, claims, PLAIN)
    return PortfolioInputs(
        month=MONTH,
        policies=policies,
        claims=claims,
        line_sums=line_sums(sample_lines()),
        reinsurance_policies=ceded_and_recovered.policies,
        reinsurance_claims=ceded_and_recovered.claims,
        reinsurance=ceded_and_recovered,
        payable_history=sample_history(),
        reconciliation=sample_reconciliation(),
    )


def sample_workbooks(lang: str = "en") -> dict[str, list[Sheet]]:
    """Every workbook this issue builds, as sheet specs (used by the workbook and e2e tests)."""
    labels = labels_for(BOOK, lang)
    inputs = sample_inputs()
    return {
        "portfolio_summary.xlsx": portfolio_summary_sheets(inputs, BOOK, labels),
        "policies_annotated.xlsx": policies_annotated_sheets(inputs.policies, labels),
        "claims_annotated.xlsx": claims_annotated_sheets(sample_lines(), inputs.claims, labels),
    }


def _figures(frame: pd.DataFrame) -> dict[tuple[str, str], tuple[Any, Any]]:
    return {(f, s): (t, m) for f, s, t, m in frame[["figure", "scope", "to_date", "this_month"]].itertuples(False)}


# -- KPI -------------------------------------------------------------------------------------------


def test_kpi_figures_from_hand_built_frames() -> None:
    figures = _figures(summary.kpi(sample_policies(), sample_claims(), MONTH, sample_reconciliation()))
    # In force at 2026-06-30: P0005 cancelled 2026-05-15; P0002 joined 2026-06-10 -> 4 in force.
    assert figures[("policies_in_force", "all")][0] == 4
    assert figures[("written_premium", "all")] == (100_000 + 16_666 + 333_333 + 6_666, 16_666 + 111_111)
    assert figures[("earned_premium", "all")] == (24_931 + 1_000 + 82_191 + 6_666, 8_219 + 1_000 + 27_397)
    assert figures[("upr", "all")] == (75_069 + 15_666 + 251_142, (16_666 + 111_111) - (8_219 + 1_000 + 27_397))
    assert figures[("payable_total", "all")] == (401_500_004, 61_000_001)
    assert figures[("loss_ratio", "all")][0] == pytest.approx(401_500_004 / 114_788)
    assert figures[("referrals", "policies")][0] == 1
    assert figures[("warnings", "policies")][0] == 1
    assert figures[("claims", "all")][0] == 5


def test_kpi_this_month_is_as_at_m_minus_as_at_m_minus_1() -> None:
    policies = sample_policies()
    # As at M-1 (2026-05): P0002 had not joined yet and was not on file, P0003 was priced (ok, no
    # adjustment then), P0004 had no warning.
    previous = policies[policies["policy_id"] != "P0002"].assign(
        status=["ok", "ok", "ok", "ok"], adjustment_premium=[0, 0, 0, 0], warnings=["", "", "", ""]
    )
    claims = sample_claims()
    frame = summary.kpi(
        policies,
        claims,
        MONTH,
        sample_reconciliation(),
        policies_previous=previous,
        claims_previous=claims[claims["claim_id"].isin(["C0001", "C0002"])],
        line_sums=line_sums(sample_lines()),
    )
    figures = _figures(frame)
    # In force at 2026-05-31: P0001, P0003, P0004 (P0005 cancelled 2026-05-15) -> 3; at 2026-06-30: 4.
    assert figures[("policies_in_force", "all")] == (4, 1)
    assert figures[("claims", "all")] == (5, 3)  # C0003, C0004, C0005 first reported this month
    assert figures[("payable_liability", "all")][1] == 50_000_000
    assert figures[("payable_expense", "all")][1] == 10_000_000 + 1_000_001
    assert figures[("payable_total", "all")][1] == 61_000_001
    earned_this_month = 8_219 + 1_000 + 27_397
    assert figures[("loss_ratio", "all")][1] == pytest.approx(61_000_001 / earned_this_month)
    assert figures[("referrals", "policies")] == (1, 1)
    assert figures[("warnings", "policies")] == (1, 1)
    assert figures[("adjustment_premium", "all")] == (0, 0)
    assert frame["this_month"].notna().all()


def test_kpi_reconciliation_rows_per_sheet() -> None:
    figures = _figures(summary.kpi(sample_policies(), sample_claims(), MONTH, sample_reconciliation()))
    assert figures[("rows_read", "policies")][0] == 7
    assert figures[("rows_processed", "policies")][0] == 5
    assert figures[("rows_rejected", "policies")][0] == 2
    for scope in ("policies", "claims", "lines"):
        read = figures[("rows_read", scope)][0]
        assert read == figures[("rows_processed", scope)][0] + figures[("rows_rejected", scope)][0]
        assert figures[("reconciliation_gap", scope)][0] == 0


def test_loss_ratio_empty_without_earned_premium() -> None:
    policies = sample_policies().assign(earned_to_date=_int([0] * 5), earned_this_month=_int([0] * 5))
    figures = _figures(summary.kpi(policies, sample_claims(), MONTH))
    assert all(pd.isna(value) for value in figures[("loss_ratio", "all")])


# -- breakdowns ------------------------------------------------------------------------------------


def test_by_product_totals_reconcile_with_kpi() -> None:
    rows = summary.dimension_rows(sample_policies(), sample_claims(), MONTH, BOOK, _bands())
    table = summary.by_policy_dims(rows, ["product"])
    assert table["written_premium"].sum() == 456_665
    assert table["payable_total"].sum() == 401_500_004
    leak = table.set_index("product").loc["leak_lite"]
    assert (leak["policies"], leak["policies_in_force"], leak["claims"]) == (2, 1, 1)


def test_the_breakdowns_dimensions_stay_text_columns_not_python_strings() -> None:
    """Each policy's and claim's product, plan, industry (and cover-holder) stay Arrow text, not a
    Python string per row (0.7 GB at 5M lines, pipeline/bench/MEASUREMENTS.md); an empty industry and
    a claim without its policy show ``MISSING``."""
    policies = sample_policies()
    policies["industry"] = policies["industry"].astype("str").mask(policies.index == 0)
    orphan = sample_claims().iloc[:1].assign(claim_id="C-ORPHAN", policy_id="P-NONE")
    rows = summary.dimension_rows(policies, pd.concat([sample_claims(), orphan]), MONTH, BOOK, _bands())
    for frame, columns in ((rows.policies, ["product", "plan", "industry"]), (rows.claims, ["plan", "industry"])):
        assert all(frame[column].dtype == "str" for column in columns), frame.dtypes
    assert rows.policies["industry"].iloc[0] == summary.MISSING
    assert rows.claims.loc[rows.claims["claim_id"] == "C-ORPHAN", "industry"].tolist() == [summary.MISSING]


def _bands() -> dict[str, str]:
    labels = labels_for(BOOK, "en")
    return {key: labels.text("bands", key) for key in ("first", "middle", "above", "missing")}


def test_revenue_bands_use_each_products_tariff() -> None:
    bands = summary.revenue_band(sample_policies(), BOOK, _bands())
    assert bands["revenue_band"].tolist() == [
        "over 100M to 500M",  # cyber_security, 300M
        "up to 50M",  # leak_lite, 40M
        "no revenue (referral)",
        "over 1B to 5B",
        "over 100M to 150M",  # leak_lite, 120M
    ]


def test_band_upper_bound_is_inclusive() -> None:
    policies = factories.policies(
        {"product": "leak_lite", "revenue": 50_000_000},
        {"product": "leak_lite", "revenue": 50_000_001},
        {"product": "leak_lite", "revenue": 600_000_000},
    )
    labels = summary.revenue_band(policies, BOOK, _bands())["revenue_band"].tolist()
    assert labels == ["up to 50M", "over 50M to 100M", "over 500M (referral)"]


def test_compact_yen_labels() -> None:
    assert summary.compact_yen(150_000_000, "ja") == "1億5,000万"
    assert summary.compact_yen(50_000_000, "ja") == "5,000万"
    assert summary.compact_yen(1_500_000_000, "en") == "1.5B"
    assert summary.compact_yen(50_000_000, "en") == "50M"
    assert summary.compact_yen(1_234_567, "en") == "1,234,567"


def test_by_item_in_catalogue_order_and_by_event() -> None:
    items = summary.by_item(line_sums(sample_lines()).per_item, BOOK)
    cyber = items[items["product"] == "cyber_security"]["item"].tolist()
    assert cyber == ["damages", "defense", "response", "investigation"]
    assert items["payable"].sum() == 401_500_004
    events = summary.by_event(sample_claims(), BOOK)
    assert events["event_type"].tolist() == ["leak", "it_user"]
    assert events.set_index("event_type").loc["it_user", "payable_total"] == 250_000_003
    # the history's event types are categoricals in code-point order (it_user before leak): the
    # catalogue's order still
    coded = summary.by_event(text_as_labels(sample_claims(), ["event_type"]), BOOK)
    assert coded["event_type"].astype("str").tolist() == ["leak", "it_user"]
    pd.testing.assert_frame_equal(labels_as_text(coded), events)


def test_largest_claims_ordered_with_recoveries() -> None:
    inputs = sample_inputs()
    top = summary.largest_claims(inputs.claims, inputs.reinsurance_claims, inputs.policies, count=3)
    assert top["claim_id"].tolist() == ["C0002", "C0001", "C0003"]
    assert top["rank"].tolist() == [1, 2, 3]
    assert top.loc[0, "xol_recovery"] == 70_000_000
    assert "insured_name" in top.columns


@reproducible(60, suppressed=())
@given(
    payables=st.lists(st.integers(-2, 3), min_size=0, max_size=25),
    policy_of=st.lists(st.integers(0, 6), min_size=25, max_size=25),
    policy_rows=st.lists(st.integers(0, 5), min_size=1, max_size=12),
    count=st.integers(1, 6),
)
def test_largest_claims_as_the_plain_sort_and_merges(
    payables: list[int], policy_of: list[int], policy_rows: list[int], count: int
) -> None:
    """``largest_claims`` ranks on the two columns that rank and looks up only the kept claims'
    policies and recoveries: the same table as sorting every paying claim and merging every policy
    (the last row of a policy listed twice) and every recovery, with ties on the payable by claim id,
    claims of a policy not listed and nothing payable left out."""
    claims = pd.DataFrame(
        {
            "claim_id": pd.Series([f"C{(7 * n) % 31:02d}" for n in range(len(payables))], dtype="str"),
            "policy_id": pd.Series([f"P{policy_of[n]}" for n in range(len(payables))], dtype="str"),
            "event_type": "leak",
            "payable_total": pd.Series(payables, dtype="int64") * 1_000,
        }
    )
    policies = pd.DataFrame(
        {
            "policy_id": pd.Series([f"P{p}" for p in policy_rows], dtype="str"),
            "product": "cyber_security",
            "insured_name": [f"insured {n}" for n in range(len(policy_rows))],
        }
    )
    recovered = claims[["claim_id"]].iloc[::2].assign(qs_recovery=1, xol_recovery=2, net=3)
    top = (
        claims[claims["payable_total"] > 0]
        .sort_values(["payable_total", "claim_id"], ascending=[False, True], kind="stable")
        .head(count)
    )
    expected = top.merge(
        policies.drop_duplicates("policy_id", keep="last")[["policy_id", "product", "insured_name"]],
        on="policy_id",
        how="left",
    ).merge(recovered, on="claim_id", how="left")
    expected.insert(0, "rank", range(1, len(expected) + 1))
    order = ["rank", "claim_id", "policy_id", "product", "insured_name", "event_type", "payable_total"]
    expected = expected[[*order, "qs_recovery", "xol_recovery", "net"]].astype({"rank": "int64"})
    got = summary.largest_claims(claims, recovered, policies, count=count)
    pd.testing.assert_frame_equal(got, expected.reset_index(drop=True))


def test_limits_low_under_twenty_percent_exactly() -> None:
    policies = sample_policies().assign(
        remaining_liability_limit=_int([19_999_999, 100_000_000, 20_000_000, 500_000_000, 0]),
        remaining_expense_limit=_int([2_000_000, None, 1_999_999, 200_000_000, None]),
    )
    low = summary.limits_low(policies, Decimal("0.2"))
    # P0001: 19,999,999 < 20% of 100M; P0003: expense 1,999,999 < 2,000,000; P0005: 0 left.
    # 20,000,000 of 100,000,000 is exactly 20%: not under.
    assert sorted(low["policy_id"]) == ["P0001", "P0003", "P0005"]
    assert low.iloc[0]["policy_id"] == "P0005"


# -- triangle --------------------------------------------------------------------------------------


def test_triangle_increments_sum_to_cumulative() -> None:
    long = triangle.triangle_long(sample_history(), sample_claims(), MONTH)
    sums = long.groupby("accident_month")["incremental"].sum()
    last = long.sort_values("reporting_month").groupby("accident_month")["cumulative"].last()
    assert sums.equals(last)
    assert last.to_dict() == {"2026-04": 400_000_003, "2026-05": 500_000, "2026-06": 1_000_001}
    april = long[long["accident_month"] == "2026-04"]
    assert april["incremental"].tolist() == [200_000_003, 140_000_000, 60_000_000]
    assert april["development_age"].tolist() == [1, 2, 3]
    # The latest diagonal equals the payable as at M.
    assert long[long["reporting_month"] == MONTH]["cumulative"].sum() == sample_claims()["payable_total"].sum()


def test_triangle_long_format_for_chainladder() -> None:
    long = triangle.triangle_long(sample_history(), sample_claims(), MONTH)
    assert {"origin", "valuation", "incremental", "cumulative"} <= set(long.columns)
    assert pd.api.types.is_datetime64_any_dtype(long["origin"])
    assert pd.api.types.is_datetime64_any_dtype(long["valuation"])
    first = long.iloc[0]
    assert first["origin"] == pd.Timestamp("2026-04-01")
    assert first["valuation"] == pd.Timestamp("2026-04-30")
    assert len(long) == 3 + 2 + 1  # a complete triangle of three accident months


def test_history_from_lines_matches_the_month_by_month_history() -> None:
    approx = payable_history_from_lines(sample_lines(), MONTH)
    exact = triangle.triangle_long(sample_history(), sample_claims(), MONTH)
    assert triangle.triangle_long(approx, sample_claims(), MONTH).equals(exact)


def test_triangle_wide_and_payable_by_month() -> None:
    long = triangle.triangle_long(sample_history(), sample_claims(), MONTH)
    wide = triangle.triangle_wide(long, "cumulative").set_index("accident_month")
    assert list(wide.columns) == ["1", "2", "3"]
    assert list(wide.loc["2026-04"]) == [200_000_003, 340_000_003, 400_000_003]
    assert wide.loc["2026-06", "2"] is pd.NA
    by_month = triangle.payable_by_month(long)
    assert by_month["payable_recognised"].tolist() == [200_000_003, 140_500_000, 61_000_001]
    assert by_month["payable_cumulative"].iloc[-1] == 401_500_004


# -- sheets ----------------------------------------------------------------------------------------


def test_portfolio_sheets_and_contract_columns() -> None:
    sheets = {s.name: s for s in sample_workbooks()["portfolio_summary.xlsx"]}
    assert next(iter(sheets)) == "about"
    assert {
        "kpi",
        "treaty",
        "by_revenue_band",
        "by_item",
        "largest_claims",
        "limits_low",
        "triangle_long",
        "reinsurance_policies",
        "reinsurance_claims",
        "reserves",
        "development",
        "reinsurance_events",
        "technical_account",
    } <= set(sheets)
    assert list(sheets)[-2:] == ["reinsurance_events", "technical_account"]
    claims_columns = set(sheets["reinsurance_claims"].frame)
    assert {"claim_id", "qs_recovery", "retained", "xol_recovery", "net"} <= claims_columns
    assert {"treaty_year", "first_month", "known_date", "cat_event_id", "cat_recovery"} <= claims_columns
    assert {"reinstatement_premium_risk_this_month", "event_layer_loss_this_month"} <= claims_columns
    assert {"policy_id", "treaty_year", "ceded_premium", "commission"} <= set(sheets["reinsurance_policies"].frame)
    assert list(sheets["technical_account"].frame.columns) == ["treaty_year", "line", "to_date", "this_month"]
    assert sheets["treaty"].charts and sheets["treaty"].charts[0].values == ("losses", "recoveries", "aggregate_left")
    assert sheets["by_revenue_band"].charts and sheets["by_item"].charts and sheets["payable_by_month"].charts
    assert sheets["reserves"].charts


def test_annotated_column_order_keeps_provenance_last() -> None:
    sheets = sample_workbooks()
    policies = sheets["policies_annotated.xlsx"][0].frame
    columns = list(policies.columns)
    assert columns[:3] == ["policy_id", "product", "insured_name"]
    assert columns.index("cancel_date") < columns.index("status") < columns.index("remaining_expense_limit")
    assert columns[-2:] == ["source_sheet", "excel_row"]
    lines, claims = sheets["claims_annotated.xlsx"]
    assert (lines.name, claims.name) == ("lines", "claims")
    assert "item_number" not in lines.frame.columns
    assert list(lines.frame.columns).index("victim_type") < list(lines.frame.columns).index("part")
    assert list(claims.frame.columns)[-5:-4] == ["payable_this_month"]


def test_japanese_names_in_cells_and_headers() -> None:
    sheets = sample_workbooks("ja")
    lines = sheets["claims_annotated.xlsx"][0]
    assert lines.headers is not None and lines.headers["item"] == "費目"
    assert lines.headers["eligible_amount"] == "支払対象額"
    assert "身代金" in lines.frame["item"].tolist()
    assert "補償対象外の費目" in lines.frame["reason"].tolist()
    claims = sheets["claims_annotated.xlsx"][1]
    assert "IT事故（ユーザー危険）" in claims.frame["event_type"].tolist()
    kpi = next(s for s in sheets["portfolio_summary.xlsx"] if s.name == "kpi")
    assert "有効契約件数" in kpi.frame["figure"].tolist()


def test_leak_lite_has_one_plan_name_everywhere() -> None:
    """leak_lite has no plan: its coverage tables call it standard, and so do by_plan, limits_low
    and the lines (README § How the figures are made)."""
    for lang, shown in (("en", "standard"), ("ja", "標準（プランなし）")):
        sheets = {s.name: s for s in sample_workbooks(lang)["portfolio_summary.xlsx"]}
        by_plan = sheets["by_plan"].frame
        product = labels_for(BOOK, lang).product_names["leak_lite"] if lang == "ja" else "leak_lite"
        assert set(by_plan.loc[by_plan["product"] == product, "plan"]) == {shown}
    policies = sample_policies().assign(remaining_liability_limit=_int([0, 0, 0, 0, 0]))
    low = summary.limits_low(policies, book=BOOK)
    assert set(low.loc[low["product"] == "leak_lite", "plan"]) == {"standard"}


def test_tool_sheets_keep_canonical_names_in_japanese() -> None:
    sheets = {s.name: s for s in sample_workbooks("ja")["portfolio_summary.xlsx"]}
    long = sheets["triangle_long"]
    assert long.headers is None and list(long.frame.columns) == list(triangle.LONG_COLUMNS)
    about = sheets["about"].frame
    meaning = about.loc[about["code"] == "triangle_long", "meaning"].iloc[0]
    assert "columns=['cumulative'], cumulative=True" in meaning


def test_japanese_labels_translate_each_cell_as_its_code_and_keep_empties() -> None:
    """``Labels.localize`` in Japanese names each coded cell as the labels' own lookup of its code
    (each distinct value translated once, then taken by code), leaves empty cells empty and
    empty strings as they are, and keeps the rows' index."""
    labels = labels_for(load_products(), "ja")
    reasons = ["excluded", "paid", None, "", "excluded", "never_paid_item"]
    index = pd.RangeIndex(10, 16)
    frame = pd.DataFrame(
        {
            "reason": pd.Series(reasons, index=index, dtype="str"),
            "event_type": pd.Series(["leak"] * 6, index=index, dtype="str"),
        }
    )
    localized = labels.localize(frame)
    assert localized.index.equals(frame.index)
    expected = [None if value is None else (labels.reason(value) if value else "") for value in reasons]
    assert [None if pd.isna(value) else value for value in localized["reason"]] == expected
    assert localized["event_type"].tolist() == [labels.event_names["leak"]] * 6 != ["leak"] * 6
    assert localized["reason"].iloc[0] == labels.reason("excluded") != "excluded"
