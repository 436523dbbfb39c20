"""The reinsurance programme at one valuation (as at M, or as at M−1): REINSURANCE.md § Rules.

Per policy its treaty year, ceded premium and commission; per treaty year its GNPI and layer
premiums; per claim its QS recovery, the per-risk layer (AAD, aggregate limit, reinstatement
premium) and the event layer, walking the claims in treaty order and the events in the order of
their first claim. The layers are the small functions of ``pipeline.stages.layers``; the stage
(``pipeline.stages.reinsurance``) runs this twice and subtracts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.arrow_text import positions
from pipeline.money import floor_times_fraction
from pipeline.products.programme import Programme
from pipeline.stages import layers
from pipeline.stages.layers import OUTSIDE, on_rows


def int64(values: pd.Series) -> pd.Series:
    """``values`` as nullable Int64 yen."""
    return values.astype("Int64")


def policy_years(policies: pd.DataFrame, programme: Programme) -> pd.Series:
    """Per policy (aligned), its treaty year code: the year its ``period_start`` falls in, −1 when
    none or when the programme does not list its product."""
    year = layers.treaty_year_codes(policies["period_start"], programme)
    if "product" in policies.columns:
        year = np.where(policies["product"].isin(programme.products).to_numpy(dtype=bool), year, OUTSIDE)
    return pd.Series(year, index=policies.index, dtype="int64")


def _fraction_of_year(amounts: pd.Series, year: pd.Series, terms: pd.DataFrame, name: str) -> pd.Series:
    """``floor(amount × the year's <name> fraction)`` per row (Int64; empty stays empty; 0 in no year)."""
    codes = year.to_numpy()
    numerator = pd.Series(on_rows(terms, f"{name}_num", codes), index=amounts.index)
    denominator = pd.Series(np.maximum(on_rows(terms, f"{name}_den", codes), 1), index=amounts.index)
    return int64(floor_times_fraction(int64(amounts), numerator, denominator))


def ceded_premiums(written: pd.Series, year: pd.Series, terms: pd.DataFrame) -> pd.Series:
    """``floor(ceded_share × written)`` with the year's share (Int64; empty where written is empty;
    0 in no year)."""
    return _fraction_of_year(written, year, terms, "qs")


def commissions(ceded: pd.Series, year: pd.Series, terms: pd.DataFrame) -> pd.Series:
    """``floor(ceding_commission × ceded)`` with the year's commission (Int64)."""
    return _fraction_of_year(ceded, year, terms, "commission")


def policy_figures(policies: pd.DataFrame, programme: Programme, terms: pd.DataFrame) -> pd.DataFrame:
    """Per policy at one valuation: ``policy_id, year, written_premium, ceded_premium, commission``."""
    year = policy_years(policies, programme)
    written = int64(policies["written_premium"])
    ceded = ceded_premiums(written, year, terms)
    return pd.DataFrame(
        {
            "policy_id": policies["policy_id"],
            "year": year,
            "written_premium": written,
            "ceded_premium": ceded,
            "commission": commissions(ceded, year, terms),
        }
    )


def layer_premiums(figures: pd.DataFrame, terms: pd.DataFrame) -> pd.DataFrame:
    """Per treaty year (index = year code): ``gnpi`` = Σ (written − ceded) of its policies (empty
    counts 0), ``risk_layer_premium`` and ``event_layer_premium`` = ``floor(rate × GNPI)``."""
    retained = (figures["written_premium"].fillna(0) - figures["ceded_premium"].fillna(0)).astype("int64")
    gnpi = retained.groupby(figures["year"]).sum().reindex(terms.index, fill_value=0).astype("int64")
    out = pd.DataFrame({"gnpi": gnpi})
    for layer in ("risk", "event"):
        numerator = terms[f"{layer}_rate_num"].astype("int64")
        out[f"{layer}_layer_premium"] = (gnpi * numerator // terms[f"{layer}_rate_den"].astype("int64")).astype("int64")
    return out


def _claim_years(claims: pd.DataFrame, policies: pd.DataFrame, year: pd.Series) -> np.ndarray:
    """Per claim, its policy's treaty year code (−1 when the policy is unknown)."""
    found = positions(claims["policy_id"], policies["policy_id"])
    return np.where(found >= 0, np.take(np.append(year.to_numpy(dtype=np.int64), OUTSIDE), found), OUTSIDE)


def first_months(claims: pd.DataFrame) -> pd.Series:
    """Each claim's ``first_month`` (its first valid month), or the month of its version when the
    frame has none (exact for a claim never restated)."""
    return claims["first_month"] if "first_month" in claims.columns else claims["bordereau_month"]


def cat_events(claims: pd.DataFrame) -> pd.Series:
    """Each claim's ``cat_event_id`` (empty when the frame has no such column)."""
    if "cat_event_id" in claims.columns:
        return claims["cat_event_id"].astype("str")
    return pd.Series(None, index=claims.index, dtype="str")


def _reinstatement_premiums(
    recovered: np.ndarray, year: np.ndarray, layer: str, terms: pd.DataFrame, premiums: pd.DataFrame
) -> np.ndarray:
    """Per claim in the layer's order, RP(recoveries after it) − RP(before it) (REINSURANCE.md); 0
    for a claim that recovers nothing (RP is the same before and after it)."""
    after = layers.running_total(recovered, year)
    result = np.zeros(len(recovered), dtype=np.int64)
    rows = np.flatnonzero(recovered > 0)
    if not len(rows):
        return result
    y = year[rows]
    limit = on_rows(terms, f"{layer}_limit", y)
    premium = np.where(y >= 0, np.take(np.append(premiums[f"{layer}_layer_premium"].to_numpy(np.int64), 0), y), 0)
    count = int(terms.attrs.get("reinstatements", 0))
    numerators = [on_rows(terms, f"{layer}_reinstatement_{k}", y) for k in range(count)]
    denominator = np.maximum(on_rows(terms, f"{layer}_reinstatement_denominator", y), 1)

    def rp(x: np.ndarray) -> np.ndarray:
        return layers.reinstatement_premium_at(x, limit, premium, numerators, denominator)

    result[rows] = rp(after[rows]) - rp(after[rows] - recovered[rows])
    return result


def claim_figures(claims: pd.DataFrame, year: np.ndarray, terms: pd.DataFrame, premiums: pd.DataFrame) -> pd.DataFrame:
    """Per claim at one valuation (aligned with ``claims``): every money column of
    ``reinsurance.CLAIM_MONEY``, ``event`` (the event code) and ``position`` (in treaty order),
    walking the claims in treaty order and, for the event layer's aggregate, in (event order,
    treaty order)."""
    payable = claims["payable_total"].to_numpy(dtype=np.int64)
    inside = year >= 0
    qs_num, qs_den = on_rows(terms, "qs_num", year), np.maximum(on_rows(terms, "qs_den", year), 1)
    qs = np.where(inside, payable * qs_num // qs_den, 0)
    retained = payable - qs
    order = layers.treaty_order(year, first_months(claims), claims["known_date"], claims["claim_id"])
    y = year[order]
    ret = retained[order]
    loss = layers.risk_layer_loss(ret, on_rows(terms, "risk_retention", y), on_rows(terms, "risk_limit", y))
    xol = layers.aggregate_recoveries(loss, y, on_rows(terms, "risk_aad", y), on_rows(terms, "risk_aggregate_limit", y))
    rp_risk = _reinstatement_premiums(xol, y, "risk", terms, premiums)
    net_after = ret - xol
    event = layers.event_codes(y, cat_events(claims).iloc[order])
    event_loss = np.where(
        y >= 0,
        layers.event_layer_loss(
            net_after, event, on_rows(terms, "event_retention", y), on_rows(terms, "event_limit", y)
        ),
        0,
    )
    by_event = layers.event_order(event)
    ye = y[by_event]
    cat_in_event_order = layers.aggregate_recoveries(
        event_loss[by_event], ye, np.zeros(len(ye), np.int64), on_rows(terms, "event_aggregate_limit", ye)
    )
    rp_event_in_event_order = _reinstatement_premiums(cat_in_event_order, ye, "event", terms, premiums)
    cat = np.empty_like(cat_in_event_order)
    cat[by_event] = cat_in_event_order
    rp_event = np.empty_like(rp_event_in_event_order)
    rp_event[by_event] = rp_event_in_event_order
    in_order = {
        "risk_layer_loss": loss,
        "xol_recovery": xol,
        "net_after_risk_xol": net_after,
        "event_layer_loss": event_loss,
        "cat_recovery": cat,
        "net": net_after - cat,
        "reinstatement_premium_risk": rp_risk,
        "reinstatement_premium_event": rp_event,
        "event": event,
        "position": np.arange(len(event), dtype=np.int64),
    }
    out = {"payable_total": payable, "qs_recovery": qs, "retained": retained}
    for name, values in in_order.items():
        aligned = np.empty(len(values), dtype=np.int64)
        aligned[order] = values
        out[name] = aligned
    return pd.DataFrame(out, index=claims.index)


@dataclass(frozen=True)
class Valuation:
    """The programme at one valuation: ``policy_figures``, ``layer_premiums``, ``claim_figures``
    and each claim's treaty year code."""

    policies: pd.DataFrame
    premiums: pd.DataFrame
    claims: pd.DataFrame
    claim_year: np.ndarray


def valuation(policies: pd.DataFrame, claims: pd.DataFrame, programme: Programme, terms: pd.DataFrame) -> Valuation:
    """Every figure of the programme on these policies and claims (one as-at date)."""
    figures = policy_figures(policies, programme, terms)
    premiums = layer_premiums(figures, terms)
    year = _claim_years(claims, policies, figures["year"])
    return Valuation(figures, premiums, claim_figures(claims, year, terms, premiums), year)


def year_names(year: pd.Series | np.ndarray, programme: Programme) -> pd.Series:
    """The treaty year code of each year number (empty for −1: in no treaty year)."""
    names = pd.Series([y.code for y in programme.years], dtype="string")
    codes = pd.Series(np.asarray(year), dtype="int64")
    return codes.map(names).astype("string")
