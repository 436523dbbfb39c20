"""The reinsurance programme: treaty years read and checked from the treaty file (REINSURANCE.md).

A programme is one or more treaty years ``[start, end)``; a policy belongs to the year in which its
``period_start`` falls (risks attaching). Each year has a quota share, a per-risk excess-of-loss layer
with optional annual terms, and optionally an event (catastrophe) excess-of-loss layer::

    name = "..."
    products = ["leak_lite", "cyber_security"]

    [years.2026]
    start = 2026-04-01          # optional: an open start covers every earlier policy
    end = 2027-04-01            # optional: an open end covers every later policy
    [years.2026.quota_share]
    ceded_share = 0.40
    ceding_commission = 0.30
    [years.2026.excess_of_loss]
    retention = 30_000_000
    limit = 70_000_000
    aggregate_deductible = 10_000_000   # default 0
    reinstatements = [1.00, 0.50]       # omitted: no annual aggregate limit; []: the limit once a year
    rate_on_gnpi = 0.03                 # default 0
    [years.2026.event_layer]            # optional
    retention = 100_000_000
    limit = 300_000_000
    reinstatements = [1.00]
    rate_on_gnpi = 0.02

Percentages are TOML decimals read exactly (``Decimal``; the engine turns them into integer
fractions). A malformed entry raises ``ProductDataError`` with one line naming the file and entry.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class Layer:
    """One excess-of-loss layer of a treaty year. ``reinstatements`` is None when omitted (no
    annual aggregate limit), else the reinstatement premium percentages, one per reinstatement."""

    retention: int
    limit: int
    aggregate_deductible: int = 0
    reinstatements: tuple[Decimal, ...] | None = None
    rate_on_gnpi: Decimal = Decimal(0)

    @property
    def aggregate_limit(self) -> int | None:
        """limit × (1 + number of reinstatements); None (unbounded) when reinstatements are omitted."""
        if self.reinstatements is None:
            return None
        return self.limit * (1 + len(self.reinstatements))


@dataclass(frozen=True)
class TreatyYear:
    """One treaty year ``[start, end)`` (either end may be open: None) and its layers."""

    code: str
    start: pd.Timestamp | None
    end: pd.Timestamp | None
    ceded_share: Decimal
    ceding_commission: Decimal
    risk_layer: Layer
    event_layer: Layer | None = None


@dataclass(frozen=True)
class Programme:
    """The treaty years in order of start, and the products the programme covers."""

    name: str
    products: tuple[str, ...]
    years: tuple[TreatyYear, ...]

    def year(self, code: str) -> TreatyYear:
        return next(year for year in self.years if year.code == code)


FailFn = Callable[[str, str], Exception]


def _money(table: dict[str, Any], key: str, entry: str, fail: FailFn, default: int | None = None) -> int:
    if key not in table:
        if default is None:
            raise fail(entry, f"missing key '{key}'")
        return default
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise fail(f"{entry}.{key}", f"must be a whole number of yen >= 0, got {value!r}")
    return int(value)


def _share(
    table: dict[str, Any], key: str, entry: str, fail: FailFn, *, default: Decimal | None = None, upper: int = 1
) -> Decimal:
    if key not in table:
        if default is None:
            raise fail(entry, f"missing key '{key}'")
        return default
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, Decimal | int) or not 0 <= Decimal(value) <= upper:
        raise fail(f"{entry}.{key}", f"must be a decimal between 0 and {upper}, got {value!r}")
    return Decimal(value)


def _layer(table: Any, entry: str, fail: FailFn, *, annual: bool) -> Layer:
    if not isinstance(table, dict):
        raise fail(entry, "expected a table")
    known = {"retention", "limit", "reinstatements", "rate_on_gnpi", "basis"} | (
        {"aggregate_deductible"} if annual else set()
    )
    unknown = sorted(set(table) - known)
    if unknown:
        raise fail(f"{entry}.{unknown[0]}", "unknown key")
    limit = _money(table, "limit", entry, fail)
    if limit == 0:
        raise fail(f"{entry}.limit", "must be > 0")
    reinstatements = None
    if "reinstatements" in table:
        values = table["reinstatements"]
        if not isinstance(values, list):
            raise fail(f"{entry}.reinstatements", f"expected a list of percentages, got {values!r}")
        reinstatements = tuple(
            _share({"percentage": value}, "percentage", f"{entry}.reinstatements[{index}]", fail, upper=10)
            for index, value in enumerate(values)
        )
    return Layer(
        retention=_money(table, "retention", entry, fail),
        limit=limit,
        aggregate_deductible=_money(table, "aggregate_deductible", entry, fail, default=0),
        reinstatements=reinstatements,
        rate_on_gnpi=_share(table, "rate_on_gnpi", entry, fail, default=Decimal(0)),
    )


def _date(table: dict[str, Any], key: str, entry: str, fail: FailFn) -> pd.Timestamp | None:
    if key not in table:
        return None
    value = table[key]
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise fail(f"{entry}.{key}", f"expected a date such as 2026-04-01, got {value!r}")
    return pd.Timestamp(value)


def _treaty_year(code: str, table: Any, fail: FailFn) -> TreatyYear:
    entry = f"years.{code}"
    if not isinstance(table, dict):
        raise fail(entry, "expected a table")
    unknown = sorted(set(table) - {"start", "end", "quota_share", "excess_of_loss", "event_layer"})
    if unknown:
        raise fail(f"{entry}.{unknown[0]}", "unknown key")
    quota = table.get("quota_share")
    if not isinstance(quota, dict):
        raise fail(f"{entry}.quota_share", "missing table")
    if "excess_of_loss" not in table:
        raise fail(f"{entry}.excess_of_loss", "missing table")
    start, end = _date(table, "start", entry, fail), _date(table, "end", entry, fail)
    if start is not None and end is not None and end <= start:
        raise fail(f"{entry}.end", "must be after start")
    return TreatyYear(
        code=code,
        start=start,
        end=end,
        ceded_share=_share(quota, "ceded_share", f"{entry}.quota_share", fail),
        ceding_commission=_share(quota, "ceding_commission", f"{entry}.quota_share", fail),
        risk_layer=_layer(table["excess_of_loss"], f"{entry}.excess_of_loss", fail, annual=True),
        event_layer=_layer(table["event_layer"], f"{entry}.event_layer", fail, annual=False)
        if "event_layer" in table
        else None,
    )


def programme_from(data: dict[str, Any], products: list[str], fail: FailFn) -> Programme:
    """The checked programme of a treaty file's data (``fail(entry, problem)`` builds the error).
    Years are sorted by start (an open start first) and may not overlap."""
    years_table = data.get("years")
    if not isinstance(years_table, dict) or not years_table:
        raise fail("years", "missing: the programme needs at least one treaty year ([years.<code>])")
    years = [_treaty_year(str(code), table, fail) for code, table in years_table.items()]
    years.sort(key=lambda year: (year.start is not None, year.start or pd.Timestamp.min))
    for earlier, later in itertools.pairwise(years):
        if later.start is None:
            raise fail(f"years.{later.code}.start", "only one treaty year may leave its start open")
        if earlier.end is None or earlier.end > later.start:
            raise fail(f"years.{later.code}.start", f"overlaps treaty year {earlier.code}")
    name = data.get("name", "")
    return Programme(name=str(name), products=tuple(products), years=tuple(years))
