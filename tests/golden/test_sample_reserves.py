"""Golden: the ``reserves`` and ``development`` sheets of the sample book as at 2027-03 (issue #13).

The figures were computed once, checked for plausibility (below) and pinned. The reconciliations
hold whatever the figures: paid to date is the triangle's latest diagonal and the book's payable;
earned premium adds up to the policies' earned to date; ultimate = paid + IBNR to the yen; the
ultimates are paid × cdf (chain ladder) and paid + earned × a priori × (1 − 1/cdf) (BF).

Plausibility when pinned (re-pinned by issue #12, whose sample adds losses sized to reach the
reinsurance layers): most earning months develop to 20-45% of their earned premium by chain
ladder, below the 65% a priori; 2026-05 (a designed 30,000,000 claim), 2026-07 (an 81,400,000
lawsuit), 2026-09 and 2026-11 (the two cyber events of about 240,000,000 and 190,000,000) run far
above; IBNR is small beside paid because payable is recognised when
reported and this book's months are mostly developed within three months (factors 1.91, 1.15,
1.02, then about 1); the two latest months are ``immature`` and BF puts them near the a priori.
"""

from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd
import pytest

from pipeline.run import RunResult
from tests.helpers import sheets_made_here

MONTH = "2027-03"
APRIORI = 0.65

# accident month, paid to date, earned premium, chain-ladder ultimate, Mack std err, BF ultimate, note
PINNED = [
    ("2026-02", 0, 0, None, None, 0, "nothing_paid;no_tail"),
    ("2026-03", 34_600, 0, 34_600, 0, 34_600, "no_tail"),
    ("2026-04", 848_110, 1_161_215, 848_110, 0, 848_110, ""),
    ("2026-05", 30_988_260, 1_661_573, 30_988_260, 0, 30_988_260, ""),
    ("2026-06", 1_229_850, 2_132_605, 1_234_206, 2_697, 1_234_743, ""),
    ("2026-07", 83_834_130, 2_844_682, 84_131_100, 41_692, 83_840_656, ""),
    ("2026-08", 1_614_470, 3_489_535, 1_620_260, 3_114, 1_622_575, ""),
    ("2026-09", 253_311_500, 4_023_624, 254_392_748, 963_071, 253_322_616, ""),
    ("2026-10", 2_842_600, 4_903_094, 2_855_486, 58_189, 2_856_982, ""),
    ("2026-11", 196_324_580, 5_668_649, 197_249_354, 1_176_835, 196_341_854, ""),
    ("2026-12", 2_208_110, 6_768_973, 2_221_663, 202_867, 2_234_951, ""),
    ("2027-01", 2_951_380, 7_255_462, 2_977_424, 332_505, 2_992_632, ""),
    ("2027-02", 2_079_040, 7_036_509, 3_054_721, 2_887_188, 3_539_894, "immature"),
    ("2027-03", 1_163_390, 8_695_302, 12_652_970, 19_332_763, 6_295_662, "immature"),
    ("total", 579_430_020, 55_641_223, 594_260_902, 19_652_037, 586_153_535, "total"),
]
PINNED_COLUMNS = ["month", "paid_to_date", "earned_premium", "ultimate_chainladder", "mack_std_err", "ultimate_bf"]


@pytest.fixture(scope="module")
def result(sample_last_month: RunResult) -> RunResult:
    """The sample as at 2027-03 (``tests/conftest.py``: one run per test process)."""
    return sample_last_month


def _sheet(result: RunResult, name: str) -> pd.DataFrame:
    sheets = {sheet.name: sheet for sheet in sheets_made_here(result, "portfolio_summary.xlsx")}
    return sheets[name].frame


@pytest.fixture(scope="module")
def table(result: RunResult) -> pd.DataFrame:
    frame = _sheet(result, "reserves")
    return frame.assign(month=frame["origin"].dt.strftime("%Y-%m").fillna("total"))


def test_sample_reserves_are_the_pinned_figures(table: pd.DataFrame) -> None:
    got = table[[*PINNED_COLUMNS, "method_note"]].astype(object)
    rows = [tuple(None if pd.isna(v) else v for v in row) for row in got.itertuples(index=False)]
    assert rows == PINNED
    assert (table["apriori_loss_ratio"] == APRIORI).all()


def test_paid_to_date_is_the_latest_diagonal_and_the_books_payable(result: RunResult, table: pd.DataFrame) -> None:
    long = _sheet(result, "triangle_long")
    latest = long[long["reporting_month"] == MONTH].set_index("accident_month")["cumulative"]
    rows = table.iloc[:-1].set_index("month")
    assert rows["paid_to_date"].to_dict() == latest.to_dict()
    assert table["paid_to_date"].iloc[-1] == latest.sum() == result.claims["payable_total"].sum()


def test_earned_premium_adds_up_to_earned_to_date(result: RunResult, table: pd.DataFrame) -> None:
    policies = result.policies
    cover_start = policies["join_date"].fillna(policies["period_start"])
    assert cover_start.min() >= table["origin"].min()  # every policy earns inside the accident months
    assert table["earned_premium"].iloc[-1] == table["earned_premium"].iloc[:-1].sum()
    assert table["earned_premium"].iloc[-1] == policies["earned_to_date"].fillna(0).sum()


def test_ultimates_reconcile_to_paid_cdf_and_earned(table: pd.DataFrame) -> None:
    rows = table.iloc[:-1]
    for method in ("chainladder", "bf"):
        known = table[f"ultimate_{method}"].notna()
        assert (
            table.loc[known, f"ultimate_{method}"]
            == table.loc[known, "paid_to_date"] + table.loc[known, f"ibnr_{method}"]
        ).all()
        assert table[f"ultimate_{method}"].iloc[-1] == rows[f"ultimate_{method}"].sum()
    cl = rows[rows["ultimate_chainladder"].notna()]
    assert np.abs(cl["ultimate_chainladder"] - np.floor(cl["paid_to_date"] * cl["cdf"])).max() <= 1
    bf_ibnr = np.floor(rows["earned_premium"] * APRIORI * (1 - 1 / rows["cdf"]))
    assert np.abs(rows["ibnr_bf"] - bf_ibnr).max() <= 1


def test_development_factors_multiply_to_the_cumulative_factors(result: RunResult, table: pd.DataFrame) -> None:
    development = _sheet(result, "development")
    ldf = development["age_to_age_factor"].fillna(1.0).to_numpy()
    products = np.flip(np.cumprod(np.flip(ldf)))
    assert np.allclose(development["cumulative_factor"].to_numpy(), products, rtol=1e-12)
    by_age = development.set_index("development_age")["cumulative_factor"]
    rows = table.iloc[:-1]
    inside = rows["development_age"] <= by_age.index.max()
    assert np.allclose(rows.loc[inside, "cdf"], rows.loc[inside, "development_age"].map(by_age), rtol=1e-12)
    # 13 ages since 2026-03 has a payable (a claim known before its cover, issue #12's sample); the
    # first age has one link ratio fewer (2026-02 pays nothing).
    assert development["link_ratios"].tolist() == [10, *range(11, -1, -1)]


def test_the_chart_leaves_the_total_row_out(result: RunResult) -> None:
    path = result.output_folder / "portfolio_summary.xlsx"
    with zipfile.ZipFile(path) as archive:
        charts = [archive.read(n).decode() for n in archive.namelist() if n.startswith("xl/charts/chart")]
    reserves = [chart for chart in charts if "reserves!" in chart]
    assert len(reserves) == 1
    assert "reserves!$A$2:$A$15" in reserves[0] and "$A$16" not in reserves[0]  # 14 months, total in row 16
    assert 'formatCode="yyyy-mm"' in reserves[0]  # accident months read as months, not date serials
