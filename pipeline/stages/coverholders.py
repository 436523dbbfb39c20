"""Many cover-holders, one portfolio (LAYOUTS.md): each month's validated rows marked with their
cover-holder and, when the input holds several cover-holders, every id scoped by it.

Each cover-holder's months are validated on their own (a claim can only name a policy of its own
cover-holder), then their outcomes are marked here and combined. With several cover-holders an id
is written ``<coverholder>:<id>`` (two cover-holders may both send policy ``P001``); with one
cover-holder whose month folders are directly under the input, ids stay exactly as sent.
``cat_event_id`` is never scoped: it names one market-wide cyber event (REINSURANCE.md), which the
event layer aggregates across every cover-holder.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

import pandas as pd

from pipeline.stages.validate import MonthValidated

COVERHOLDER = "coverholder"
SCOPE_SEPARATOR = ":"
# The ids of each validated table that name a row of one cover-holder.
SCOPED_IDS = {
    "policies": ("policy_id",),
    "claims": ("claim_id", "policy_id", "series_id"),
    "lines": ("line_id", "claim_id"),
}
TOP_REASONS = 3


def scoped_ids(ids: pd.Series, code: str) -> pd.Series:
    """``<code>:<id>`` for every id given (an empty or missing id stays as it is)."""
    given = ids.notna() & (ids.astype("str") != "")
    return ids.mask(given, code + SCOPE_SEPARATOR + ids.astype("str")).astype(ids.dtype)


def _marked(frame: pd.DataFrame, table: str, code: str, scoped: bool) -> pd.DataFrame:
    updates = {column: scoped_ids(frame[column], code) for column in SCOPED_IDS[table] if scoped}
    marked = frame.assign(**updates)
    marked.insert(0, COVERHOLDER, pd.Series(code, index=frame.index, dtype="str"))
    return marked


def coverholder_month(result: MonthValidated, code: str, *, scoped: bool) -> MonthValidated:
    """One cover-holder's month outcome with a ``coverholder`` column first on every table (and on
    every count) and, when ``scoped``, its ids scoped by ``code``."""
    rejected = result.rejected.copy()
    rejected.insert(0, COVERHOLDER, pd.Series(code, index=rejected.index, dtype="str"))
    prefix = code + SCOPE_SEPARATOR if scoped else ""
    return replace(
        result,
        policies=_marked(result.policies, "policies", code, scoped),
        claims=_marked(result.claims, "claims", code, scoped),
        lines=_marked(result.lines, "lines", code, scoped),
        rejected=rejected,
        counts=[{COVERHOLDER: code, **count} for count in result.counts],
        rejected_policies=frozenset(prefix + i for i in result.rejected_policies),
        rejected_claims=frozenset(prefix + i for i in result.rejected_claims),
    )


def in_month_order(outcomes: Iterable[Sequence[MonthValidated]]) -> list[MonthValidated]:
    """Every cover-holder's months, one list, in month order (cover-holders in the order given)."""
    return sorted((month for months in outcomes for month in months), key=lambda month: month.month)


def data_quality(months: Sequence[MonthValidated]) -> pd.DataFrame:
    """Per cover-holder and month: rows read, processed and rejected, and the most frequent
    rejection reasons (``reason (rows)``, most first) — the ``data_quality`` sheet."""
    counts = pd.DataFrame(
        [count for month in months for count in month.counts],
        columns=[COVERHOLDER, "month", "file", "sheet", "rows_read", "rows_processed", "rows_rejected"],
    )
    keys = [COVERHOLDER, "month"]
    table = counts.groupby(keys, sort=False)[["rows_read", "rows_processed", "rows_rejected"]].sum().reset_index()
    rejected = pd.concat([month.rejected for month in months], ignore_index=True)
    if rejected.empty:
        return table.assign(top_reasons="").sort_values(keys, kind="stable").reset_index(drop=True)
    rows = rejected.drop_duplicates([*keys, "file", "sheet", "row", "reason"])
    reasons = rows.groupby([*keys, "reason"], sort=False).size().rename("rows").reset_index()
    reasons = reasons.sort_values([*keys, "rows", "reason"], ascending=[True, True, False, True], kind="stable")
    top = reasons.groupby(keys, sort=False).head(TOP_REASONS)
    text = (
        top.assign(shown=top["reason"] + " (" + top["rows"].astype(str) + ")")
        .groupby(keys, sort=False)["shown"]
        .agg("; ".join)
        .rename("top_reasons")
        .reset_index()
    )
    table = table.merge(text, on=keys, how="left")
    table = table.assign(top_reasons=table["top_reasons"].fillna(""))
    return table.sort_values(keys, kind="stable").reset_index(drop=True)
