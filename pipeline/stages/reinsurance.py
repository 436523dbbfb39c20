"""Reinsurance: the programme of treaty years on the policies and claims as at M, and its movements.

Rules: REINSURANCE.md (the programme, the rules per treaty year, the technical account), building on
CALCULATION.md § Reinsurance and § Time; every term comes from the treaty file
(``pipeline.products.programme``), never from code. One valuation is ``pipeline.stages.valuation``
(on the small vectorised functions of ``pipeline.stages.layers``); this module runs it as at M and
as at M−1 and lays out the differences.

- A policy belongs to the treaty year in which its ``period_start`` falls; its claims follow it. A
  policy in no treaty year (or of a product the programme does not list) cedes 0 and its claims
  recover 0 (``treaty_year`` empty); :attr:`Reinsurance.outside_policies` counts them.
- Per policy: ceded premium = ``floor(ceded_share × written)``, commission = ``floor(commission ×
  ceded)``. Per treaty year: GNPI = Σ (written − ceded), an empty figure counting 0; layer premium =
  ``floor(rate_on_gnpi × GNPI)``.
- Per claim: QS recovery, retained, the per-risk layer (AAD, aggregate limit), its reinstatement
  premium, the event layer over the claims of one ``cat_event_id`` and its reinstatement premium,
  net.
- Every figure is computed as at M and, the same way, as at M−1; "this month" = as at M − as at M−1,
  per row and per total (a row absent at M−1 counts 0). As at M−1 the frames given are used
  (``policies_before``: PolicyPriced as at M−1; ``claims_before``: ClaimTotals as at M−1), else they
  are derived from the frames as at M (written − ``written_this_month``, payable −
  ``payable_this_month``, every other attribute as at M).

Referrals (premium empty): ceded premium and commission are empty, like the premium they come from;
the movement treats an empty figure as 0 and is empty only when both are empty.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.arrow_text import positions, take_text
from pipeline.products.programme import Programme
from pipeline.stages import layers
from pipeline.stages.layers import OUTSIDE, on_rows
from pipeline.stages.treaty import treaty_summary
from pipeline.stages.valuation import (
    Valuation,
    cat_events,
    first_months,
    int64,
    policy_figures,
    valuation,
    year_names,
)

CLAIM_MONEY = (
    "payable_total",
    "qs_recovery",
    "retained",
    "risk_layer_loss",
    "xol_recovery",
    "net_after_risk_xol",
    "event_layer_loss",
    "cat_recovery",
    "net",
    "reinstatement_premium_risk",
    "reinstatement_premium_event",
)
"""Money columns of ``reinsurance_claims``, each with its ``_this_month`` movement."""

TECHNICAL_ACCOUNT_LINES = (
    "qs_ceded_premium",
    "qs_commission",
    "risk_layer_premium",
    "event_layer_premium",
    "reinstatement_premium_risk",
    "reinstatement_premium_event",
    "qs_recovery",
    "risk_xol_recovery",
    "event_recovery",
    "balance",
)
"""REINSURANCE.md § Outputs: the lines of the technical account, in order."""


@dataclass(frozen=True)
class Reinsurance:
    """The reinsurance stage's outputs as at M (REINSURANCE.md § Outputs), and how many policies
    are in no treaty year."""

    policies: pd.DataFrame
    claims: pd.DataFrame
    events: pd.DataFrame
    technical_account: pd.DataFrame
    treaty: pd.DataFrame
    outside_policies: int


def _policies_before(policies_now: pd.DataFrame, policies_before: pd.DataFrame | None) -> pd.DataFrame:
    if policies_before is not None:
        return policies_before.drop_duplicates("policy_id", keep="last")
    written = int64(policies_now["written_premium"])
    this_month = int64(policies_now["written_this_month"])
    before = (written.fillna(0) - this_month.fillna(0)).mask(written.isna() & this_month.isna())
    return policies_now.assign(written_premium=before)


def _claims_before(claims_now: pd.DataFrame, claims_before: pd.DataFrame | None) -> pd.DataFrame:
    """The claims as at M−1: given, with each claim's ``first_month`` as at M (a claim known at M−1
    first appeared then or earlier, so it is the same); else derived from the claims as at M."""
    if claims_before is None:
        total = claims_now["payable_total"].astype("int64") - claims_now["payable_this_month"].astype("int64")
        return claims_now.assign(payable_total=total)
    found = positions(claims_before["claim_id"], claims_now["claim_id"])
    first = take_text(first_months(claims_now).astype("str"), found, claims_before.index)
    if "first_month" in claims_before.columns or "bordereau_month" in claims_before.columns:
        first = first.fillna(first_months(claims_before).astype("str"))
    return claims_before.assign(first_month=first)


def _movement(now: pd.Series, before: pd.Series) -> pd.Series:
    """now − before with empty as 0; empty only when both are empty."""
    moved = now.fillna(0) - before.fillna(0)
    return moved.mask(now.isna() & before.isna())


# -- outputs ---------------------------------------------------------------------------------------


def _policies_frame(
    policies_now: pd.DataFrame, now: pd.DataFrame, before: pd.DataFrame, programme: Programme
) -> pd.DataFrame:
    found = positions(policies_now["policy_id"], before["policy_id"])
    present = found >= 0

    def previous(column: str) -> pd.Series:
        taken = int64(before[column]).array.take(found, allow_fill=True)  # absent: empty, then 0
        values = pd.Series(taken, index=policies_now.index, dtype="Int64")
        return values.mask(~present, 0)

    out = pd.DataFrame({"policy_id": policies_now["policy_id"]})
    if "product" in policies_now.columns:
        out["product"] = policies_now["product"]
    out["treaty_year"] = year_names(now["year"], programme).to_numpy()
    written, ceded, commission = now["written_premium"], now["ceded_premium"], now["commission"]
    written_tm = _movement(written, previous("written_premium"))
    ceded_tm = _movement(ceded, previous("ceded_premium"))
    return out.assign(
        written_premium=written,
        written_premium_this_month=written_tm,
        ceded_premium=ceded,
        ceded_premium_this_month=ceded_tm,
        retained_premium=written - ceded,
        retained_premium_this_month=written_tm - ceded_tm,
        commission=commission,
        commission_this_month=_movement(commission, previous("commission")),
    ).reset_index(drop=True)


def _claims_frame(
    claims_now: pd.DataFrame,
    policies_now: pd.DataFrame,
    now: Valuation,
    before: Valuation,
    claims_before: pd.DataFrame,
    terms: pd.DataFrame,
    programme: Programme,
) -> pd.DataFrame:
    out = pd.DataFrame({"claim_id": claims_now["claim_id"], "policy_id": claims_now["policy_id"]})
    if "product" in claims_now.columns:
        out["product"] = claims_now["product"]
    elif "product" in policies_now.columns:
        found_policy = positions(claims_now["policy_id"], policies_now["policy_id"])
        out["product"] = take_text(policies_now["product"], found_policy, claims_now.index)
    out["treaty_year"] = year_names(now.claim_year, programme).to_numpy()
    out["first_month"] = first_months(claims_now).astype("str").to_numpy()
    out["known_date"] = pd.to_datetime(claims_now["known_date"]).to_numpy()
    out["cat_event_id"] = cat_events(claims_now).to_numpy()
    figures = now.claims
    found = positions(claims_now["claim_id"], claims_before["claim_id"])
    for name in CLAIM_MONEY:
        out[name] = figures[name].to_numpy()
    limit = on_rows(terms, "risk_limit", now.claim_year)
    out["layer_used_share"] = np.where(limit > 0, figures["xol_recovery"].to_numpy() / np.maximum(limit, 1), 0.0)
    for name in CLAIM_MONEY:
        moved = np.take(np.append(before.claims[name].to_numpy(dtype=np.int64), 0), found)
        column = "payable_this_month" if name == "payable_total" else f"{name}_this_month"
        out[column] = figures[name].to_numpy() - moved
    return out.reset_index(drop=True)


EVENT_MONEY = ("net_after_risk_xol", "event_layer_loss", "cat_recovery", "reinstatement_premium_event")


def _event_sums(claims: pd.DataFrame, figures: pd.DataFrame, year: np.ndarray, programme: Programme) -> pd.DataFrame:
    """Per event worth showing (claims with a ``cat_event_id``, or with an event-layer loss), in
    treaty order of their claims: the sums of :data:`EVENT_MONEY`, the first claim, the number of
    claims and of policies; indexed by a text key (treaty year, cat_event_id or claim)."""
    cat = cat_events(claims)
    shown = (year >= 0) & (cat.notna().to_numpy() | (figures["event_layer_loss"].to_numpy() != 0))
    rows = np.flatnonzero(shown)  # a claim of no cat_event_id is an event of one: shown only with a loss
    rows = rows[np.argsort(figures["position"].to_numpy()[rows], kind="stable")]
    subset = claims.iloc[rows]
    frame = pd.DataFrame(
        {
            "treaty_year": year_names(year[rows], programme).to_numpy(),
            "cat_event_id": cat.iloc[rows].to_numpy(),
            "claim_id": subset["claim_id"].astype("str").to_numpy(),
            "policy_id": subset["policy_id"].astype("str").to_numpy(),
            **{name: figures[name].to_numpy()[rows] for name in EVENT_MONEY},
        }
    )
    frame["key"] = (
        frame["treaty_year"].astype("str")
        + "\x1f"
        + frame["cat_event_id"].fillna("\x1e" + frame["claim_id"]).astype("str")
    )
    grouped = frame.groupby("key", sort=False)
    sums = grouped[list(EVENT_MONEY)].sum()
    sums["treaty_year"] = grouped["treaty_year"].first()
    sums["cat_event_id"] = grouped["cat_event_id"].first()
    sums["first_claim_id"] = grouped["claim_id"].first()
    sums["claims"] = grouped["claim_id"].size()
    sums["policies"] = grouped["policy_id"].nunique()
    return sums


def reinsurance_events_frame(
    claims_now: pd.DataFrame, now: Valuation, claims_before: pd.DataFrame, before: Valuation, programme: Programme
) -> pd.DataFrame:
    """One row per event (treaty year, ``cat_event_id``) with more than one claim or any event-layer
    loss: its claims and policies, and Σ net after the per-risk layer, event-layer loss, event
    recovery and event reinstatement premium, to date and this month. ``first_claim_id`` is the
    event's first claim in treaty order. Rows in event order (of a year)."""
    sums = _event_sums(claims_now, now.claims, now.claim_year, programme)
    previous = _event_sums(claims_before, before.claims, before.claim_year, programme)
    shown = sums[(sums["claims"] > 1) | (sums["event_layer_loss"] > 0)]
    out = shown[["treaty_year", "cat_event_id", "first_claim_id", "claims", "policies", *EVENT_MONEY]].copy()
    for name in EVENT_MONEY:
        moved = previous[name].reindex(out.index, fill_value=0).astype("int64")
        out[f"{name}_this_month"] = (out[name] - moved).astype("int64")
    return out.reset_index(drop=True)


def technical_account_frame(
    policies: pd.DataFrame, claims: pd.DataFrame, now: Valuation, before: Valuation, programme: Programme
) -> pd.DataFrame:
    """Per treaty year the ten lines of the statement of account (REINSURANCE.md § Technical
    account), ``to_date`` and ``this_month``, each signed as it enters the balance (+ due to the
    reinsurers). Every line but the layer premiums is the sum of the per-policy or per-claim column
    it names over the rows of the year (and of its ``_this_month`` column); the layer premiums are
    the year's ``floor(rate × GNPI)`` as at M and its movement; ``balance`` is the sum of the nine."""
    sources = {
        "qs_ceded_premium": (policies, "ceded_premium", 1),
        "qs_commission": (policies, "commission", -1),
        "reinstatement_premium_risk": (claims, "reinstatement_premium_risk", 1),
        "reinstatement_premium_event": (claims, "reinstatement_premium_event", 1),
        "qs_recovery": (claims, "qs_recovery", -1),
        "risk_xol_recovery": (claims, "xol_recovery", -1),
        "event_recovery": (claims, "cat_recovery", -1),
    }
    codes = [year.code for year in programme.years]
    rows = []
    for index, code in enumerate(codes):  # one pass per treaty year of the data
        lines: dict[str, tuple[int, int]] = {}
        for line, (frame, column, sign) in sources.items():
            of_year = frame["treaty_year"] == code
            to_date = int(frame.loc[of_year, column].fillna(0).sum())
            this_month = int(frame.loc[of_year, f"{column}_this_month"].fillna(0).sum())
            lines[line] = (sign * to_date, sign * this_month)
        for layer in ("risk", "event"):
            premium_now = int(now.premiums[f"{layer}_layer_premium"].iloc[index])
            premium_before = int(before.premiums[f"{layer}_layer_premium"].iloc[index])
            lines[f"{layer}_layer_premium"] = (premium_now, premium_now - premium_before)
        ordered = [(line, *lines[line]) for line in TECHNICAL_ACCOUNT_LINES[:-1]]
        balance = (sum(to_date for _, to_date, _ in ordered), sum(moved for _, _, moved in ordered))
        rows += [(code, line, to_date, moved) for line, to_date, moved in [*ordered, ("balance", *balance)]]
    frame = pd.DataFrame(rows, columns=["treaty_year", "line", "to_date", "this_month"])
    return frame.astype({"to_date": "int64", "this_month": "int64"})


# -- the stage -------------------------------------------------------------------------------------


def reinsurance(
    policies_now: pd.DataFrame,
    claims_now: pd.DataFrame,
    programme: Programme,
    *,
    policies_before: pd.DataFrame | None = None,
    claims_before: pd.DataFrame | None = None,
) -> Reinsurance:
    """The programme on the book as at M and its movements this month.

    ``policies_now``: PolicyAccounted (``policy_id``, ``period_start``, ``written_premium``,
    ``product`` when present, and ``written_this_month`` without ``policies_before``).
    ``claims_now``: ClaimTotals (``claim_id``, ``policy_id``, ``known_date``, ``payable_total``,
    ``payable_this_month``; ``first_month`` (else ``bordereau_month``) and ``cat_event_id`` when
    present). The ``_before`` frames are the same as at M−1 (optional, see the module docstring).
    """
    terms = layers.year_terms(programme)
    policies_then = _policies_before(policies_now, policies_before)
    claims_then = _claims_before(claims_now, claims_before)
    now = valuation(policies_now, claims_now, programme, terms)
    before = valuation(policies_then, claims_then, programme, terms)
    policies = _policies_frame(policies_now, now.policies, before.policies, programme)
    claims = _claims_frame(claims_now, policies_now, now, before, claims_then, terms, programme)
    events = reinsurance_events_frame(claims_now, now, claims_then, before, programme)
    account = technical_account_frame(policies, claims, now, before, programme)
    outside = int((now.policies["year"] == OUTSIDE).sum())
    summary = treaty_summary(policies, claims, events, account, programme)
    return Reinsurance(policies, claims, events, account, summary, outside)


def reinsurance_policies(
    policies_now: pd.DataFrame, programme: Programme, policies_before: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Ceded premium and ceding commission per policy as at M and this month, with its
    ``treaty_year``: ``policy_id, [product,] treaty_year, written_premium, ceded_premium,
    retained_premium, commission`` and the ``_this_month`` of each (Int64 yen)."""
    terms = layers.year_terms(programme)
    now = policy_figures(policies_now, programme, terms)
    before = policy_figures(_policies_before(policies_now, policies_before), programme, terms)
    return _policies_frame(policies_now, now, before, programme)


def reinsurance_claims(
    claims_now: pd.DataFrame,
    programme: Programme,
    policies: pd.DataFrame,
    claims_before: pd.DataFrame | None = None,
    policies_before: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per claim as at M and this month: ``treaty_year``, ``first_month``, ``known_date``,
    ``cat_event_id``, the money columns of :data:`CLAIM_MONEY` and their ``_this_month``,
    ``layer_used_share`` (per-risk recovery / layer limit). ``qs_recovery + xol_recovery +
    cat_recovery + net = payable_total``."""
    return reinsurance(
        policies, claims_now, programme, policies_before=policies_before, claims_before=claims_before
    ).claims


def claim_first_months(history_claims: pd.DataFrame, month: str) -> pd.Series:
    """Per claim id, the first bordereau month up to ``month`` in which it appeared validly (its
    place in the treaty order)."""
    upto = history_claims[history_claims["bordereau_month"] <= month]
    return upto.groupby("claim_id", sort=False)["bordereau_month"].min()


def with_first_months(claims: pd.DataFrame, first: pd.Series) -> pd.DataFrame:
    """``claims`` with ``first_month``: each claim's first month in ``first``
    (:func:`claim_first_months`, by claim id)."""
    found = positions(claims["claim_id"], first.index.to_series())
    return claims.assign(first_month=take_text(first.astype("str"), found, claims.index))
