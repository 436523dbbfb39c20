"""Reserves with chainladder-python (issue #13): published Mack figures, a BF triangle by hand,
sparse and short triangles, and premium earned per accident month.

Every triangle goes through the same path as a run: a long frame in ``triangle_long``'s format ->
``development_fit`` -> ``reserves_by_accident_month`` / ``development_factors``.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from pipeline.products.load import load_products
from pipeline.reports import reserves, triangle
from pipeline.reports.labels import labels_for
from pipeline.reports.reserves import ReservingAssumptions
from pipeline.stages.premium import earned_as_at, earned_by_month
from tests import factories

LOG_LINEAR = ReservingAssumptions(Decimal("0.6"), 3, "log-linear")
MACK_SIGMA = ReservingAssumptions(Decimal("0.6"), 3, "mack")


def long_triangle(rows: list[list[int]], first: str = "2000-01", ages: list[int] | None = None) -> pd.DataFrame:
    """``triangle_long``'s format from cumulative rows (accident month i from ``first``; row i's
    cells are its development ages ``ages[i]``, ``ages[i] + 1``, …, default 1, 2, …). Every row
    must end at the same reporting month, as in a run."""
    months = pd.period_range(first, periods=len(rows), freq="M")
    records = []
    for i, cells in enumerate(rows):
        start = 1 if ages is None else ages[i]
        previous = 0
        for offset, value in enumerate(cells):
            age = start + offset
            reporting = months[i] + (age - 1)
            records.append(
                {
                    "accident_month": str(months[i]),
                    "reporting_month": str(reporting),
                    "development_age": age,
                    "origin": months[i].to_timestamp(),
                    "valuation": reporting.end_time.normalize(),
                    "incremental": value - previous,
                    "cumulative": value,
                }
            )
            previous = value
    long = pd.DataFrame(records, columns=list(triangle.LONG_COLUMNS))
    assert long.groupby("accident_month")["reporting_month"].max().nunique() == 1, "rows must end together"
    return long.astype({"development_age": "int64", "incremental": "int64", "cumulative": "int64"})


def earned(long: pd.DataFrame, amounts: list[int]) -> pd.DataFrame:
    months = sorted(long["accident_month"].unique())
    return pd.DataFrame({"month": months, "earned_premium": pd.Series(amounts, dtype="int64")})


def sheets(
    long: pd.DataFrame, premium: pd.DataFrame, assumptions: ReservingAssumptions = LOG_LINEAR
) -> tuple[pd.DataFrame, pd.DataFrame]:
    fit = reserves.development_fit(long, premium, assumptions)
    return reserves.reserves_by_accident_month(long, premium, fit, assumptions), reserves.development_factors(fit)


def assert_ultimate_is_paid_plus_ibnr(table: pd.DataFrame) -> None:
    for method in ("chainladder", "bf"):
        ultimate, ibnr = table[f"ultimate_{method}"], table[f"ibnr_{method}"]
        assert (ultimate.isna() == ibnr.isna()).all()
        known = ultimate.notna()
        assert (ultimate[known] == table.loc[known, "paid_to_date"] + ibnr[known]).all()


def raa_rows() -> list[list[int]]:
    cl = pytest.importorskip("chainladder")
    values = cl.load_sample("raa").values[0, 0]
    return [[int(v) for v in row if np.isfinite(v)] for row in values]


# ---- RAA: the published Mack chain-ladder figures ----------------------------------------------------

# Mack (1994), "Measuring the variability of chain ladder reserve estimates", CAS Forum, RAA data
# (thousands). Age-to-age factors and IBNR by accident year 1982-1990, and the total IBNR 52,135,
# are the chain ladder's. Standard errors with Mack's sigma extrapolation (1999), p. 130 of Mack
# (1994) (as transcribed in chainladder-python's own test_mack1994_hardcode): 206 … 24,566, total
# 26,909. With log-linear extrapolation (chainladder's and R ChainLadder's default), R's documented
# MackChainLadder(RAA) output (mages.github.io/ChainLadder/reference/summary.MackChainLadder.html):
# 143 … 24,566, total 26,880.74.
RAA_FACTORS = [2.999, 1.624, 1.271, 1.172, 1.113, 1.042, 1.033, 1.017, 1.009]
RAA_IBNR = [0, 154, 617, 1636, 2747, 3649, 5435, 10907, 10650, 16339]
RAA_SE_MACK = [0, 206, 623, 747, 1469, 2002, 2209, 5358, 6333, 24566]
RAA_SE_LOG_LINEAR = [0, 143, 592, 713, 1452, 1995, 2204, 5354, 6332, 24566]


@pytest.mark.parametrize(
    ("assumptions", "errors", "total_error"),
    [(MACK_SIGMA, RAA_SE_MACK, 26_909), (LOG_LINEAR, RAA_SE_LOG_LINEAR, 26_880)],
    ids=["mack-1994", "r-chainladder"],
)
def test_raa_reproduces_published_mack_figures(
    assumptions: ReservingAssumptions, errors: list[int], total_error: int
) -> None:
    long = long_triangle(raa_rows())
    table, development = sheets(long, earned(long, [0] * 10), assumptions)
    rows, total = table.iloc[:-1], table.iloc[-1]

    assert development["age_to_age_factor"].iloc[:-1].round(3).tolist() == RAA_FACTORS
    assert np.isnan(development["age_to_age_factor"].iloc[-1])
    assert development["link_ratios"].tolist() == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
    # Floored to the unit, so each figure is the published rounded one or one below it.
    assert np.abs(rows["ibnr_chainladder"].astype(int).to_numpy() - RAA_IBNR).max() <= 1
    assert np.abs(rows["mack_std_err"].astype(int).to_numpy() - errors).max() <= 1
    assert total["paid_to_date"] == 160_987
    # The total is the sum of the floored rows: within one unit per row of 213,122.23 and 52,135.23.
    assert total["ibnr_chainladder"] == rows["ibnr_chainladder"].sum()
    assert 52_135 - 9 <= total["ibnr_chainladder"] <= 52_135
    assert total["ultimate_chainladder"] == 160_987 + total["ibnr_chainladder"]
    assert total["mack_std_err"] == total_error
    assert_ultimate_is_paid_plus_ibnr(table)
    # 1981 is the oldest year: no development beyond it, IBNR and standard error 0 (chainladder's NaN).
    assert rows["ibnr_chainladder"].iloc[0] == 0 and rows["mack_std_err"].iloc[0] == 0
    assert rows["method_note"].tolist()[0] == "no_tail"
    assert rows["method_note"].tolist()[-2:] == ["immature", "immature"]


# ---- Bornhuetter-Ferguson by hand --------------------------------------------------------------------


def test_bf_on_a_four_by_four_triangle_by_hand() -> None:
    """Cumulative payable (yen) and premium earned in each accident month, a priori 60%:

    ========  =======  =======  =======  =======  ========
    month     age 1    age 2    age 3    age 4    earned
    ========  =======  =======  =======  =======  ========
    2026-01   100,000  150,000  165,000  165,000   300,000
    2026-02   200,000  300,000  330,000            400,000
    2026-03   120,000  180,000                     500,000
    2026-04    80,000                              600,000
    ========  =======  =======  =======  =======  ========

    Volume-weighted factors: 1→2 = 630,000 / 420,000 = 1.5; 2→3 = 495,000 / 450,000 = 1.1;
    3→4 = 165,000 / 165,000 = 1. Cumulative: age 1 = 1.65, age 2 = 1.1, age 3 = 1, age 4 = 1.

    Chain ladder: 2026-04 80,000 × 1.65 = 132,000 (IBNR 52,000); 2026-03 180,000 × 1.1 = 198,000
    (IBNR 18,000); 2026-02 and 2026-01 IBNR 0.
    BF IBNR = earned × 0.6 × (1 − 1/cdf): 2026-04 600,000 × 0.6 × 0.65/1.65 = 141,818.18 -> 141,818;
    2026-03 500,000 × 0.6 × 0.1/1.1 = 27,272.72 -> 27,272; 2026-02 and 2026-01 0. Total BF IBNR
    169,090; ultimate 80,000 + 141,818 = 221,818 and 180,000 + 27,272 = 207,272.
    """
    long = long_triangle(
        [[100_000, 150_000, 165_000, 165_000], [200_000, 300_000, 330_000], [120_000, 180_000], [80_000]],
        first="2026-01",
    )
    table, development = sheets(long, earned(long, [300_000, 400_000, 500_000, 600_000]))
    rows, total = table.iloc[:-1], table.iloc[-1]

    assert development["age_to_age_factor"].round(12).tolist()[:3] == [1.5, 1.1, 1.0]
    assert development["cumulative_factor"].round(12).tolist() == [1.65, 1.1, 1.0, 1.0]
    assert rows["cdf"].round(12).tolist() == [1.0, 1.0, 1.1, 1.65]
    assert rows["ultimate_chainladder"].tolist() == [165_000, 330_000, 198_000, 132_000]
    assert rows["ibnr_chainladder"].tolist() == [0, 0, 18_000, 52_000]
    assert rows["ibnr_bf"].tolist() == [0, 0, 27_272, 141_818]
    assert rows["ultimate_bf"].tolist() == [165_000, 330_000, 207_272, 221_818]
    assert rows["apriori_loss_ratio"].tolist() == [0.6] * 4
    assert total["ibnr_bf"] == 169_090 and total["ultimate_bf"] == 165_000 + 330_000 + 207_272 + 221_818
    assert total["earned_premium"] == 1_800_000 and total["paid_to_date"] == 755_000
    # Mack: the last factor rests on one link ratio of exactly 1 (no variance), which chainladder
    # cannot extrapolate, so the months still developing have no standard error (and say so);
    # 2026-02 has nothing left to develop (cdf 1): standard error 0.
    assert rows["mack_std_err"].iloc[:2].tolist() == [0, 0] and rows["mack_std_err"].iloc[2:].isna().all()
    assert rows["method_note"].tolist() == ["no_tail", "", "mack_not_estimable;immature", "mack_not_estimable;immature"]
    assert total["method_note"] == "total;mack_not_estimable"
    assert_ultimate_is_paid_plus_ibnr(table)


def test_bf_is_chainladders_own_bornhuetter_ferguson() -> None:
    """The sheet's BF is chainladder's ``BornhuetterFerguson`` on the same triangle, floored."""
    cl = pytest.importorskip("chainladder")
    long = long_triangle([[5_000, 9_000, 9_500], [7_000, 12_000], [4_000]], first="2026-01")
    premium = earned(long, [20_000, 25_000, 30_000])
    table, _ = sheets(long, premium)
    tri = cl.Triangle(long, origin="origin", development="valuation", columns=["cumulative"], cumulative=True)
    exposure = premium.assign(origin=pd.to_datetime(premium["month"] + "-01"), valuation=long["valuation"].max())
    weight = cl.Triangle(
        exposure, origin="origin", development="valuation", columns=["earned_premium"], cumulative=True
    )
    bf = cl.BornhuetterFerguson(apriori=0.6).fit(cl.Development().fit_transform(tri), sample_weight=weight)
    expected = np.floor(bf.ultimate_.values[0, 0, :, -1].round(6)).astype(int)
    assert table["ultimate_bf"].iloc[:-1].tolist() == expected.tolist()


# ---- Sparse and short triangles ----------------------------------------------------------------------


def test_a_single_month_gives_no_figure_and_says_why() -> None:
    long = long_triangle([[50_000]], first="2026-04")
    table, development = sheets(long, earned(long, [100_000]))
    row, total = table.iloc[0], table.iloc[1]
    assert development.empty
    assert row["paid_to_date"] == 50_000 and row["earned_premium"] == 100_000
    for column in ("cdf", "ultimate_chainladder", "ibnr_chainladder", "mack_std_err", "ultimate_bf", "ibnr_bf"):
        assert pd.isna(row[column]) and pd.isna(total[column])
    assert row["method_note"] == "too_few_diagonals;immature"
    assert total["method_note"] == "total;too_few_diagonals"
    assert total["paid_to_date"] == 50_000


def test_nothing_paid_anywhere_gives_no_figure() -> None:
    long = long_triangle([[0, 0, 0], [0, 0], [0]], first="2026-01")
    table, development = sheets(long, earned(long, [10, 20, 30]))
    assert development.empty
    assert table["ultimate_chainladder"].isna().all() and table["ultimate_bf"].isna().all()
    assert table["method_note"].iloc[0] == "too_few_diagonals;nothing_paid"


def test_a_month_with_nothing_paid_has_bf_but_no_chain_ladder() -> None:
    """2026-03 paid nothing. Factors 1->2 = 36,000 / 30,000 = 1.2, 2->3 = 39,600 / 36,000 = 1.1,
    3->4 = 1; cdf at age 2 = 1.1. Chain ladder multiplies nothing (empty); BF = earned × 60% ×
    (1 − 1/1.1) = 110,000 × 0.6 / 11 = 6,000. 2026-04: 5,000 × 1.2 × 1.1 = 6,600."""
    long = long_triangle([[10_000, 12_000, 13_200, 13_200], [20_000, 24_000, 26_400], [0, 0], [5_000]], first="2026-01")
    table, _ = sheets(long, earned(long, [50_000, 100_000, 110_000, 50_000]))
    row = table.iloc[2]
    assert row["paid_to_date"] == 0 and round(row["cdf"], 12) == 1.1
    assert pd.isna(row["ultimate_chainladder"]) and pd.isna(row["mack_std_err"])
    assert row["ultimate_bf"] == 6_000 and row["ibnr_bf"] == 6_000
    assert row["method_note"] == "nothing_paid;immature"
    # The total keeps chain ladder: the month without a figure paid nothing, so nothing is lost.
    total = table.iloc[-1]
    assert total["ultimate_chainladder"] == 13_200 + 26_400 + 6_600 and total["ibnr_chainladder"] == 1_600
    assert total["paid_to_date"] == 44_600
    assert_ultimate_is_paid_plus_ibnr(table)


def test_an_age_without_link_ratios_leaves_the_months_needing_it_empty() -> None:
    """Months paid first at ages 4 and 3 (blank early ages) leave no link ratio from age 2 to 3:

    2026-01: 0, 0, 0, 100,000, 120,000     factors: 1->2 = 45/30 = 1.5 (2026-04 only)
    2026-02: 0, 0, 50,000, 70,000                   2->3 = none (every month had 0 at age 2)
    2026-03: 0, 0, 40,000                           3->4 = 70/50 = 1.4, 4->5 = 120/100 = 1.2
    2026-04: 30,000, 45,000
    2026-05: 20,000

    Ages 3 and 4 develop (40,000 × 1.68 = 67,200; 70,000 × 1.2 = 84,000); the months at ages 1
    and 2 need the missing factor: no chain ladder, no BF, and the total has none either.
    """
    long = long_triangle(
        [[0, 0, 0, 100_000, 120_000], [0, 0, 50_000, 70_000], [0, 0, 40_000], [30_000, 45_000], [20_000]],
        first="2026-01",
    )
    table, development = sheets(long, earned(long, [100_000] * 5))
    ldf = development["age_to_age_factor"].round(12).tolist()
    assert ldf[0] == 1.5 and np.isnan(ldf[1]) and ldf[2:4] == [1.4, 1.2]
    assert development["cumulative_factor"].iloc[:2].isna().all()
    assert development["cumulative_factor"].round(12).iloc[2:].tolist() == [1.68, 1.2, 1.0]
    rows, total = table.iloc[:-1], table.iloc[-1]
    assert rows["ultimate_chainladder"].iloc[:3].tolist() == [120_000, 84_000, 67_200]
    for column in ("cdf", "ultimate_chainladder", "ultimate_bf"):
        assert rows[column].iloc[3:].isna().all() and pd.isna(total[column])
    assert rows["method_note"].iloc[3:].str.contains("factor_not_estimable").all()
    assert "factor_not_estimable" in total["method_note"]
    assert_ultimate_is_paid_plus_ibnr(table)


def test_blank_early_ages_of_an_old_accident_month_from_a_run() -> None:
    """A book that begins reporting in 2026-01 with a claim known in 2025-10: its first three ages are
    blank (zero) in ``triangle_long``; the reserves still come out, without error or division by 0."""
    claims = factories.claims(
        {"claim_id": "C1", "known_date": "2025-10-20"},
        {"claim_id": "C2", "known_date": "2026-01-10"},
        {"claim_id": "C3", "known_date": "2026-02-10"},
        {"claim_id": "C4", "known_date": "2026-03-05"},
    )
    history = pd.DataFrame(
        [
            ("C1", "2026-01", 400_000),
            ("C1", "2026-02", 500_000),
            ("C1", "2026-03", 520_000),
            ("C2", "2026-01", 100_000),
            ("C2", "2026-02", 180_000),
            ("C2", "2026-03", 200_000),
            ("C3", "2026-02", 60_000),
            ("C3", "2026-03", 90_000),
            ("C4", "2026-03", 70_000),
        ],
        columns=list(triangle.HISTORY_COLUMNS),
    )
    long = triangle.triangle_long(history, claims, "2026-03")
    assert (long.loc[long["accident_month"] == "2025-10", "cumulative"].head(3) == 0).all()
    months = sorted(long["accident_month"].unique())
    table, development = sheets(long, earned(long, [10_000 * (i + 1) for i in range(len(months))]))
    rows = table.iloc[:-1].set_index(table["origin"].iloc[:-1].dt.strftime("%Y-%m"))
    assert rows.loc["2025-10", "paid_to_date"] == 520_000 and rows.loc["2025-10", "development_age"] == 6
    # Factors: 1->2 = (180,000 + 90,000) / (100,000 + 60,000) from 2026-01 and 2026-02; 3->4 none
    # (2025-10 is the only month that old and its age 3 was before reporting began); 4->5 =
    # 500/400, 5->6 = 520/500 from 2025-10 alone.
    ldf = development["age_to_age_factor"].round(12).tolist()
    assert ldf[0] == round(270_000 / 160_000, 12) and np.isnan(ldf[2]) and ldf[3:5] == [1.25, 1.04]
    assert rows.loc["2026-01":"2026-03", "method_note"].str.startswith("factor_not_estimable").all()
    assert rows.loc["2026-01":"2026-03", "ultimate_chainladder"].isna().all()
    # 2025-12 paid nothing at age 4: BF = 30,000 × 0.6 × (1 − 1/1.3) = 4,153.8 -> 4,153.
    assert rows.loc["2025-12", "method_note"] == "nothing_paid" and rows.loc["2025-12", "ibnr_bf"] == 4_153
    assert rows.loc["2025-10", "method_note"] == "no_tail" and rows.loc["2025-10", "ibnr_chainladder"] == 0
    assert_ultimate_is_paid_plus_ibnr(table)
    assert np.isfinite(table["cdf"].dropna()).all()


def test_an_empty_triangle_gives_an_empty_sheet() -> None:
    long = pd.DataFrame({c: pd.Series(dtype="int64") for c in triangle.LONG_COLUMNS})
    table, development = sheets(long, earned(long, []))
    assert table.empty and development.empty
    assert list(table.columns) == list(reserves.RESERVES_COLUMNS)


# ---- Exposure: premium earned in each month -----------------------------------------------------------


def test_earned_by_month_adds_up_to_earned_to_date() -> None:
    """A 2026-04-01 – 2027-04-01 policy writing 365,000 earns 1,000 a day: 30,000 in April, 31,000 in
    May; a mid-term joiner (2026-05-16, 100,000 over 320 days) earns floor(100,000 × 16/320) = 5,000
    in May; a referral earns nothing."""
    policies = factories.policies({}, {"join_date": "2026-05-16"}, {})
    policies = policies.assign(written_premium=pd.Series([365_000, 100_000, None], dtype="Int64"))
    table = earned_by_month(policies, ["2026-04", "2026-05", "2026-06"])
    assert table["month"].tolist() == ["2026-04", "2026-05", "2026-06"]
    assert table["earned_premium"].tolist()[:2] == [30_000, 31_000 + 5_000]
    cover_start = policies["join_date"].fillna(policies["period_start"])
    cover_end = policies["cancel_date"].fillna(policies["period_end"])
    to_date = earned_as_at(policies["written_premium"].fillna(0), cover_start, cover_end, pd.Timestamp("2026-06-30"))
    assert table["earned_premium"].sum() == to_date.sum()
    with pytest.raises(ValueError, match="consecutive"):
        earned_by_month(policies, ["2026-04", "2026-06"])


# ---- Sheets, labels and the about sheet ---------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_reserve_sheets_are_labelled_and_listed_on_the_about_sheet(lang: str) -> None:
    from tests.unit.test_reports import sample_workbooks

    sheets = {s.name: s for s in sample_workbooks(lang)["portfolio_summary.xlsx"]}
    table, development = sheets["reserves"], sheets["development"]
    assert list(table.frame.columns) == list(reserves.RESERVES_COLUMNS)
    assert list(development.frame.columns) == list(reserves.DEVELOPMENT_COLUMNS)
    labels = labels_for(load_products(), lang)
    for column in [*reserves.RESERVES_COLUMNS, *reserves.DEVELOPMENT_COLUMNS]:
        assert labels.column_ja(column), column
        assert labels.about(column), column
    about = sheets["about"].frame
    assert {"reserves", "development"} <= set(about["code"])
    assert set(reserves.NOTES) <= set(about["code"])
    assert all(labels.data["method_notes"][code]["about"] for code in reserves.NOTES)
    for key in ("reserves", "development"):
        assert labels.data["sheets"][key]["ja"] and labels.data["sheets"][key]["en"]
    (chart,) = table.charts
    assert chart.values == ("paid_to_date", "ultimate_chainladder", "ultimate_bf")
    assert chart.rows == (0, len(table.frame) - 2)  # the total row is not charted
    notes = table.frame["method_note"]
    if lang == "ja":
        assert table.headers is not None and table.headers["ibnr_bf"] == "IBNR（BF法）"
        assert notes.iloc[-1].startswith("合計") and chart.title.startswith("事故月別")
    else:
        assert notes.iloc[-1].startswith("total")
