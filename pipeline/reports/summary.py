"""Figures of the month for actuaries and reinsurers: KPIs, breakdowns, largest claims, limits left.

Pure: frames in, frames out (canonical column names, codes in cells); ``portfolio.py`` names them
for a language and makes sheets. Inputs are the stage outputs as at M: PolicyAccounted
(``policies``), ClaimTotals (``claims``) and what the figures read of the lines (``LineSums``:
``pipeline.stages.claims.line_sums``, whichever engine summed them).

- In force at the end of M: ``cover_start ≤ asof < cover_end`` (CALCULATION.md § Policies; cover
  start is the join date of a mid-term joiner, cover end the cancellation date when cancelled).
- Loss ratio = payable to date / earned to date; empty when nothing is earned. The month's loss
  ratio (``kpi``'s ``this_month``) is the payable recognised this month over the premium earned this
  month; it swings far more than the ratio to date.
- Every other ``this_month`` figure of ``kpi`` is the figure as at M minus the same figure as at
  M−1 (policies in force at the end of M−1 from the policies priced as at M−1; claims known then),
  the liability/expense split of the month from the lines' ``payable_this_month`` by part, and the
  rows read, processed and rejected of month M's files.
- A claim or line takes the product, plan, revenue band and industry of its policy; ``leak_lite``
  has no plan and shows its coverage tables' plan name, ``standard`` (``coverage_plan``).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.arrow_text import among, column_taken, positions
from pipeline.calendar import month_end, previous_month
from pipeline.money import ratio_parts
from pipeline.products.load import ProductBook
from pipeline.stages.claims import LINE_MEASURES, MISSING, PARTS, LineSums
from pipeline.stages.coverage import coverage_plan

POLICY_MEASURES = (
    "written_premium",
    "written_this_month",
    "earned_to_date",
    "earned_this_month",
    "upr",
)
CLAIM_MEASURES = ("payable_liability", "payable_expense", "payable_total", "payable_this_month")
BREAKDOWN_CLAIM_MEASURES = ("payable_total", "payable_this_month")
"""What the breakdowns by policy dimensions (``by_policy_dims``) sum of the claims."""
THRESHOLDS_FILE = Path(__file__).with_name("summary.toml")
with THRESHOLDS_FILE.open("rb") as _handle:
    _THRESHOLDS = tomllib.load(_handle)
LOW_LIMIT_SHARE = Decimal(str(_THRESHOLDS["low_limit_share"]))
"""``limits_low``: a policy is listed with under this share of a limit left (``summary.toml``)."""
LARGEST_CLAIMS = int(_THRESHOLDS["largest_claims"])
"""``largest_claims``: how many claims it lists (``summary.toml``)."""


def _sum(frame: pd.DataFrame, column: str) -> int:
    return int(frame[column].fillna(0).sum()) if column in frame.columns and len(frame) else 0


def _ratio(numerator: pd.Series | int, denominator: pd.Series | int) -> pd.Series | float | None:
    """numerator / denominator as a float share, empty where the denominator is 0."""
    if isinstance(denominator, pd.Series):
        den = denominator.astype("float64")
        return (pd.Series(numerator, index=den.index).astype("float64") / den).where(den != 0)
    return float(numerator) / float(denominator) if denominator else None  # type: ignore[arg-type]


def in_force(policies: pd.DataFrame, asof: pd.Timestamp) -> pd.Series:
    """True where the policy covers the day ``asof``."""
    start = policies["join_date"].fillna(policies["period_start"])
    end = policies["cancel_date"].fillna(policies["period_end"])
    return ((start <= asof) & (asof < end)).astype(bool)


def compact_yen(amount: int, lang: str = "en") -> str:
    """A round yen amount for a label: en ``50M``, ``1.5B``; ja ``5,000万``, ``1億5,000万``."""
    if lang == "ja":
        oku, man = divmod(amount // 10_000, 10_000)
        rest = amount % 10_000
        text = (f"{oku:,}億" if oku else "") + (f"{man:,}万" if man else "")
        return text + (f"{rest:,}" if rest else "") if text else f"{amount:,}"
    for size, unit in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K")):
        if amount >= size and (amount * 10) % size == 0:
            return f"{amount / size:,.1f}".removesuffix(".0") + unit
    return f"{amount:,}"


def revenue_band(policies: pd.DataFrame, book: ProductBook, labels: dict[str, str], lang: str = "en") -> pd.DataFrame:
    """Each policy's band of its product's tariff: ``revenue_band`` (label) and ``band_order``.

    ``labels`` holds the templates ``first``, ``middle``, ``above``, ``missing`` with ``{lower}``
    and ``{upper}`` (compact yen, :func:`compact_yen`). Bands are upper-bound inclusive
    (PRODUCTS.md), so "over 50M to 100M" is 50,000,001 to 100,000,000.
    """
    order = pd.Series(-1, index=policies.index, dtype="int64")
    label = pd.Series(labels["missing"], index=policies.index, dtype="object")
    revenue = policies["revenue"].astype("Int64")
    for code, product in book.products.items():
        bounds = np.array([int(b["up_to"]) for b in product.tariff["revenue_bands"]], dtype="int64")
        short = [compact_yen(int(b), lang) for b in bounds]
        names = [
            labels["first"].format(upper=short[0]),
            *(labels["middle"].format(lower=short[i - 1], upper=short[i]) for i in range(1, len(short))),
            labels["above"].format(lower=short[-1]),
        ]
        rows = (policies["product"] == code) & revenue.notna()
        index = np.searchsorted(bounds, revenue[rows].to_numpy(dtype="int64"), side="left")
        order[rows] = index
        label[rows] = np.array(names, dtype=object)[index]
    missing = order < 0
    order[missing] = 10_000
    return pd.DataFrame({"revenue_band": label, "band_order": order}, index=policies.index)


def _policy_dims(
    policies: pd.DataFrame, book: ProductBook, band_labels: dict[str, str], lang: str = "en"
) -> pd.DataFrame:
    bands = revenue_band(policies, book, band_labels, lang)
    return pd.DataFrame(
        {
            "policy_id": policies["policy_id"],
            "product": policies["product"],
            "plan": coverage_plan(policies, book),
            "industry": policies["industry"].astype("str").where(policies["industry"].notna(), MISSING),
            "revenue_band": bands["revenue_band"],
            "band_order": bands["band_order"],
            **({"coverholder": policies["coverholder"]} if "coverholder" in policies.columns else {}),
        }
    ).drop_duplicates("policy_id", keep="last")


def policies_plan(policies: pd.DataFrame, book: ProductBook) -> pd.Series:
    """Each policy's plan as the reports show it: its ``plan``, or its product's only plan
    (``leak_lite``: ``standard``, the name its coverage tables and the lines use)."""
    return coverage_plan(policies, book).astype("object")


def _policy_counts(policies: pd.DataFrame, asof: pd.Timestamp) -> dict[str, int]:
    """Policy counts of the KPI sheet as at ``asof`` (a PolicyPriced frame)."""
    return {
        "policies_in_force": int(in_force(policies, asof).sum()),
        "adjustment_premium": _sum(policies, "adjustment_premium"),
        "referrals": int((policies["status"] == "refer").sum()),
        "warnings": int(policies["warnings"].fillna("").astype(str).ne("").sum()),
    }


def _this_month_by_part(sums: LineSums | None) -> dict[str, int | None]:
    """The month's payable of each part (the lines' ``payable_this_month``), or None without the lines' sums."""
    if sums is None:
        return dict.fromkeys(PARTS)
    return {part: int(sums.this_month_by_part[part]) for part in PARTS}


def kpi(
    policies: pd.DataFrame,
    claims: pd.DataFrame,
    month: str,
    reconciliation: pd.DataFrame | None = None,
    *,
    policies_previous: pd.DataFrame | None = None,
    claims_previous: pd.DataFrame | None = None,
    line_sums: LineSums | None = None,
) -> pd.DataFrame:
    """Key figures: columns ``figure, scope, kind, to_date, this_month`` (one row per figure).

    ``this_month`` (see the module docstring) needs ``policies_previous`` (PolicyPriced as at M−1)
    for the policy counts and ``claims_previous`` (claims as at M−1) for the claims; the split of
    the month's payable by part needs ``line_sums`` (the lines' sums as at M, ``LineSums``).
    Without them those cells stay empty.

    ``reconciliation`` is the validation stage's table (``month, file, sheet, rows_read,
    rows_processed, rows_rejected`` per sheet of every month, with a ``total`` row, which is
    ignored); it is summed per ``sheet`` (policies, claims, lines), and month M's rows give the
    ``this_month`` figures. A frame with a ``scope`` column instead of ``sheet`` is taken as
    already summed (no month). Each sheet gives four rows, the last of which, read − processed −
    rejected, must be 0.
    """
    asof = month_end(month)
    written = _sum(policies, "written_premium")
    earned = _sum(policies, "earned_to_date")
    earned_tm = _sum(policies, "earned_this_month")
    payable = _sum(claims, "payable_total")
    payable_tm = _sum(claims, "payable_this_month")
    written_tm = _sum(policies, "written_this_month")
    now = _policy_counts(policies, asof)
    then = _policy_counts(policies_previous, month_end(previous_month(month))) if policies_previous is not None else {}
    moved = {key: now[key] - then[key] for key in then}
    claims_tm = len(claims) - len(claims_previous) if claims_previous is not None else None
    split_tm = _this_month_by_part(line_sums)
    rows: list[tuple[str, str, str, object, object]] = [
        ("policies_in_force", "all", "count", now["policies_in_force"], moved.get("policies_in_force")),
        ("written_premium", "all", "money", written, written_tm),
        ("earned_premium", "all", "money", earned, earned_tm),
        ("upr", "all", "money", _sum(policies, "upr"), written_tm - earned_tm),
        ("adjustment_premium", "all", "money", now["adjustment_premium"], moved.get("adjustment_premium")),
        ("claims", "all", "count", len(claims), claims_tm),
        ("payable_liability", "all", "money", _sum(claims, "payable_liability"), split_tm["liability"]),
        ("payable_expense", "all", "money", _sum(claims, "payable_expense"), split_tm["expense"]),
        ("payable_total", "all", "money", payable, payable_tm),
        ("loss_ratio", "all", "percent", _ratio(payable, earned), _ratio(payable_tm, earned_tm)),
        ("referrals", "policies", "count", now["referrals"], moved.get("referrals")),
        ("warnings", "policies", "count", now["warnings"], moved.get("warnings")),
    ]
    if reconciliation is not None:
        this_month = _month_rows(reconciliation, month)
        for record in reconciliation_by_sheet(reconciliation).to_dict("records"):
            read, done, rejected = (int(record[k]) for k in ("rows_read", "rows_processed", "rows_rejected"))
            scope = str(record["scope"])
            month_counts = this_month.get(scope)
            read_tm, done_tm, rejected_tm = month_counts if month_counts else (None, None, None)
            gap_tm = read_tm - done_tm - rejected_tm if month_counts else None  # type: ignore[operator]
            rows += [
                ("rows_read", scope, "count", read, read_tm),
                ("rows_processed", scope, "count", done, done_tm),
                ("rows_rejected", scope, "count", rejected, rejected_tm),
                ("reconciliation_gap", scope, "count", read - done - rejected, gap_tm),
            ]
    return pd.DataFrame(rows, columns=["figure", "scope", "kind", "to_date", "this_month"])


def _month_rows(reconciliation: pd.DataFrame, month: str) -> dict[str, tuple[int, int, int]]:
    """Rows read, processed and rejected of month ``month``'s files per sheet (0s for a sheet the
    month lacks); empty when the table has no ``month`` column."""
    if "month" not in reconciliation.columns or "sheet" not in reconciliation.columns:
        return {}
    counts = ["rows_read", "rows_processed", "rows_rejected"]
    sheets = reconciliation[reconciliation["sheet"].fillna("") != ""]["sheet"].unique()
    rows = reconciliation[reconciliation["month"] == month].groupby("sheet")[counts].sum()
    out: dict[str, tuple[int, int, int]] = {}
    for sheet in sheets:
        values = rows.loc[sheet] if sheet in rows.index else pd.Series(0, index=counts)
        out[str(sheet)] = (int(values["rows_read"]), int(values["rows_processed"]), int(values["rows_rejected"]))
    return out


def reconciliation_by_sheet(reconciliation: pd.DataFrame) -> pd.DataFrame:
    """Rows read, processed and rejected per input sheet (``scope``), all months together."""
    counts = ["rows_read", "rows_processed", "rows_rejected"]
    if "scope" in reconciliation.columns:
        return reconciliation[["scope", *counts]]
    rows = reconciliation
    if "month" in rows.columns:
        rows = rows[rows["month"] != "total"]
    rows = rows[rows["sheet"].fillna("") != ""]
    out = rows.groupby("sheet", sort=False)[counts].sum().reset_index().rename(columns={"sheet": "scope"})
    order = {"policies": 0, "claims": 1, "lines": 2}
    return out.sort_values("scope", key=lambda s: s.map(order).fillna(9), kind="stable").reset_index(drop=True)


def _with_policy_dims(rows: pd.DataFrame, dims: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with the columns of ``dims`` (one row per ``policy_id``) that it lacks, each row given
    its policy's (empty where its policy is not among them): what a left merge on ``policy_id``
    gives, looked up by position instead of joined, so that a book's policies and claims are not
    copied to be given a few columns."""
    where = positions(rows["policy_id"], dims["policy_id"])  # once for every column added
    added = {
        column: column_taken(dims[column], where, rows.index) for column in dims.columns if column not in rows.columns
    }
    return rows.assign(**added).reset_index(drop=True)


@dataclass(frozen=True)
class DimensionRows:
    """What every breakdown by policy dimensions groups, built once per summary
    (``dimension_rows``): each policy row with its measures and dimensions (``policies``), and each
    claim with its policy's dimensions, an empty dimension shown as ``MISSING`` (``claims``)."""

    policies: pd.DataFrame
    claims: pd.DataFrame


def dimension_rows(
    policies: pd.DataFrame,
    claims: pd.DataFrame,
    month: str,
    book: ProductBook,
    band_labels: dict[str, str],
    lang: str = "en",
) -> DimensionRows:
    """Policies and claims with the policy dimensions (``product``, ``plan``, ``revenue_band`` named
    in ``lang``, ``industry``, ``coverholder`` when there is one) that ``by_policy_dims`` groups by,
    and the policy measures as at ``month``."""
    table = _policy_dims(policies, book, band_labels, lang)
    frame = policies[["policy_id"]].assign(
        policies_in_force=in_force(policies, month_end(month)).astype("int64"),
        **{m: policies[m].fillna(0).astype("int64") for m in POLICY_MEASURES},
    )
    # of the claims, only what the breakdowns group and sum (not a copy of every column of every claim)
    read = ["claim_id", "policy_id", *BREAKDOWN_CLAIM_MEASURES]
    claim_rows = _with_policy_dims(claims[[*read, *(c for c in table.columns if c in claims and c not in read)]], table)
    for column in table.columns.drop(["policy_id", "band_order"]):
        if column in claim_rows.columns:
            claim_rows[column] = claim_rows[column].astype("str").where(claim_rows[column].notna(), MISSING)
    return DimensionRows(_with_policy_dims(frame, table), claim_rows)


def by_policy_dims(rows: DimensionRows, dims: list[str]) -> pd.DataFrame:
    """Premium and claims grouped by policy dimensions (``product``, ``plan``, ``revenue_band``,
    ``industry``, ``coverholder``) of ``rows`` (``dimension_rows``): policies, in force, premium to
    date and this month, UPR, claims, payable, loss ratio. Ordered by product, band, then written
    premium (largest first)."""
    keys = [*dims, "band_order"] if "revenue_band" in dims else dims
    grouped = rows.policies.groupby(keys, dropna=False, sort=False)
    out = grouped.agg(
        policies=("policy_id", "size"),
        policies_in_force=("policies_in_force", "sum"),
        **{m: (m, "sum") for m in POLICY_MEASURES},
    ).reset_index()
    claim_sums = (
        rows.claims.groupby(keys, dropna=False, sort=False)
        .agg(claims=("claim_id", "size"), **{m: (m, "sum") for m in BREAKDOWN_CLAIM_MEASURES})
        .reset_index()
    )
    out = out.merge(claim_sums, on=keys, how="outer")
    for column in ("policies", "policies_in_force", *POLICY_MEASURES, "claims", *BREAKDOWN_CLAIM_MEASURES):
        out[column] = out[column].fillna(0).astype("int64")
    out["loss_ratio"] = _ratio(out["payable_total"], out["earned_to_date"])
    sort_keys = [k for k in ("product", "band_order") if k in keys]
    out = out.sort_values([*sort_keys, "written_premium"], ascending=[True] * len(sort_keys) + [False], kind="stable")
    return out.drop(columns=[c for c in ("band_order",) if c in out.columns]).reset_index(drop=True)


def by_event(claims: pd.DataFrame, book: ProductBook) -> pd.DataFrame:
    """Claims and payable by event type, in the catalogue's order of event types."""
    out = (
        claims.groupby("event_type", sort=False)
        .agg(claims=("claim_id", "size"), **{m: (m, "sum") for m in CLAIM_MEASURES})
        .reset_index()
    )
    rank = positions(out["event_type"], book.event_types)  # text or the history's categoricals alike
    out = out.assign(_order=np.where(rank < 0, len(book.event_types), rank)).sort_values("_order", kind="stable")
    return out.drop(columns="_order").astype({m: "int64" for m in CLAIM_MEASURES}).reset_index(drop=True)


def by_item(per_item: pd.DataFrame, book: ProductBook) -> pd.DataFrame:
    """Lines, amounts claimed, eligible and payable by product and item (``LineSums.per_item``), in
    catalogue order (items no product pays last)."""
    catalogue = book.items()[["product", "item", "item_number"]]
    out = per_item.merge(catalogue, on=["product", "item"], how="left")
    out["item_number"] = out["item_number"].fillna(1_000).astype("int64")
    out = out.sort_values(["product", "item_number", "item"], kind="stable").drop(columns="item_number")
    return out.astype({m: "int64" for m in LINE_MEASURES}).reset_index(drop=True)


def largest_claims(
    claims: pd.DataFrame,
    reinsurance_claims: pd.DataFrame,
    policies: pd.DataFrame,
    count: int = LARGEST_CLAIMS,
) -> pd.DataFrame:
    """The ``count`` claims with the largest payable total (ties by claim id), with their policy,
    dates, payable by part and reinsurance recoveries. Claims with nothing payable are left out."""
    # ranked on the two columns that rank them, then only the claims kept taken whole (a book's claims
    # are not copied and sorted with every column to keep a handful), and only their policies' and
    # recoveries' rows looked at
    paying = np.flatnonzero((claims["payable_total"] > 0).to_numpy())
    ranked = (
        claims[["payable_total", "claim_id"]]
        .take(paying)
        .assign(position=paying)
        .sort_values(["payable_total", "claim_id"], ascending=[False, True], kind="stable")
        .head(count)
    )
    top = claims.take(ranked["position"].to_numpy())
    policy = policies[among(policies["policy_id"], top["policy_id"])]
    policy = policy.drop_duplicates("policy_id", keep="last")[["policy_id", "product", "insured_name"]]
    recoveries = reinsurance_claims[among(reinsurance_claims["claim_id"], top["claim_id"])]
    recoveries = recoveries[["claim_id", "qs_recovery", "xol_recovery", "net"]]
    columns = ["claim_id", "policy_id", "event_type", "known_date", "notice_date", *CLAIM_MEASURES]
    out = (
        top[[c for c in columns if c in top.columns]]
        .merge(policy, on="policy_id", how="left")
        .merge(recoveries, on="claim_id", how="left")
    )
    out.insert(0, "rank", np.arange(1, len(out) + 1, dtype="int64"))
    order = [
        "rank",
        "claim_id",
        "policy_id",
        "product",
        "insured_name",
        "event_type",
        "known_date",
        "notice_date",
        *CLAIM_MEASURES,
        "qs_recovery",
        "xol_recovery",
        "net",
    ]
    return out[[c for c in order if c in out.columns]].reset_index(drop=True)


def _below(remaining: pd.Series, limit: pd.Series, share: Decimal) -> pd.Series:
    """remaining < share × limit, exactly (integer cross-multiplication); False where empty."""
    numerator, denominator = ratio_parts(share)
    rem = remaining.astype("Int64")
    lim = limit.astype("Int64")
    return ((rem * denominator < lim * numerator) & (lim > 0)).fillna(False).astype(bool)


def limits_low(
    policies: pd.DataFrame, share: Decimal = LOW_LIMIT_SHARE, book: ProductBook | None = None
) -> pd.DataFrame:
    """Policies with under ``share`` of their liability or expense limit left, lowest first.

    leak_lite's liability limit is the combined cap (its remaining liability limit is measured
    against it); its expense limit is per incident, so it has no remaining expense limit. With
    ``book``, leak_lite's plan shows as ``standard`` (:func:`policies_plan`).
    """
    liability = _below(policies["remaining_liability_limit"], policies["liability_limit"], share)
    expense = _below(policies["remaining_expense_limit"], policies["expense_limit"], share)
    low = policies[liability | expense]
    out = pd.DataFrame(
        {
            "policy_id": low["policy_id"],
            "product": low["product"],
            "insured_name": low["insured_name"],
            "plan": policies_plan(low, book) if book is not None else low["plan"],
            "liability_limit": low["liability_limit"].astype("Int64"),
            "remaining_liability_limit": low["remaining_liability_limit"].astype("Int64"),
            "liability_left_share": _ratio(low["remaining_liability_limit"].fillna(0), low["liability_limit"]),
            "expense_limit": low["expense_limit"].astype("Int64"),
            "remaining_expense_limit": low["remaining_expense_limit"].astype("Int64"),
            "expense_left_share": _ratio(low["remaining_expense_limit"].astype("Float64"), low["expense_limit"]),
        }
    )
    out["liability_left_share"] = out["liability_left_share"].where(low["remaining_liability_limit"].notna())
    out["lowest_left_share"] = out[["liability_left_share", "expense_left_share"]].min(axis=1)
    return out.sort_values(["lowest_left_share", "policy_id"], kind="stable").reset_index(drop=True)
