"""The treaty summary: one row per treaty year and layer, from the reinsurance stage's frames.

Per layer (``quota_share``, ``risk_xol``, ``event_xol``) of each treaty year: its terms (from the
programme), premium and commission, reinstatement premium, losses to the layer, recoveries, the
aggregate deductible used, the share of the aggregate limit used and what is left, the number of
limits reinstated so far, and counts (``in_layer`` / ``exhausting_layer``: claims of the per-risk
layer, events of the event layer, whose loss reaches / uses up the layer's limit); money to date
and this month. A last row (``layer`` = ``outside``, no treaty year) counts the policies in no
treaty year and their claims (REINSURANCE.md: they cede and recover nothing). Only sums and terms
here: every figure comes from the stage.
"""

from __future__ import annotations

import pandas as pd

from pipeline.products.programme import Layer, Programme

SUMMARY_COLUMNS = (
    "treaty_year",
    "layer",
    "policies",
    "claims",
    "ceded_share",
    "commission_share",
    "retention",
    "limit",
    "aggregate_deductible",
    "aggregate_limit",
    "reinstatements",
    "premium",
    "premium_this_month",
    "commission",
    "commission_this_month",
    "reinstatement_premium",
    "reinstatement_premium_this_month",
    "losses",
    "losses_this_month",
    "recoveries",
    "recoveries_this_month",
    "aggregate_deductible_used",
    "aggregate_used_share",
    "aggregate_left",
    "limits_reinstated",
    "in_layer",
    "exhausting_layer",
)
COUNT_COLUMNS = ("policies", "claims", "reinstatements", "in_layer", "exhausting_layer")


def _sum(frame: pd.DataFrame, column: str) -> int:
    return int(frame[column].fillna(0).sum())


def _line(account: pd.DataFrame, code: str, line: str) -> tuple[int, int]:
    row = account[(account["treaty_year"] == code) & (account["line"] == line)]
    return (int(row["to_date"].sum()), int(row["this_month"].sum()))


def _layer_row(layer: Layer, losses: pd.Series, recoveries: int) -> dict[str, object]:
    """Terms and aggregate usage of one excess-of-loss layer."""
    aggregate = layer.aggregate_limit
    total_loss = int(losses.sum())
    reinstated = min(recoveries, layer.limit * len(layer.reinstatements or ())) / layer.limit
    return {
        "retention": layer.retention,
        "limit": layer.limit,
        "aggregate_deductible": layer.aggregate_deductible,
        "aggregate_limit": aggregate,
        "reinstatements": None if layer.reinstatements is None else len(layer.reinstatements),
        "aggregate_deductible_used": min(total_loss, layer.aggregate_deductible),
        "aggregate_used_share": recoveries / aggregate if aggregate else None,
        "aggregate_left": aggregate - recoveries if aggregate is not None else None,
        "limits_reinstated": reinstated,
        "in_layer": int((losses > 0).sum()),
        "exhausting_layer": int((losses >= layer.limit).sum()),
    }


def treaty_summary(
    policies: pd.DataFrame,
    claims: pd.DataFrame,
    events: pd.DataFrame,
    account: pd.DataFrame,
    programme: Programme,
) -> pd.DataFrame:
    """The ``treaty`` sheet: per treaty year and layer (see the module docstring). ``policies`` and
    ``claims`` are ``reinsurance_policies`` / ``reinsurance_claims``, ``account`` the technical
    account; ``events`` is accepted for the event counts of the event layer."""
    rows: list[dict[str, object]] = []
    for year in programme.years:  # one pass per treaty year and layer of the data
        pol = policies[policies["treaty_year"] == year.code]
        clm = claims[claims["treaty_year"] == year.code]
        counts = {"treaty_year": year.code, "policies": len(pol), "claims": len(clm)}
        premium, premium_tm = _line(account, year.code, "qs_ceded_premium")
        commission, commission_tm = _line(account, year.code, "qs_commission")
        rows.append(
            {
                **counts,
                "layer": "quota_share",
                "ceded_share": float(year.ceded_share),
                "commission_share": float(year.ceding_commission),
                "premium": premium,
                "premium_this_month": premium_tm,
                "commission": -commission,
                "commission_this_month": -commission_tm,
                "losses": _sum(clm, "payable_total"),
                "losses_this_month": _sum(clm, "payable_this_month"),
                "recoveries": _sum(clm, "qs_recovery"),
                "recoveries_this_month": _sum(clm, "qs_recovery_this_month"),
            }
        )
        layers = (
            ("risk_xol", "risk", year.risk_layer, "risk_layer_loss", "xol_recovery"),
            ("event_xol", "event", year.event_layer, "event_layer_loss", "cat_recovery"),
        )
        for name, short, layer, loss, recovery in layers:
            if layer is None:
                continue
            layer_premium, layer_premium_tm = _line(account, year.code, f"{short}_layer_premium")
            recovered = _sum(clm, recovery)
            losses = clm[loss]
            if short == "event":
                of_year = events[events["treaty_year"] == year.code]
                losses = of_year["event_layer_loss"]
            rows.append(
                {
                    **counts,
                    "layer": name,
                    "premium": layer_premium,
                    "premium_this_month": layer_premium_tm,
                    "reinstatement_premium": _sum(clm, f"reinstatement_premium_{short}"),
                    "reinstatement_premium_this_month": _sum(clm, f"reinstatement_premium_{short}_this_month"),
                    "losses": _sum(clm, loss),
                    "losses_this_month": _sum(clm, f"{loss}_this_month"),
                    "recoveries": recovered,
                    "recoveries_this_month": _sum(clm, f"{recovery}_this_month"),
                    **_layer_row(layer, losses, recovered),
                }
            )
    outside_policies = policies[policies["treaty_year"].isna()]
    outside_claims = claims[claims["treaty_year"].isna()]
    rows.append(
        {
            "treaty_year": None,
            "layer": "outside",
            "policies": len(outside_policies),
            "claims": len(outside_claims),
            "losses": _sum(outside_claims, "payable_total"),
            "losses_this_month": _sum(outside_claims, "payable_this_month"),
        }
    )
    frame = pd.DataFrame(rows).reindex(columns=list(SUMMARY_COLUMNS))
    for column in frame.columns:
        if column in ("treaty_year", "layer"):
            frame[column] = frame[column].astype("string")
        elif column.endswith("_share") or column == "limits_reinstated":
            frame[column] = frame[column].astype("float64")
        else:
            frame[column] = frame[column].astype("Int64")
    return frame
