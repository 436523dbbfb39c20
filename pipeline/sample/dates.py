"""Day arithmetic for the generator: dates are int64 day numbers (days since 1970-01-01), so whole
columns can be drawn and shifted with numpy; Excel serials and Japanese spellings are derived."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

MISSING = np.iinfo(np.int64).min  # an empty yen, integer or date cell
EPOCH = dt.date(1970, 1, 1)
EXCEL_OFFSET = 25_569  # Excel serial of 1970-01-01 (1900 date system)


def day_number(value: dt.date) -> int:
    return (value - EPOCH).days


def to_date(day: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(day))


def add_years(days: np.ndarray, years: int = 1) -> np.ndarray:
    """Same calendar date ``years`` later (29 Feb -> 28 Feb), elementwise."""
    days = np.asarray(days, dtype=np.int64)
    month = days.astype("datetime64[D]").astype("datetime64[M]")
    day_of_month = days - month.astype("datetime64[D]").astype(np.int64)
    target = month + 12 * years
    length = (target + 1).astype("datetime64[D]").astype(np.int64) - target.astype("datetime64[D]").astype(np.int64)
    return target.astype("datetime64[D]").astype(np.int64) + np.minimum(day_of_month, length - 1)


@dataclass(frozen=True)
class Calendar:
    """The bordereau months of the book: labels ``YYYY-MM`` and first/last day numbers."""

    labels: tuple[str, ...]
    starts: np.ndarray
    ends: np.ndarray

    @classmethod
    def build(cls, first_month: str, months: int) -> Calendar:
        if months < 1:
            raise ValueError("months must be at least 1")
        first = np.datetime64(first_month, "M")
        month_array = first + np.arange(months + 1)
        bounds = month_array.astype("datetime64[D]").astype(np.int64)
        labels = tuple(str(m) for m in month_array[:-1])
        return cls(labels=labels, starts=bounds[:-1], ends=bounds[1:] - 1)

    @property
    def count(self) -> int:
        return len(self.labels)

    @property
    def last_day(self) -> int:
        return int(self.ends[-1])

    def month_of(self, days: np.ndarray) -> np.ndarray:
        """Index of the bordereau month containing each day (-1 before the book, count after it)."""
        index = np.searchsorted(self.starts, days, side="right") - 1
        return np.where(np.asarray(days) > self.last_day, self.count, index)

    def lengths(self) -> np.ndarray:
        return self.ends - self.starts + 1


def reiwa(value: dt.date) -> int:
    """Year of the 令和 era (from 2019-05-01)."""
    return value.year - 2018


def uniform_days(rng: np.random.Generator, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """A day drawn uniformly from ``[low, high]`` per element (``high < low`` gives ``low``)."""
    span = np.maximum(np.asarray(high) - np.asarray(low), 0) + 1
    return np.asarray(low) + np.floor(rng.random(span.shape) * span).astype(np.int64)
