"""Month arithmetic (CALCULATION.md § Premium, "Month arithmetic", "Cover months", "Cancellation"; § Time)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.calendar import add_months, month_end, previous_month, whole_months_between


def dates(*values: str | None) -> pd.Series:
    return pd.to_datetime(pd.Series(list(values), dtype=object)).astype("datetime64[ns]")


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        ("2026-01-31", 1, "2026-02-28"),  # § Premium: 31 Jan + 1 month = 28 Feb ...
        ("2028-01-31", 1, "2028-02-29"),  # ... or 29 Feb in a leap year
        ("2026-03-31", 1, "2026-04-30"),
        ("2026-03-31", -1, "2026-02-28"),
        ("2028-02-29", 12, "2029-02-28"),
        ("2026-10-15", 6, "2027-04-15"),
        ("2026-11-30", 3, "2027-02-28"),
        ("2026-04-01", 0, "2026-04-01"),
        ("2026-12-15", 1, "2027-01-15"),
    ],
)
def test_add_months_keeps_the_day_clamped_to_month_end(start: str, months: int, expected: str) -> None:
    assert add_months(dates(start), months).iloc[0] == pd.Timestamp(expected)


def test_add_months_takes_one_number_per_row_and_keeps_index_and_empty_dates() -> None:
    start = dates("2026-01-31", None, "2026-10-15").set_axis([10, 20, 30])
    result = add_months(start, pd.Series([1, 5, -2], index=[10, 20, 30]))
    assert list(result.index) == [10, 20, 30]
    assert result.dtype == "datetime64[ns]"
    assert result.iloc[0] == pd.Timestamp("2026-02-28")
    assert pd.isna(result.iloc[1])
    assert result.iloc[2] == pd.Timestamp("2026-08-15")


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2026-10-15", "2027-04-01", 5),  # § Cancellation: cancel 2026-10-15, end 2027-04-01 -> 5 unexpired
        ("2026-10-01", "2027-04-01", 6),  # § Cover months: join 2026-10-01 -> 6 whole months
        ("2026-04-01", "2027-04-01", 12),  # a full year
        ("2028-02-29", "2029-02-28", 12),  # a full year from a leap day
        ("2026-01-31", "2026-02-28", 1),  # 31 Jan + 1 month = 28 Feb <= 28 Feb
        ("2026-01-30", "2026-02-27", 0),
        ("2026-02-28", "2026-03-27", 0),
        ("2026-02-28", "2026-03-28", 1),
        ("2026-04-01", "2026-04-01", 0),
        ("2027-04-01", "2026-10-15", -6),  # backwards: largest n with a + n months <= b
    ],
)
def test_whole_months_between_is_the_largest_n_with_a_plus_n_months_within_b(
    start: str, end: str, expected: int
) -> None:
    assert whole_months_between(dates(start), dates(end)).iloc[0] == expected


def test_whole_months_between_is_empty_where_a_date_is_empty() -> None:
    result = whole_months_between(dates(None, "2026-10-15"), dates("2027-04-01", "2027-04-01"))
    assert result.dtype == "Int64"
    assert pd.isna(result.iloc[0])
    assert result.iloc[1] == 5


day_in_range = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 12, 31))


@given(start=day_in_range, end=day_in_range)
def test_whole_months_between_matches_its_definition(start: dt.date, end: dt.date) -> None:
    """§ Premium: whole months from a to b = the largest n with a + n months <= b."""
    a, b = dates(str(start)), dates(str(end))
    n = int(whole_months_between(a, b).iloc[0])
    assert add_months(a, n).iloc[0] <= b.iloc[0] < add_months(a, n + 1).iloc[0]


@given(start=day_in_range, months=st.integers(min_value=-240, max_value=240))
def test_whole_months_to_a_date_n_months_later_is_n(start: dt.date, months: int) -> None:
    a = dates(str(start))
    assert whole_months_between(a, add_months(a, months)).iloc[0] == months


@pytest.mark.parametrize(
    ("month", "expected"),
    [("2026-05", "2026-05-31"), ("2026-02", "2026-02-28"), ("2028-02", "2028-02-29"), ("2026-12", "2026-12-31")],
)
def test_month_end_is_the_asof_date_of_a_run(month: str, expected: str) -> None:
    """§ Time: a run as at month M reports at the last day of M."""
    assert month_end(month) == pd.Timestamp(expected)


@pytest.mark.parametrize(("month", "expected"), [("2026-05", "2026-04"), ("2026-01", "2025-12")])
def test_previous_month(month: str, expected: str) -> None:
    assert previous_month(month) == expected
