"""One version per id as at a month (CALCULATION.md § Time).

The validated history holds every valid row of every month, each validated once as at its own
month. As at month M, the latest valid row of each ``policy_id`` / ``claim_id`` / ``line_id`` up to
M is in force; an invalid restatement never entered the history, so the earlier valid version stays
in force. A line keeps ``first_month``, the first month in which it appeared validly (its place in
the queue).

Cross-table rules hold in every as-at view by construction (pipeline.stages.validate): a claim or
line is only accepted against what is in force as at its own month, ids never disappear from a later
view, and a restatement that would break rows already on file (a policy changing product under its
claims, a claim moving policy or dropping ``claim_made_date`` under its lines) is rejected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

import numpy as np
import pandas as pd

from pipeline.stages.codes import factorized

POLICY_ID, CLAIM_ID, LINE_ID = "policy_id", "claim_id", "line_id"
MONTH = "bordereau_month"
EXCEL_ROW = "excel_row"


@dataclass(frozen=True)
class History:
    """Every valid version of every row, all months (PolicyValid, ClaimValid, LineValid)."""

    policies: pd.DataFrame
    claims: pd.DataFrame
    lines: pd.DataFrame


@dataclass(frozen=True)
class InForce:
    """The policies, claims and lines in force as at ``month`` (one row per id)."""

    month: str
    policies: pd.DataFrame
    claims: pd.DataFrame
    lines: pd.DataFrame


@dataclass(frozen=True)
class FileOrder:
    """One table of the history in file order (month, then Excel row; ties in the history's order),
    worked out once for every valuation month a run asks for: the rows of months up to M are the
    first rows of this order, and a row is its id's latest version as at M when its id's next row
    comes later than those (or never).

    ``positions`` are the history's row positions in file order; ``months`` the distinct months in
    order and ``month_ends`` how many rows in file order are of each month or earlier;
    ``next_version`` (per file-order position) where the same id's next row is in file order (the
    number of rows when there is none) and ``first_version`` where its first row is."""

    positions: np.ndarray
    months: pd.Index
    month_ends: np.ndarray
    next_version: np.ndarray
    first_version: np.ndarray

    def rows_up_to(self, month: str) -> int:
        """How many rows in file order are of ``month`` or earlier."""
        before = int(self.months.searchsorted(month, side="right"))
        return int(self.month_ends[before - 1]) if before else 0

    def latest(self, month: str) -> np.ndarray:
        """The file-order positions of the latest version of each id as at ``month``, in file order."""
        end = self.rows_up_to(month)
        return np.flatnonzero(self.next_version[:end] >= end)

    def places(self) -> np.ndarray:
        """Each row's place in file order (by the history's row position): sorting any of the rows by
        it puts them in file order."""
        place = np.empty(len(self.positions), dtype=np.int64)
        place[self.positions] = np.arange(len(self.positions))
        return place

    def row_months(self) -> pd.Index:
        """Each row's month (by the history's row position)."""
        month = np.empty(len(self.positions), dtype=np.int64)
        month[self.positions] = np.searchsorted(self.month_ends, np.arange(len(self.positions)), side="right")
        return self.months.take(month)


def file_order(history: pd.DataFrame, id_column: str, row: str = EXCEL_ROW) -> FileOrder:
    """The :class:`FileOrder` of one table of the history: one stable sort on integer keys (the
    month texts coded in their own order, a dozen or so distinct values, then the Excel row, or
    another ``row`` column that orders the rows within a month: a part of the history on a Dask
    worker has each row's place in the whole history's file order) and one grouping of the ids,
    whatever the number of valuation months."""
    month_codes, months = pd.factorize(history[MONTH], sort=True)
    rows = history[row].to_numpy(dtype=np.int64)
    positions = np.lexsort((rows, month_codes))
    month_ends = np.searchsorted(month_codes[positions], np.arange(len(months)), side="right")
    # each row's id coded where it is and the codes put in file order, the ids' text not copied (an
    # empty id, coded -1, is one id of its own, 0)
    codes, _ = factorized(history[id_column])
    ids = codes[positions] + 1
    count = len(positions)
    by_id = np.argsort(ids, kind="stable")  # each id's rows together, in file order
    same = ids[by_id[1:]] == ids[by_id[:-1]]
    next_version = np.full(count, count, dtype=np.int64)
    next_version[by_id[:-1][same]] = by_id[1:][same]
    firsts = by_id[np.concatenate([[True], ~same])] if count else by_id  # each id's first row in file order
    first_of = np.zeros(int(ids.max()) + 1 if count else 0, dtype=np.int64)
    first_of[ids[firsts]] = firsts
    return FileOrder(positions, pd.Index(months), month_ends, next_version, first_of[ids])


def latest_versions(history: pd.DataFrame, id_column: str, month: str) -> pd.DataFrame:
    """The latest version of each id among the rows of months up to ``month``, in id order of first
    appearance kept stable (rows sorted by month, then Excel row)."""
    order = file_order(history, id_column)
    return history.take(order.positions[order.latest(month)])


LINES_ELSEWHERE: tuple[str, ...] = ()
"""``Versions.as_at``'s ``line_columns`` for a view that keeps none of its lines' columns, their
number and index only (the Dask engine's run: its workers make the lines whole)."""


def _only(frame: pd.DataFrame, names: Iterable[str]) -> pd.DataFrame:
    """``frame`` with only those of ``names`` it has, in its own column order (the columns share
    its data: nothing is copied)."""
    wanted = set(names)
    return frame[[column for column in frame.columns if column in wanted]]


@dataclass(frozen=True)
class Versions:
    """The history with each table's :class:`FileOrder`: the rows in force as at any month, each
    month found without sorting the history again."""

    history: History
    policies: FileOrder
    claims: FileOrder
    lines: FileOrder

    def as_at(self, month: str, line_columns: Sequence[str] | None = None) -> InForce:
        """The policies, claims and lines in force as at ``month``: call it with M and with M−1 to
        get the two views a month's movements are computed from (CALCULATION.md § Time). A line
        carries ``first_month``, the month of its first valid row (its place in the queue).
        ``line_columns`` keeps only those of the lines' columns (the history's order; those it lacks
        are left out) beside ``first_month``: a view that only the claims engine reads (as at M−1,
        and the triangle's earlier months) is copied with the columns the engine reads, not the
        thirty-odd of every line; ``LINES_ELSEWHERE`` none of them, ``first_month`` neither (a view
        whose lines the claims engine makes where it keeps them: their number and index only)."""
        history = self.history
        policies = history.policies.take(self.policies.positions[self.policies.latest(month)])
        claims = history.claims.take(self.claims.positions[self.claims.latest(month)])
        kept = self.lines.latest(month)
        if line_columns is not None and not line_columns:
            lines = pd.DataFrame(index=pd.RangeIndex(len(kept)))
        else:
            first_month = history.lines[MONTH].array.take(self.lines.positions[self.lines.first_version[kept]])
            every_line = history.lines if line_columns is None else _only(history.lines, line_columns)
            lines = every_line.take(self.lines.positions[kept]).assign(first_month=first_month)
        return InForce(
            month=month,
            policies=policies.reset_index(drop=True),
            claims=claims.reset_index(drop=True),
            lines=lines.reset_index(drop=True),
        )

    def keeping(self, *, policies: Sequence[str], claims: Sequence[str], lines: Sequence[str]) -> Versions:
        """These versions with only the named columns of each table of the history (those it has,
        in its order; the lines' month always, which ``as_at`` reads for ``first_month``): once a run
        has made its views as at M and M−1, the triangle's views are read by the claims engine alone,
        and the history's other columns (the cells as read, provenance) can be let go before them.
        The same rows, so the file orders worked out once still hold."""
        history = History(
            _only(self.history.policies, policies),
            _only(self.history.claims, claims),
            _only(self.history.lines, [*lines, MONTH]),
        )
        return replace(self, history=history)

    def each_as_at(self, months: Sequence[str], line_columns: Sequence[str] | None = None) -> Mapping[str, InForce]:
        """The views as at each of ``months`` (with ``line_columns`` as ``as_at``), each made when it
        is asked for and not kept (:class:`MadeWhenAsked`): a run that goes through ten earlier
        months holds one at a time."""
        return MadeWhenAsked(tuple(months), lambda month: self.as_at(month, line_columns))


Value = TypeVar("Value")


@dataclass(frozen=True, eq=False)
class MadeWhenAsked(Mapping[str, Value]):
    """A mapping of each of ``months`` (in that order) to ``make(month)``, made each time it is asked
    for and never kept: its reader decides how many values are alive at once (listing, counting
    and asking whether a month is there make none)."""

    months: tuple[str, ...]
    make: Callable[[str], Value]

    def __getitem__(self, month: str) -> Value:
        if month not in self.months:
            raise KeyError(month)
        return self.make(month)

    def __contains__(self, month: object) -> bool:
        return month in self.months

    def __iter__(self) -> Iterator[str]:
        return iter(self.months)

    def __len__(self) -> int:
        return len(self.months)


def versions_of(history: History, row: str = EXCEL_ROW) -> Versions:
    """The history made ready for as-at views of any month (:class:`Versions`; ``row`` as in
    ``file_order``)."""
    return Versions(
        history,
        file_order(history.policies, POLICY_ID, row),
        file_order(history.claims, CLAIM_ID, row),
        file_order(history.lines, LINE_ID, row),
    )


def as_at(history: History, month: str) -> InForce:
    """The policies, claims and lines in force as at ``month`` (:meth:`Versions.as_at`; a run that
    asks for several months makes its :class:`Versions` once)."""
    return versions_of(history).as_at(month)
