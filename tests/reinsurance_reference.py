"""A deliberately plain, row-by-row reference of the reinsurance programme (REINSURANCE.md § Rules).

One claim at a time in Python integers and ``fractions.Fraction``, written straight from the spec's
sentences and sharing no code with ``pipeline.stages.layers``: the property tests compare the engine
with it on generated books. Only as at one valuation (movements are differences of two valuations).
"""

from __future__ import annotations

import math
from collections import defaultdict
from fractions import Fraction
from typing import Any

import pandas as pd

from pipeline.products.programme import Layer, Programme, TreatyYear


def year_of(period_start: Any, programme: Programme) -> TreatyYear | None:
    """The treaty year in which ``period_start`` falls, None when none."""
    if period_start is None or pd.isna(period_start):
        return None
    date = pd.Timestamp(period_start)
    for year in programme.years:
        if (year.start is None or year.start <= date) and (year.end is None or date < year.end):
            return year
    return None


def floor(value: Fraction) -> int:
    return math.floor(value)


def reinstatement_premium(x: int, layer: Layer, premium: int) -> int:
    """RP(x) = floor(Σₖ pₖ × P × clip(x − (k−1)·L, 0, L) / L)."""
    total = Fraction(0)
    for k, percentage in enumerate(layer.reinstatements or (), start=1):
        reinstated = min(max(x - (k - 1) * layer.limit, 0), layer.limit)
        total += Fraction(percentage) * premium * reinstated / layer.limit
    return floor(total)


def _aggregate_limit(layer: Layer) -> float | int:
    return math.inf if layer.reinstatements is None else layer.limit * (1 + len(layer.reinstatements))


def _clip(value: int, low: int, high: float | int) -> int:
    return int(min(max(value, low), high))


def reference(policies: list[dict[str, Any]], claims: list[dict[str, Any]], programme: Programme) -> dict[str, Any]:
    """Per-claim figures (dict by claim id) and per-year premiums (``premiums``: code -> dict).

    ``policies``: dicts with policy_id, product, period_start, written_premium (None for a referral).
    ``claims``: dicts with claim_id, policy_id, payable_total, first_month, known_date, cat_event_id.
    """
    policy_year: dict[str, TreatyYear | None] = {}
    gnpi: dict[str, int] = defaultdict(int)
    for policy in policies:
        year = year_of(policy["period_start"], programme)
        if policy.get("product") not in programme.products:
            year = None
        policy_year[policy["policy_id"]] = year
        written = policy["written_premium"]
        if year is not None and written is not None and not pd.isna(written):
            ceded = floor(Fraction(year.ceded_share) * int(written))
            gnpi[year.code] += int(written) - ceded
    premiums: dict[str, dict[str, int]] = {}
    for year in programme.years:
        risk_premium = floor(Fraction(year.risk_layer.rate_on_gnpi) * gnpi[year.code])
        event_premium = floor(Fraction(year.event_layer.rate_on_gnpi) * gnpi[year.code]) if year.event_layer else 0
        premiums[year.code] = {"gnpi": gnpi[year.code], "risk": risk_premium, "event": event_premium}

    out: dict[str, dict[str, Any]] = {}
    by_year: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for claim in claims:
        year = policy_year.get(claim["policy_id"])
        payable = int(claim["payable_total"])
        row: dict[str, Any] = {"year": year.code if year else None, "payable_total": payable}
        if year is None:
            row.update(qs_recovery=0, retained=payable, risk_layer_loss=0, xol_recovery=0)
            row.update(net_after_risk_xol=payable, event_layer_loss=0, cat_recovery=0, net=payable)
            row.update(reinstatement_premium_risk=0, reinstatement_premium_event=0)
        else:
            qs = floor(Fraction(year.ceded_share) * payable)
            row.update(qs_recovery=qs, retained=payable - qs)
            by_year[year.code].append(claim)
        out[claim["claim_id"]] = row

    for code, members in by_year.items():
        year = programme.year(code)
        risk = year.risk_layer
        ordered = sorted(members, key=lambda c: (c["first_month"], pd.Timestamp(c["known_date"]), c["claim_id"]))
        losses_so_far = 0
        recovered_so_far = 0
        for claim in ordered:
            row = out[claim["claim_id"]]
            loss = min(max(row["retained"] - risk.retention, 0), risk.limit)
            before, after = losses_so_far, losses_so_far + loss
            losses_so_far = after
            limit = _aggregate_limit(risk)
            recovery = _clip(after - risk.aggregate_deductible, 0, limit) - _clip(
                before - risk.aggregate_deductible, 0, limit
            )
            rp = reinstatement_premium(recovered_so_far + recovery, risk, premiums[code]["risk"])
            rp -= reinstatement_premium(recovered_so_far, risk, premiums[code]["risk"])
            recovered_so_far += recovery
            row.update(risk_layer_loss=loss, xol_recovery=recovery, net_after_risk_xol=row["retained"] - recovery)
            row.update(reinstatement_premium_risk=rp, event_layer_loss=0, cat_recovery=0, reinstatement_premium_event=0)

        events: dict[tuple[str, Any], list[dict[str, Any]]] = {}
        for claim in ordered:
            key = claim["cat_event_id"]
            key = ("event", key) if isinstance(key, str) else ("claim", claim["claim_id"])
            events.setdefault(key, []).append(claim)  # dict order = order of first claims
        layer = year.event_layer
        if layer is not None:
            walked = 0
            recovered_so_far = 0
            for event_claims in events.values():
                event_total = 0
                for claim in event_claims:
                    row = out[claim["claim_id"]]
                    before, event_total = event_total, event_total + row["net_after_risk_xol"]
                    loss = _clip(event_total - layer.retention, 0, layer.limit) - _clip(
                        before - layer.retention, 0, layer.limit
                    )
                    limit = _aggregate_limit(layer)
                    recovery = _clip(walked + loss, 0, limit) - _clip(walked, 0, limit)
                    walked += loss
                    rp = reinstatement_premium(recovered_so_far + recovery, layer, premiums[code]["event"])
                    rp -= reinstatement_premium(recovered_so_far, layer, premiums[code]["event"])
                    recovered_so_far += recovery
                    row.update(event_layer_loss=loss, cat_recovery=recovery, reinstatement_premium_event=rp)
        for claim in ordered:
            row = out[claim["claim_id"]]
            row["net"] = row["net_after_risk_xol"] - row["cat_recovery"]
    return {"claims": out, "premiums": premiums}
