"""The cumulative cap, the one primitive behind every deductible, sub-limit and limit of the waterfall.

CALCULATION.md § Waterfall: "A cumulative cap means: in global order within the group, a line gets
``min(its amount, limit − what earlier lines of the group got)``, never below 0."

With amounts ≥ 0 the lines of a group together get ``min(running total of amounts, limit)`` up to and
including each line, so a line's share is that figure minus the same figure for the line before it:
one ``groupby().cumsum()``, one clip and one ``groupby().shift()`` — no loop over lines or groups.

The engine uses the integer form, ``capped_rows``: groups are single int64 codes, lines are already
in the global order of ``global_order`` (integer keys, one sort), and a line's share is
``clip(limit − what earlier lines asked for, 0, amount)`` with a single grouped running total;
``capped_at_level`` picks each line's group at a level of the waterfall (claim, series, policy) and
caps it. ``capped_excess`` is the same running total with a deductible below the limit: a
reinsurance layer's annual aggregate deductible and limit (``pipeline.stages.layers``). The plain
pandas statement of the rule, ``cumulative_cap``, is a test helper (``tests/helpers.py``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.arrow_text import arrow_strings

try:  # pandas' own grouped running-total kernel, what GroupBy.cumsum calls (pandas >= 2.0)
    from pandas._libs.groupby import group_cumsum as PANDAS_GROUP_CUMSUM
except ImportError:  # a pandas that keeps it elsewhere: group_cumsum's public path, the same figures
    PANDAS_GROUP_CUMSUM = None


def made(array: np.ndarray | Callable[[], np.ndarray]) -> np.ndarray:
    """``array``, or what it makes when it is a function: a temporary that the cap asks for only when
    it reads it, so that it is not alive beside the others (a lower peak at millions of lines)."""
    return array() if callable(array) else array


def capped_rows(
    amounts: np.ndarray,
    rows: np.ndarray,
    keys: np.ndarray | Callable[[], np.ndarray],
    limits: np.ndarray | Callable[[], np.ndarray],
    in_place: bool = False,
) -> np.ndarray:
    """The cumulative cap on integer arrays: ``amounts`` (>= 0) of the lines in global order, of which
    the lines at ``rows`` (ascending positions) are capped, ``keys`` (their group as one int64 code)
    and ``limits`` (their group's limit) aligned with ``rows``, each given or made when read
    (``made``: the keys are freed before the limits are made). Returns the new amounts (int64): a
    new array, or ``amounts`` itself written over when ``in_place`` (an intermediate of the caller's
    own, between two levels of one step: one array of every line fewer at the step's peak).

    With ``before`` = what earlier lines of the group asked for (running total minus the line's own
    amount), a line gets ``clip(limit - before, 0, amount)``: the same as the difference of
    ``min(running total, limit)`` between the line and the one before it, with one groupby. A line
    of amount 0 gets 0 and adds nothing, so callers may leave such lines out of ``rows``.
    """
    if len(rows) == 0:
        return amounts if in_place else amounts.copy()
    key = made(keys)  # made before the amounts: its own temporaries are gone when they are taken
    amount = np.take(amounts, rows)
    share = group_cumsum(amount, key)
    del key
    share -= amount  # what earlier lines of the group asked for
    np.subtract(made(limits), share, out=share)
    np.clip(share, 0, amount, out=share)
    del amount  # the copy below is made once the temporaries are freed: a lower peak
    result = amounts if in_place else amounts.copy()
    result[rows] = share
    return result


def _group_keys(
    rows: np.ndarray, level: np.ndarray, groups: np.ndarray, within: tuple[np.ndarray, int] | None
) -> np.ndarray:
    """The group code of each line at ``rows`` (``capped_at_level``), renumbered densely
    (``dense_in_place``)."""
    key = rows * groups.shape[1]
    key += np.take(level, rows)
    key[:] = np.take(groups.reshape(-1), key)  # the group code, widened in place
    if within is not None:
        key *= within[1]
        key += np.take(within[0], rows)
    dense_in_place(key)
    return key


def dense_in_place(keys: np.ndarray) -> None:
    """Renumber ``keys`` (int64 >= 0) in place as 0, 1, 2, ... in the order of their values, when the
    codes used are few beside the range they span: the running totals' table (``group_cumsum``)
    then has a row per group used, not per code (at 10M lines, a limit level's codes span 10M where
    2M are used: 0.13 GB less, and a table that stays in cache). Sparser keys are left to
    ``group_cumsum``, which factorizes them."""
    size = int(keys.max()) + 1 if len(keys) else 0
    if size <= 1 << 16 or size > 2 * len(keys) + 1024:
        return
    used = np.zeros(size, dtype=bool)
    used[keys] = True
    rank = np.cumsum(used, dtype=np.int64)
    del used
    rank -= 1
    np.take(rank, keys, out=keys, mode="clip")  # every key is in range: no bounds to raise on


def capped_at_level(
    amounts: np.ndarray,
    applies: np.ndarray,
    level: np.ndarray,
    limits: np.ndarray | Callable[[np.ndarray], np.ndarray],
    groups: np.ndarray,
    within: tuple[np.ndarray, int] | None = None,
    in_place: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """``amounts`` (>= 0, lines in global order) with the lines where ``applies`` capped cumulatively
    at ``limits`` per group, and the positions of the lines capped.

    A line's group is ``groups[line, level[line]]`` (``groups``: one int64 code per line and level;
    a line with ``level`` -1 is not capped at this step), subdivided by ``within``: codes and their
    bound (the part or the catalogue row). Lines of amount 0 are left out (they get 0 anyway).
    ``limits`` is every line's limit, or a function giving the limits of the lines at the positions
    it is given (so that a step need not hold every line's limit); ``in_place`` as ``capped_rows``.
    """
    rows = np.flatnonzero(applies & (level >= 0) & (amounts > 0))
    return capped_rows(
        amounts,
        rows,
        lambda: _group_keys(rows, level, groups, within),
        lambda: limits(rows) if callable(limits) else np.take(limits, rows),
        in_place,
    ), rows


def group_cumsum(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The running total of ``values`` within each group, in the order given (a new int64 array the
    caller may write into); ``keys`` (>= 0) is each value's group.

    The keys are used directly as group codes (no hashing: several times faster than grouping by
    int64 values), after renumbering them densely when they are sparse, and handed to pandas' own
    grouped-cumsum kernel (``PANDAS_GROUP_CUMSUM``, the one ``GroupBy.cumsum`` runs). Through the
    public ``groupby`` on a categorical grouper the same figures cost a result index and a copy of
    the codes first: 0.18 GB more at the claims engine's peak at 10M lines (its cumulative caps) and
    about 0.05 s a call. pandas' internal module is not a public API: the tests check the kernel is
    found and gives what the public path gives, which stays as the fallback.
    """
    size = int(keys.max()) + 1 if len(keys) else 0
    if size > 2 * len(keys) + 1024:
        keys, uniques = pd.factorize(keys)
        size = len(uniques)
    if PANDAS_GROUP_CUMSUM is not None:
        running = np.empty((len(values), 1), dtype=np.int64)
        column = np.ascontiguousarray(values, dtype=np.int64).reshape(-1, 1)
        PANDAS_GROUP_CUMSUM(running, column, np.ascontiguousarray(keys, dtype=np.intp), size, False, True)
        return running[:, 0]
    groups = pd.Series(pd.Categorical.from_codes(keys, categories=pd.RangeIndex(size)), copy=False)
    total = pd.Series(values, copy=False).groupby(groups, observed=False, sort=True).cumsum()
    return np.array(total.to_numpy(), dtype=np.int64)  # a copy: pandas' result is read-only


def _bits(key: np.ndarray) -> int:
    return int(key.max()).bit_length() if len(key) else 0


def _dense_pairs(first: np.ndarray, second: np.ndarray) -> np.ndarray | None:
    """Keys >= 0 that sort as the pairs ``(first, second)``, numbered densely through a small table
    of every possible pair (None when that table would be large)."""
    if len(first) == 0:
        return None
    first_size, second_size = int(first.max()) + 1, int(second.max()) + 1
    if first_size * second_size > 1 << 22:
        return None
    pair = first.astype(np.int64) * second_size + second  # the keys may come in fewer bytes
    seen = np.zeros(first_size * second_size, dtype=bool)
    seen[pair] = True
    rank = np.cumsum(seen, dtype=np.int64) - 1
    result: np.ndarray = np.take(rank, pair)
    return result


def global_order(
    month: np.ndarray, spent: np.ndarray, claim: np.ndarray, number: np.ndarray, line_ids: pd.Series
) -> np.ndarray:
    """The positions of the lines in the global order ``(first_month, spent_date, claim_id, item
    number, line_id)``, given integer keys that sort as those columns do (``month``, ``spent``,
    ``claim``, ``number``: >= 0, empties already mapped after every value). Stable.

    The keys and the line's position are packed into one uint64 and sorted as values when they fit
    (faster than an argsort), else packed without the position and argsorted, else ``np.lexsort``.
    Lines that tie on all four keys (rare) are then ordered by the text of ``line_ids`` in each tie.
    """
    n = len(month)
    leading = _dense_pairs(month, spent)
    keys = [month, spent, claim, number] if leading is None else [leading, claim, number]
    widths = [_bits(key) for key in keys]
    position_bits = _bits(np.array([max(n - 1, 0)]))
    if sum(widths) + position_bits <= 64:
        packed = np.zeros(n, dtype=np.uint64)
        for key, width in zip([*keys, np.arange(n, dtype=np.uint64)], [*widths, position_bits], strict=True):
            packed <<= np.uint64(width)
            np.bitwise_or(packed, key, out=packed, dtype=np.uint64, casting="unsafe")  # keys >= 0: no copy
        del keys
        packed.sort()
        order = (packed & np.uint64((1 << position_bits) - 1)).view(np.int64)
        packed >>= np.uint64(position_bits)
        same = packed[1:] == packed[:-1]
        del packed
    elif sum(widths) <= 63:
        packed = np.zeros(n, dtype=np.int64)
        for key, width in zip(keys, widths, strict=True):
            packed = (packed << width) | key
        order = np.argsort(packed, kind="stable")
        ordered = np.take(packed, order)
        same = ordered[1:] == ordered[:-1]
    else:
        order = np.lexsort(keys[::-1])
        same = np.ones(max(n - 1, 0), dtype=bool)
        for key in keys:
            ordered = np.take(key, order)
            same &= ordered[1:] == ordered[:-1]
    if not same.any():
        return order
    in_tie = np.zeros(n, dtype=bool)
    in_tie[1:] |= same
    in_tie[:-1] |= same
    at = np.flatnonzero(in_tie)
    # a tie's first line is not the same as the line before it: numbered among the lines in ties only
    tie = np.cumsum(np.concatenate(([True], ~same))[at])
    rows = order[at]
    ids = arrow_strings(line_ids.iloc[rows])
    within = pc.sort_indices(pa.table({"tie": tie, "id": ids}), sort_keys=[("tie", "ascending"), ("id", "ascending")])
    order[at] = rows[np.asarray(within, dtype=np.int64)]
    return order


def capped_excess(amounts: np.ndarray, keys: np.ndarray, deductible: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """Each row's share of ``clip(running total − deductible, 0, limit)`` within its group: the
    annual aggregate deductible and limit of a reinsurance layer (REINSURANCE.md), rows already in
    the layer's order, ``amounts`` >= 0, ``keys`` (>= 0) each row's group, ``deductible`` and
    ``limit`` the group's terms on each row. With ``after`` the group's running total up to and
    including the row and ``before`` = after − the row's amount, the row gets
    ``clip(after − deductible, 0, limit) − clip(before − deductible, 0, limit)`` (int64), so a row
    never changes what the rows before it got."""
    after = group_cumsum(amounts, keys)
    before = after - amounts
    reached = np.clip(after - deductible, 0, limit)
    reached_before = np.clip(before - deductible, 0, limit)
    return np.asarray(reached - reached_before, dtype=np.int64)
