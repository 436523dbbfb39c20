"""Month arithmetic on dates, vectorised over datetime Series (CALCULATION.md § Time, § Premium).

Rules:

- ``d + n months`` keeps the day of the month, clamped to the last day of the target month
  (31 Jan + 1 month = 28 Feb, or 29 Feb in a leap year).
- "Whole months from a to b" is the largest ``n`` with ``a + n months <= b``.
- A run as at month ``M`` (``"YYYY-MM"``) reports figures at the last day of ``M``.
- Months as text ``"YYYY-MM"``: the month before, the months from one to another, first and last days.

Dates are midnight timestamps; an empty date (NaT) gives an empty result.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

MONTHS_PER_YEAR = 12


def _month_numbers(dates: pd.Series) -> np.ndarray:
    """Months since 1970-01 as ``datetime64[M]`` (NaT stays NaT)."""
    return dates.to_numpy(dtype="datetime64[ns]").astype("datetime64[M]")


def add_months(dates: pd.Series, months: int | pd.Series | np.ndarray) -> pd.Series:
    """``date + n months`` for every date, the day clamped to the end of the target month.

    ``months`` is one whole number for every row or one per row (CALCULATION.md § Premium,
    month arithmetic). The result has the index of ``dates`` and dtype ``datetime64[ns]``.
    """
    shift = np.asarray(months, dtype="int64")
    target_month = _month_numbers(dates) + shift.astype("timedelta64[M]")
    first_day = target_month.astype("datetime64[D]")
    days_in_month = ((target_month + np.timedelta64(1, "M")).astype("datetime64[D]") - first_day).astype("int64")
    day = dates.dt.day.to_numpy(dtype="float64", na_value=np.nan)
    clamped_day = np.fmin(day, days_in_month)
    offset = np.where(np.isnan(clamped_day), 0, clamped_day - 1).astype("int64")
    shifted = first_day + offset.astype("timedelta64[D]")
    result = pd.Series(shifted.astype("datetime64[ns]"), index=dates.index, name=dates.name)
    return result.where(dates.notna())


def whole_months_between(start: pd.Series, end: pd.Series) -> pd.Series:
    """Largest ``n`` with ``start + n months <= end``, row by row (CALCULATION.md § Premium).

    Negative when ``end`` is before ``start``; empty (``Int64`` NA) where either date is empty.
    """
    start_month = _month_numbers(start).astype("int64")
    end_month = _month_numbers(end).astype("int64")
    both = start.notna().to_numpy() & end.notna().to_numpy()
    calendar_months = np.where(both, end_month - start_month, 0)
    landed = add_months(start, calendar_months)
    overshoot = (landed > end).to_numpy(dtype=bool, na_value=False)
    whole = pd.Series(calendar_months - overshoot, index=start.index, dtype="Int64")
    return whole.where(both, pd.NA)


def month_end(month: str) -> pd.Timestamp:
    """The last day of month ``"YYYY-MM"``: the ``asof`` date of a run as at that month (§ Time)."""
    return pd.Period(month, freq="M").end_time.normalize().as_unit("ns")


def previous_month(month: str) -> str:
    """The month before ``"YYYY-MM"``: ``previous_month("2026-01") == "2025-12"`` (§ Time, movements)."""
    return str(pd.Period(month, freq="M") - 1)


def months_from(first: str, last: str) -> list[str]:
    """Every month ``"YYYY-MM"`` from ``first`` to ``last``, both included (empty if ``last`` is
    earlier)."""
    return [str(period) for period in pd.period_range(first, last, freq="M")]


def month_numbers(months: pd.Series) -> pd.Series:
    """``"YYYY-MM"`` -> year × 12 + month, so that the difference of two is the months between."""
    parts = months.astype(str).str.split("-", expand=True).astype("int64")
    return parts[0] * MONTHS_PER_YEAR + parts[1]


def month_starts(months: pd.Series) -> pd.Series:
    """The first day of each month ``"YYYY-MM"`` (midnight timestamps, the index kept)."""
    return pd.to_datetime(months + "-01")


def month_ends(months: pd.Series) -> pd.DatetimeIndex:
    """The last day of each month ``"YYYY-MM"`` (midnight timestamps), as :func:`month_end`."""
    return pd.PeriodIndex(months, freq="M").end_time.normalize()
