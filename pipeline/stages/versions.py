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

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.stages.codes import factorized

POLICY_ID, CLAIM_ID, LINE_ID = "policy_id", "claim_id", "line_id"
MONTH = "bordereau_month"


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


def latest_versions(history: pd.DataFrame, id_column: str, month: str) -> pd.DataFrame:
    """The latest version of each id among the rows of months up to ``month``, in id order of first
    appearance kept stable (rows sorted by month, then Excel row)."""
    ordered = _in_file_order(history, month)
    latest = ~pd.Series(history[id_column].array.take(ordered)).duplicated(keep="last").to_numpy(dtype=bool)
    return history.take(ordered[latest])


def _in_file_order(history: pd.DataFrame, month: str) -> np.ndarray:
    """The positions of the rows of months up to ``month``, sorted by month, then Excel row, ties
    kept in their order (a stable sort on integer keys: the month texts are coded in their own
    order, 12 or so distinct values). The frame itself is taken once, by the caller."""
    upto = np.flatnonzero((history[MONTH] <= month).to_numpy(dtype=bool))
    months, _ = pd.factorize(history[MONTH].array.take(upto), sort=True)
    rows = history["excel_row"].to_numpy(dtype=np.int64)[upto]
    return upto[np.lexsort((rows, months))]


def lines_as_at(history: pd.DataFrame, month: str) -> pd.DataFrame:
    """The lines in force as at ``month`` with ``first_month``, the first month up to ``month`` in
    which the line appeared validly (its place in the queue). Both come from the rows in file
    order: a line's latest version is its last row there, its first month the month of its first."""
    ordered = _in_file_order(history, month)
    ids, _ = factorized(pd.Series(history[LINE_ID].array.take(ordered)))
    latest = ~pd.Series(ids).duplicated(keep="last").to_numpy(dtype=bool)
    first = ~pd.Series(ids).duplicated(keep="first").to_numpy(dtype=bool)
    # ids are numbered in order of first appearance, so the first rows are already in id order
    first_month_of_id = history[MONTH].array.take(ordered[first])
    return history.take(ordered[latest]).assign(first_month=first_month_of_id.take(ids[latest]))


def as_at(history: History, month: str) -> InForce:
    """The policies, claims and lines in force as at ``month``: call it with M and with M−1 to get
    the two views a month's movements are computed from (CALCULATION.md § Time)."""
    return InForce(
        month=month,
        policies=latest_versions(history.policies, POLICY_ID, month).reset_index(drop=True),
        claims=latest_versions(history.claims, CLAIM_ID, month).reset_index(drop=True),
        lines=lines_as_at(history.lines, month).reset_index(drop=True),
    )
