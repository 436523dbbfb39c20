"""Loss development triangle of payable: accident month × reporting month.

- Accident month (origin) = month of the claim's ``known_date`` (as at M).
- Reporting month = the bordereau month in which payable was recognised. The payable recognised
  for a claim in month k is its payable total as at k − as at k−1 (CALCULATION.md § Time), so the
  exact input is a **payable history**: per claim, ``payable_total`` as at every month from the
  first bordereau month to M (``claim_id, valuation_month, payable_total``), which the claims stage
  gives when run as at each month. A claim absent from a month's run counts as 0.

Outputs: the long format chainladder-python reads directly (``origin`` = first day of the accident
month, ``valuation`` = last day of the reporting month, ``incremental``, ``cumulative``)::

    cl.Triangle(long, origin="origin", development="valuation",
                columns=["incremental", "cumulative"], cumulative=True)

and wide triangles (accident month × development age in months, 1 = the accident month itself).
Payable recognised before the accident month (possible only when a restatement moved
``known_date`` later) is dated at the accident month, so increments always sum to the cumulative.
"""

from __future__ import annotations

import pandas as pd

from pipeline.arrow_text import looked_up
from pipeline.calendar import month_ends, month_numbers, month_starts, months_from

HISTORY_COLUMNS = ("claim_id", "valuation_month", "payable_total")
LONG_COLUMNS = (
    "accident_month",
    "reporting_month",
    "development_age",
    "origin",
    "valuation",
    "incremental",
    "cumulative",
)


def accident_months(claims: pd.DataFrame) -> pd.Series:
    """Accident month (``YYYY-MM``) of each claim by ``claim_id``."""
    latest = claims.drop_duplicates("claim_id", keep="last").set_index("claim_id")
    return pd.to_datetime(latest["known_date"]).dt.strftime("%Y-%m")


def triangle_long(payable_history: pd.DataFrame, claims: pd.DataFrame, month: str) -> pd.DataFrame:
    """Incremental and cumulative payable per (accident month, reporting month up to ``month``).

    Every accident month from the earliest to ``month`` appears, with every reporting month from it
    to ``month`` (0 where nothing was recognised), so the triangle is complete.
    """
    history = payable_history[payable_history["valuation_month"] <= month]
    origin_of = accident_months(claims)
    history = history.assign(accident_month=looked_up(history["claim_id"], origin_of))
    history = history[history["accident_month"].notna()]
    if history.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64") for c in LONG_COLUMNS})
    first = min(history["accident_month"].min(), history["valuation_month"].min())
    months = months_from(first, month)
    grid = (
        history.groupby(["accident_month", "valuation_month"])["payable_total"]
        .sum()
        .unstack("valuation_month")
        .reindex(index=months, columns=months)
        .fillna(0)
        .astype("int64")
    )
    # Payable is cumulative to date: a valuation month with no run for a claim means nothing known.
    long = grid.stack().rename("cumulative").reset_index()  # type: ignore[call-overload]
    long.columns = ["accident_month", "reporting_month", "cumulative"]
    age = month_numbers(long["reporting_month"]) - month_numbers(long["accident_month"]) + 1
    long = long.assign(development_age=age)
    long.loc[long["development_age"] < 1, "cumulative"] = 0
    long = long.sort_values(["accident_month", "reporting_month"], kind="stable")
    previous = long.groupby("accident_month")["cumulative"].shift(1, fill_value=0)
    long = long.assign(incremental=long["cumulative"] - previous)
    long = long[long["development_age"] >= 1]
    long = long.assign(
        origin=month_starts(long["accident_month"]),
        valuation=month_ends(long["reporting_month"]),
    )
    out = long[list(LONG_COLUMNS)].astype({"incremental": "int64", "cumulative": "int64", "development_age": "int64"})
    return out.reset_index(drop=True)


def triangle_wide(long: pd.DataFrame, value: str) -> pd.DataFrame:
    """Accident month × development age (columns ``"1"``, ``"2"``, …) of ``incremental`` or
    ``cumulative``; cells after ``month`` are empty."""
    wide = long.pivot(index="accident_month", columns="development_age", values=value)
    wide.columns = [str(int(c)) for c in wide.columns]
    return wide.astype("Int64").reset_index()


def payable_by_month(long: pd.DataFrame) -> pd.DataFrame:
    """Payable recognised in each reporting month (all accident months) and to date."""
    out = long.groupby("reporting_month", sort=True)["incremental"].sum().rename("payable_recognised").reset_index()
    return out.assign(payable_cumulative=out["payable_recognised"].cumsum()).astype(
        {"payable_recognised": "int64", "payable_cumulative": "int64"}
    )
