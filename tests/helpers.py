"""Helpers that only the tests use: each states plainly what the pipeline does another way.

- ``validate_bordereaux``: validate a whole bordereau in one call (the run validates month by month
  with ``validate_months`` and the parse cache, then ``combined``).
- ``cumulative_cap``: the cumulative cap of CALCULATION.md on frames and any keys, the statement
  the engine's integer form (``pipeline.stages.caps.capped_rows``) is checked against.
- ``payable_history_from_lines``: the development triangle's payable history approximated from the
  lines as at M alone (the run computes it exactly, as at every month:
  ``pipeline.stages.claims.payable_history``). Each line's payable is dated at its ``first_month``;
  because the global order starts with ``first_month``, later lines never change earlier lines'
  payable, so this is exact unless a line or claim was restated in a later month.
- ``run_keeping_history``: ``run_month`` with the validated history it made kept (the run lets it
  go once the triangle has read it), for tests that compare histories.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any
from unittest import mock

import pandas as pd

import pipeline.run
from pipeline.calendar import months_from
from pipeline.io.read import Bordereaux
from pipeline.io.workbook import Sheet
from pipeline.products import ProductBook
from pipeline.reports.triangle import HISTORY_COLUMNS
from pipeline.run import RunResult
from pipeline.stages.validate import Validated, combined, row_checked, validate_months
from pipeline.stages.versions import History, Versions


def validate_bordereaux(bordereaux: Bordereaux, book: ProductBook) -> Validated:
    """Validate every month in order; each row once, as at its own month, against what is known by
    then. Returns the history of valid rows, the rejected rows and the counts per sheet."""
    sheets = {
        month: [row_checked(s, book) for s in bordereaux.sheets if s.month == month] for month in bordereaux.months
    }
    return combined(validate_months(bordereaux.months, sheets.items(), {}, book))


def cumulative_cap(amounts: pd.Series, groups: Sequence[pd.Series], limits: pd.Series) -> pd.Series:
    """What each line gets under a limit shared by its group, lines already in global order.

    ``groups`` are the key columns of the group (aligned with ``amounts``); ``limits`` is the group's
    limit on each of its lines (the same within a group), empty (NA) where the line is not capped at
    this step: those lines keep their amount. Returns int64 aligned with ``amounts``.
    """
    capped = limits.notna().to_numpy()
    result = amounts.astype("int64").copy()
    if not capped.any():
        return result
    amount = result[capped]
    keys = [group[capped] for group in groups]
    limit = limits[capped].astype("int64")
    running_total = amount.groupby(keys, sort=False, dropna=False).cumsum()
    reached = running_total.clip(upper=limit)
    reached_before = reached.groupby(keys, sort=False, dropna=False).shift(1, fill_value=0)
    result[capped] = (reached - reached_before).astype("int64")
    return result


def payable_history_from_lines(lines: pd.DataFrame, month: str) -> pd.DataFrame:
    """Per-claim payable as at every month from the first line's month to ``month``, dating each
    line's payable (as at M) at its ``first_month`` (see the module docstring for when this is
    exact). Columns ``claim_id, valuation_month, payable_total``."""
    if lines.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == "payable_total" else "str") for c in HISTORY_COLUMNS})
    by_month = lines.groupby(["claim_id", "first_month"])["payable"].sum().unstack("first_month")
    months = months_from(min(by_month.columns), month)
    cumulative = by_month.reindex(columns=months).fillna(0).astype("int64").cumsum(axis=1)
    cumulative.columns.name = "valuation_month"
    long = cumulative.stack().rename("payable_total").reset_index()  # type: ignore[call-overload]
    return long[list(HISTORY_COLUMNS)]


@dataclass(kw_only=True)
class RunKept(pipeline.run.RunResult):
    """A ``RunResult`` with the validated history the run made (every valid version of every row)."""

    history: History


def run_keeping_history(*arguments: Any, **keywords: Any) -> RunKept:
    """``run_month(*arguments, **keywords)`` with the validated history it made: the one the run
    hands to ``versions_of``, kept here since the run itself lets it go."""
    kept: list[History] = []
    versions_of = pipeline.run.versions_of

    def keeping(history: History) -> Versions:
        kept.append(history)
        return versions_of(history)

    with mock.patch.object(pipeline.run, "versions_of", keeping):
        result = pipeline.run.run_month(*arguments, **keywords)
    return RunKept(**{field.name: getattr(result, field.name) for field in fields(result)}, history=kept[0])


def sheets_made_here(result: RunResult, workbook: str) -> list[Sheet]:
    """The sheets of ``workbook`` a run made in its own process (all of them but a sheet the Dask
    engine writes from its workers: ``SheetElsewhere``, which these tests' runs do not make)."""
    sheets = result.sheets[workbook]
    here = [sheet for sheet in sheets if isinstance(sheet, Sheet)]
    assert len(here) == len(sheets), f"{workbook}: a sheet written elsewhere"
    return here


def lines_of(result: RunResult) -> pd.DataFrame:
    """The adjudicated lines as at M a run kept (every run but one whose engine wrote them from
    elsewhere: the Dask engine beyond a sheet's rows, which these tests' runs do not make)."""
    assert result.lines is not None, "the lines as at M were written elsewhere"
    return result.lines
