"""The cumulative cap, the one primitive behind every deductible, sub-limit and limit of the waterfall.

CALCULATION.md § Waterfall: "A cumulative cap means: in global order within the group, a line gets
``min(its amount, limit − what earlier lines of the group got)``, never below 0."

With amounts ≥ 0 the lines of a group together get ``min(running total of amounts, limit)`` up to and
including each line, so a line's share is that figure minus the same figure for the line before it:
one ``groupby().cumsum()``, one clip and one ``groupby().shift()`` — no loop over lines or groups.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

GLOBAL_ORDER = ["first_month", "spent_date", "claim_id", "item_number", "line_id"]
"""CALCULATION.md § Order: every cumulative step walks the lines in this order."""


def in_global_order(lines: pd.DataFrame) -> pd.DataFrame:
    """``lines`` sorted into the global order ``(first_month, spent_date, claim_id, item number,
    line_id)``; lines without an item number (never-paid items) go last among equals. Stable."""
    return lines.sort_values(GLOBAL_ORDER, kind="stable", na_position="last")


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
