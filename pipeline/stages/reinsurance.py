"""Reinsurance: quota-share ceded premium and commission per policy, QS and XoL recoveries per claim.

Rules: CALCULATION.md § Reinsurance, § Time; terms from ``treaty.toml`` (PRODUCTS.md § Reinsurance
treaty), never from code.

- ceded premium = ``floor(ceded_share × written_premium)``; commission = ``floor(ceding_commission ×
  ceded premium)``; retained premium = written − ceded.
- QS recovery = ``floor(ceded_share × payable_total)``; retained = payable_total − QS recovery;
  XoL recovery = ``min(max(retained − retention, 0), limit)``; net = retained − XoL recovery.
- "This month" = the figure as at M − the same figure as at M−1, each floored on its own (a floor of
  the movement would lose or gain a yen). As at M−1 the written premium is
  ``written_premium − written_this_month`` (or the M−1 frame when given) and the payable total is
  ``payable_total − payable_this_month``; a row absent at M−1 counts as 0.

Referrals (premium empty): ceded premium and commission are empty, like the premium they come
from; the movement treats an empty figure as 0 (so a policy referred this month after being priced
last month shows the reversal) and is empty only when both dates are empty. A policy or claim of a
product the treaty does not list cedes nothing (0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd

from pipeline.money import floor_times


@dataclass(frozen=True)
class TreatyTerms:
    """The treaty figures the formulas need, read from ``ProductBook.treaty``."""

    ceded_share: Decimal
    ceding_commission: Decimal
    retention: int
    limit: int
    products: tuple[str, ...] | None

    @classmethod
    def of(cls, treaty: Mapping[str, Any]) -> TreatyTerms:
        quota = treaty["quota_share"]
        layer = treaty["excess_of_loss"]
        products = treaty.get("products")
        return cls(
            ceded_share=Decimal(quota["ceded_share"]),
            ceding_commission=Decimal(quota["ceding_commission"]),
            retention=int(layer["retention"]),
            limit=int(layer["limit"]),
            products=tuple(products) if products is not None else None,
        )


def _covered(frame: pd.DataFrame, terms: TreatyTerms) -> pd.Series:
    """True where the row's product is under the treaty (every row when the frame has no product)."""
    if terms.products is None or "product" not in frame.columns:
        return pd.Series(True, index=frame.index)
    return frame["product"].isin(terms.products).astype(bool)


def _int64(values: pd.Series) -> pd.Series:
    return values.astype("Int64")


def ceded_premium(written_premium: pd.Series, terms: TreatyTerms) -> pd.Series:
    """``floor(ceded_share × written premium)`` (Int64; empty where the premium is empty)."""
    return floor_times(_int64(written_premium), terms.ceded_share)


def commission(ceded: pd.Series, terms: TreatyTerms) -> pd.Series:
    """``floor(ceding_commission × ceded premium)`` (Int64; empty where ceded is empty)."""
    return floor_times(_int64(ceded), terms.ceding_commission)


def _movement(now: pd.Series, before: pd.Series) -> pd.Series:
    """now − before with empty as 0; empty only when both are empty."""
    moved = now.fillna(0) - before.fillna(0)
    return moved.mask(now.isna() & before.isna())


def _written_before(policies_now: pd.DataFrame, policies_before: pd.DataFrame | None) -> pd.Series:
    """Written premium as at M−1 aligned on ``policies_now`` (Int64, empty where unknown)."""
    written = _int64(policies_now["written_premium"])
    if policies_before is not None:
        before = policies_before.drop_duplicates("policy_id", keep="last").set_index("policy_id")
        mapped = policies_now["policy_id"].map(_int64(before["written_premium"]))
        absent = ~policies_now["policy_id"].isin(before.index)
        return _int64(mapped).mask(absent, 0)
    this_month = _int64(policies_now["written_this_month"])
    before_value = written.fillna(0) - this_month.fillna(0)
    return before_value.mask(written.isna() & this_month.isna())


def reinsurance_policies(
    policies_now: pd.DataFrame,
    treaty: Mapping[str, Any],
    policies_before: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Ceded premium and ceding commission per policy as at M, and their movements this month.

    ``policies_now`` is PolicyAccounted (needs ``policy_id``, ``written_premium`` and, without
    ``policies_before``, ``written_this_month``; ``product`` when present selects the treaty's
    products). ``policies_before`` is the same frame as at M−1 (optional).

    Returns ``policy_id, [product,] written_premium, written_premium_this_month, ceded_premium,
    ceded_premium_this_month, retained_premium, retained_premium_this_month, commission,
    commission_this_month`` (Int64 yen).
    """
    terms = TreatyTerms.of(treaty)
    covered = _covered(policies_now, terms)
    written = _int64(policies_now["written_premium"])
    before = _written_before(policies_now, policies_before)
    ceded = ceded_premium(written, terms).mask(~covered & written.notna(), 0)
    ceded_before = ceded_premium(before, terms).mask(~covered & before.notna(), 0)
    commission_now = commission(ceded, terms)
    commission_before = commission(ceded_before, terms)
    out = pd.DataFrame({"policy_id": policies_now["policy_id"]})
    if "product" in policies_now.columns:
        out["product"] = policies_now["product"]
    written_this_month = _movement(written, before)
    ceded_this_month = _movement(ceded, ceded_before)
    return out.assign(
        written_premium=written,
        written_premium_this_month=written_this_month,
        ceded_premium=ceded,
        ceded_premium_this_month=ceded_this_month,
        retained_premium=written - ceded,
        retained_premium_this_month=written_this_month - ceded_this_month,
        commission=commission_now,
        commission_this_month=_movement(commission_now, commission_before),
    ).reset_index(drop=True)


def _claim_layers(payable_total: pd.Series, covered: pd.Series, terms: TreatyTerms) -> dict[str, pd.Series]:
    """QS recovery, retained, XoL recovery and net for a payable total (int64)."""
    total = payable_total.astype("int64")
    qs = floor_times(total, terms.ceded_share).where(covered, 0).astype("int64")
    retained = total - qs
    xol = (retained - terms.retention).clip(lower=0, upper=terms.limit).where(covered, 0).astype("int64")
    return {"qs_recovery": qs, "retained": retained, "xol_recovery": xol, "net": retained - xol}


def reinsurance_claims(
    claim_totals: pd.DataFrame,
    treaty: Mapping[str, Any],
    policies: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """QS and per-claim XoL recoveries as at M, and their movements this month.

    ``claim_totals`` is ClaimTotals (``claim_id``, ``policy_id``, ``payable_total``,
    ``payable_this_month``). The claim's product comes from its own ``product`` column, else from
    ``policies`` by ``policy_id``; without either every claim is under the treaty.

    Returns ``claim_id, policy_id, [product,] payable_total, qs_recovery, retained, xol_recovery,
    net, layer_used_share`` and the ``_this_month`` movement of each money column. ``net`` is what
    stays with the insurer after both treaties; ``qs_recovery + xol_recovery + net = payable_total``.
    ``layer_used_share`` is XoL recovery / layer limit (0 to 1).
    """
    terms = TreatyTerms.of(treaty)
    frame = claim_totals
    if "product" not in frame.columns and policies is not None:
        products = policies.drop_duplicates("policy_id", keep="last").set_index("policy_id")["product"]
        frame = frame.assign(product=frame["policy_id"].map(products))
    covered = _covered(frame, terms)
    total = frame["payable_total"].astype("int64")
    total_before = total - frame["payable_this_month"].astype("int64")
    now = _claim_layers(total, covered, terms)
    before = _claim_layers(total_before, covered, terms)
    out = pd.DataFrame({"claim_id": frame["claim_id"], "policy_id": frame["policy_id"]})
    if "product" in frame.columns:
        out["product"] = frame["product"]
    out = out.assign(payable_total=total, **now)
    out["layer_used_share"] = now["xol_recovery"].to_numpy(dtype="float64") / terms.limit if terms.limit else 0.0
    out["payable_this_month"] = total - total_before
    for name in ("qs_recovery", "retained", "xol_recovery", "net"):
        out[f"{name}_this_month"] = now[name] - before[name]
    return out.reset_index(drop=True)


def treaty_summary(
    reinsurance_policies_frame: pd.DataFrame,
    reinsurance_claims_frame: pd.DataFrame,
    treaty: Mapping[str, Any],
) -> pd.DataFrame:
    """Treaty figures to date and this month, one row per figure.

    Columns ``figure`` (a code, see ``labels.toml``), ``kind`` (``money`` or ``count``),
    ``to_date``, ``this_month`` (empty where a movement has no meaning). Premium: written, ceded,
    retained, commission, ceded net of commission. Losses: payable, QS recovery, retained after QS,
    XoL recovery, net. Layer: claims reaching the layer, claims exhausting it, the largest share
    used, and the treaty terms themselves (from the data).
    """
    terms = TreatyTerms.of(treaty)
    pol = reinsurance_policies_frame
    clm = reinsurance_claims_frame

    def total(frame: pd.DataFrame, column: str) -> int:
        return int(frame[column].fillna(0).sum()) if column in frame.columns else 0

    ceded = total(pol, "ceded_premium")
    ceded_tm = total(pol, "ceded_premium_this_month")
    comm = total(pol, "commission")
    comm_tm = total(pol, "commission_this_month")
    xol = clm["xol_recovery"] if len(clm) else pd.Series(dtype="int64")
    xol_before = xol - clm["xol_recovery_this_month"] if len(clm) else pd.Series(dtype="int64")
    in_layer = int((xol > 0).sum())
    in_layer_before = int((xol_before > 0).sum())
    exhausted = int((xol >= terms.limit).sum()) if terms.limit else 0
    exhausted_before = int((xol_before >= terms.limit).sum()) if terms.limit else 0
    rows: list[tuple[str, str, object, object]] = [
        ("written_premium", "money", total(pol, "written_premium"), total(pol, "written_premium_this_month")),
        ("ceded_premium", "money", ceded, ceded_tm),
        ("retained_premium", "money", total(pol, "retained_premium"), total(pol, "retained_premium_this_month")),
        ("commission", "money", comm, comm_tm),
        ("ceded_premium_net_of_commission", "money", ceded - comm, ceded_tm - comm_tm),
        ("payable_total", "money", total(clm, "payable_total"), total(clm, "payable_this_month")),
        ("qs_recovery", "money", total(clm, "qs_recovery"), total(clm, "qs_recovery_this_month")),
        ("retained", "money", total(clm, "retained"), total(clm, "retained_this_month")),
        ("xol_recovery", "money", total(clm, "xol_recovery"), total(clm, "xol_recovery_this_month")),
        ("net", "money", total(clm, "net"), total(clm, "net_this_month")),
        ("claims_in_layer", "count", in_layer, in_layer - in_layer_before),
        ("claims_exhausting_layer", "count", exhausted, exhausted - exhausted_before),
        ("max_layer_used_share", "percent", float(xol.max()) / terms.limit if in_layer else 0.0, None),
        ("treaty_ceded_share", "percent", float(terms.ceded_share), None),
        ("treaty_ceding_commission", "percent", float(terms.ceding_commission), None),
        ("treaty_xol_retention", "money", terms.retention, None),
        ("treaty_xol_limit", "money", terms.limit, None),
    ]
    return pd.DataFrame(rows, columns=["figure", "kind", "to_date", "this_month"])
