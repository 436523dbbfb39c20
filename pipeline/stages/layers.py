"""The layers of the reinsurance programme as vectorised small functions (REINSURANCE.md § Rules).

Each function works on whole columns at one valuation (as at M, or as at M−1): no loop over claims or
events. Treaty years are integer codes (their index in ``Programme.years``, −1 for a row in no year);
the terms of a row's year are looked up per row from :func:`year_terms`. Every cumulative figure is
``pipeline.stages.caps.capped_excess`` (the grouped running total + clip of the claims waterfall) on
rows already put in the layer's order, so a row never changes what the rows before it got:

- :func:`treaty_year_codes`: the year in which each policy's ``period_start`` falls (risks attaching);
- :func:`treaty_order`: claims in ``(year, first_month, known_date, claim_id)``;
- :func:`risk_layer_loss` and :func:`aggregate_recoveries`: the per-risk layer, its AAD and aggregate
  limit (limit × (1 + reinstatements), unbounded when ``reinstatements`` is omitted);
- :func:`reinstatement_premium_at`: RP(x) = floor(Σₖ pₖ × P × clip(x − (k−1)·L, 0, L) / L) in exact
  integers (Python integers in object arrays: P × L × pₖ's numerator can pass int64);
- :func:`event_codes`, :func:`event_layer_loss`, :func:`event_order`: claims joined by
  ``cat_event_id`` within a year (a claim without one is its own event), the event layer's loss per
  claim within its event, and the events in order of their first claim.
"""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pandas as pd

from pipeline.money import INT64_MAX, ratio_parts
from pipeline.products.programme import Layer, Programme
from pipeline.stages.caps import capped_excess, group_cumsum
from pipeline.stages.codes import dense, factorized, text_order_codes

UNBOUNDED = INT64_MAX // 4
"""The aggregate limit of a layer whose ``reinstatements`` are omitted (far above any sum of yen)."""

OUTSIDE = -1
"""The year code of a policy or claim in no treaty year."""


def _percentages(layer: Layer | None) -> tuple[Decimal, ...]:
    return tuple(layer.reinstatements or ()) if layer is not None else ()


def year_terms(programme: Programme) -> pd.DataFrame:
    """One row per treaty year (index = year code) with every term the layers need as integers:
    quota share and commission as (numerator, denominator); per layer ``retention``, ``limit``,
    ``aad``, ``aggregate_limit`` (``UNBOUNDED`` when omitted), ``rate`` as (numerator, denominator),
    and the reinstatement percentages over one common denominator (``<layer>_reinstatement_<k>``
    numerators, ``<layer>_reinstatement_denominator``). A year without an event layer has limit 0."""
    count = max([len(_percentages(layer)) for y in programme.years for layer in (y.risk_layer, y.event_layer)] + [0])
    rows = []
    for year in programme.years:
        row: dict[str, object] = {"code": year.code}
        row["qs_num"], row["qs_den"] = ratio_parts(year.ceded_share)
        row["commission_num"], row["commission_den"] = ratio_parts(year.ceding_commission)
        for name, layer in (("risk", year.risk_layer), ("event", year.event_layer)):
            present = layer is not None
            row[f"{name}_retention"] = layer.retention if layer else 0
            row[f"{name}_limit"] = layer.limit if layer else 0
            row[f"{name}_aad"] = layer.aggregate_deductible if layer else 0
            aggregate = layer.aggregate_limit if layer else 0
            row[f"{name}_aggregate_limit"] = UNBOUNDED if present and aggregate is None else aggregate
            row[f"{name}_rate_num"], row[f"{name}_rate_den"] = ratio_parts(layer.rate_on_gnpi if layer else 0)
            parts = [ratio_parts(p) for p in _percentages(layer)]
            common = math.lcm(*[den for _, den in parts]) if parts else 1
            row[f"{name}_reinstatement_denominator"] = common
            for k in range(count):
                row[f"{name}_reinstatement_{k}"] = parts[k][0] * (common // parts[k][1]) if k < len(parts) else 0
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame.attrs["reinstatements"] = count
    return frame


def on_rows(terms: pd.DataFrame, column: str, year: np.ndarray) -> np.ndarray:
    """The year's ``column`` on each row (0 for rows in no year), int64."""
    values = np.append(terms[column].to_numpy(dtype=np.int64), 0)
    return np.asarray(np.take(values, np.where(year >= 0, year, len(values) - 1)), dtype=np.int64)


def treaty_year_codes(period_start: pd.Series, programme: Programme) -> np.ndarray:
    """Per policy, the code of the treaty year ``[start, end)`` in which its ``period_start`` falls
    (years sorted by start and disjoint), ``OUTSIDE`` (−1) when none or the date is empty."""
    dates = pd.to_datetime(period_start).to_numpy(dtype="datetime64[ns]")
    empty = np.isnat(dates)
    nanos = dates.view(np.int64)
    starts = np.array([y.start.value if y.start is not None else -INT64_MAX for y in programme.years], np.int64)
    ends = np.array([y.end.value if y.end is not None else INT64_MAX for y in programme.years], np.int64)
    index = np.searchsorted(starts, nanos, side="right") - 1
    inside = (index >= 0) & ~empty
    inside &= nanos < np.take(ends, np.clip(index, 0, None))
    return np.where(inside, index, OUTSIDE).astype(np.int64)


def treaty_order(year: np.ndarray, first_month: pd.Series, known_date: pd.Series, claim_id: pd.Series) -> np.ndarray:
    """The positions of the claims in treaty order: by year, then ``(first_month, known_date,
    claim_id)`` (REINSURANCE.md § Treaty order). Stable."""
    known = pd.to_datetime(known_date).to_numpy(dtype="datetime64[ns]").view(np.int64)
    keys = (text_order_codes(claim_id), known, text_order_codes(first_month), year)
    return np.asarray(np.lexsort(keys), dtype=np.int64)


def risk_layer_loss(retained: np.ndarray, retention: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """``min(max(retained − retention, 0), limit)``: the claim's loss to the per-risk layer."""
    return np.asarray(np.clip(retained - retention, 0, limit), dtype=np.int64)


def aggregate_recoveries(
    losses: np.ndarray, year: np.ndarray, deductible: np.ndarray, aggregate_limit: np.ndarray
) -> np.ndarray:
    """Per claim in the layer's order, ``clip(after − AAD, 0, AL) − clip(before − AAD, 0, AL)`` with
    ``after``/``before`` the year's running total of layer losses with/without the claim. Rows in
    no year (``year`` −1) recover 0."""
    inside = year >= 0
    recovered = np.zeros(len(losses), dtype=np.int64)
    if inside.any():
        rows = np.flatnonzero(inside)
        recovered[rows] = capped_excess(losses[rows], year[rows], deductible[rows], aggregate_limit[rows])
    return recovered


def running_total(values: np.ndarray, year: np.ndarray) -> np.ndarray:
    """The year's running total of ``values`` up to and including each row (rows in layer order;
    rows in no year get their own value)."""
    inside = year >= 0
    total = values.astype(np.int64, copy=True)
    if inside.any():
        rows = np.flatnonzero(inside)
        total[rows] = group_cumsum(values[rows], year[rows])
    return total


def reinstatement_premium_at(
    recovered: np.ndarray, limit: np.ndarray, premium: np.ndarray, numerators: list[np.ndarray], denominator: np.ndarray
) -> np.ndarray:
    """RP(x) for cumulative recoveries x = ``recovered``: ``floor(Σₖ pₖ × P × clip(x − (k−1)·L, 0, L)
    / L)`` with pₖ = ``numerators[k] / denominator`` (per row), P the layer premium and L the limit
    (a row with L = 0 gets 0). Exact: the products are Python integers (object arrays, vectorised)."""
    result = np.zeros(len(recovered), dtype=np.int64)
    rows = np.flatnonzero((recovered > 0) & (limit > 0) & (premium > 0))  # RP is 0 elsewhere
    if not len(rows) or not numerators:
        return result
    x, cap, paid = recovered[rows], limit[rows], premium[rows].astype(object)
    total = np.zeros(len(rows), dtype=object)
    for k, numerator in enumerate(numerators):  # one pass per reinstatement of the data, not per claim
        reinstated = np.clip(x - k * cap, 0, cap)
        total = total + numerator[rows].astype(object) * paid * reinstated.astype(object)
    result[rows] = (total // (denominator[rows].astype(object) * cap.astype(object))).astype(np.int64)
    return result


def event_codes(year: np.ndarray, cat_event_id: pd.Series) -> np.ndarray:
    """Per claim, an integer code of its event: same treaty year and same ``cat_event_id``; a claim
    without one (or in no year) is its own event."""
    code, distinct = factorized(cat_event_id)
    own = (code < 0) | (year < 0)
    width = len(distinct) + 1
    shared = (np.maximum(year, 0) + 1) * width + code  # below every own key
    own_key = (int(year.max(initial=0)) + 2) * width + np.arange(len(year), dtype=np.int64)
    return dense(np.where(own, own_key, shared))


def event_layer_loss(net: np.ndarray, event: np.ndarray, retention: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """Per claim in treaty order, ``clip(e_after − retention, 0, limit) − clip(e_before − retention,
    0, limit)`` with e_after/e_before the event's running total of ``net_after_risk_xol`` with/without
    the claim. A year without an event layer has limit 0: loss 0."""
    return capped_excess(net, event, retention, limit)


def event_order(event: np.ndarray) -> np.ndarray:
    """Given the claims' event codes in treaty order, the positions that put them in (event order,
    treaty order): events ordered by their first claim. Stable."""
    position = np.arange(len(event), dtype=np.int64)
    first = pd.Series(position).groupby(event, sort=False).transform("min").to_numpy(dtype=np.int64)
    return np.asarray(np.lexsort((position, first)), dtype=np.int64)
