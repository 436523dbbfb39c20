"""Reserves on the payable triangle with chainladder-python: chain ladder, Mack and Bornhuetter-Ferguson.

Input: the long triangle of :func:`pipeline.reports.triangle.triangle_long` (one row per accident
month and reporting month; ``cumulative`` payable to date) and the premium earned in each accident
month (:func:`pipeline.stages.premium.earned_by_month`), with the assumptions of
``reserving.toml``. Every development figure is chainladder's; this module only chooses the
triangle it is fitted on, reads its results back and rounds them down to the yen. The calls, which
an actuary can repeat on the ``triangle_long`` sheet (README § Reserves)::

    tri = cl.Triangle(long, origin="origin", development="valuation", columns=["cumulative"], cumulative=True)
    dev = cl.Development(sigma_interpolation=...).fit(tri)      # volume-weighted, all periods, no tail
    mack = cl.MackChainladder().fit(dev.transform(tri))           # ultimate_, mack_std_err_, total_mack_std_err_
    bf = cl.BornhuetterFerguson(apriori=...).fit(dev.transform(tri), sample_weight=earned)

**The triangle fitted** runs from the oldest accident month with any payable to M. Older accident
months (nothing paid, e.g. claims known before the book began paying) would only add development
ages without a single payment, whose factors chainladder cannot estimate and whose missing variance
would leave every Mack figure empty; they are rows of the sheet all the same (``nothing_paid``, no
development known beyond the oldest age: ``no_tail``).

**chainladder's zeros.** chainladder stores a zero as missing, so it reports an IBNR, an ultimate or a
standard error that is exactly 0 as NaN. Where the figure is 0 by construction it is written as 0:
IBNR is always ultimate − paid to date in yen; a row whose cdf is exactly 1 (no development left)
has a Mack standard error of 0; a BF increment is 0 where the cdf is 1 or nothing was earned.
Anything else chainladder leaves empty stays empty, and ``method_note`` says why. Figures are
rounded to a millionth of a yen (binary noise: 18,834 × 1.0 must not floor to 18,833) and then
floored.

**Notes** (codes, ``;``-joined, in this order; named in ``labels.toml [method_notes]``):
``too_few_diagonals``, ``nothing_paid``, ``factor_not_estimable``, ``mack_not_estimable``,
``immature``, ``no_tail`` and ``total`` (see :data:`NOTES`).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, cast

import numpy as np
import pandas as pd

RESERVES_COLUMNS = (
    "origin",
    "development_age",
    "paid_to_date",
    "earned_premium",
    "cdf",
    "ultimate_chainladder",
    "ibnr_chainladder",
    "mack_std_err",
    "apriori_loss_ratio",
    "ultimate_bf",
    "ibnr_bf",
    "method_note",
)
DEVELOPMENT_COLUMNS = ("development_age", "age_to_age_factor", "cumulative_factor", "link_ratios")
NOTES = {
    "too_few_diagonals": "the triangle has fewer than two months of development with payments: no factor, no figure",
    "nothing_paid": "nothing paid to date: chain ladder and Mack project nothing; BF gives the figure",
    "factor_not_estimable": "a development factor the row needs has no link ratio: no chain ladder or BF figure",
    "mack_not_estimable": "chainladder gives no variance for a factor the row needs: no Mack standard error",
    "immature": "fewer months of development than reserving.toml's minimum: chain ladder is not credible, prefer BF",
    "no_tail": "no development is known beyond this age (no tail factor): IBNR 0",
    "total": "all accident months; the Mack standard error of the total is chainladder's, not a sum",
}
NOTE_SEPARATOR = ";"
_DIGITS = 6  # figures are rounded to a millionth of a yen before flooring (binary noise)


@dataclass(frozen=True)
class ReservingAssumptions:
    """``reserving.toml``: the BF a priori loss ratio, the months of development below which an
    accident month is ``immature``, and Mack's sigma extrapolation for chainladder."""

    apriori_loss_ratio: Decimal
    min_credible_development_months: int
    sigma_interpolation: Literal["log-linear", "mack"] = "log-linear"

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> ReservingAssumptions:
        return cls(
            apriori_loss_ratio=Decimal(data["apriori_loss_ratio"]),
            min_credible_development_months=int(data["min_credible_development_months"]),
            sigma_interpolation=cast(Literal["log-linear", "mack"], str(data["sigma_interpolation"])),
        )


@dataclass(frozen=True)
class DevelopmentFit:
    """What chainladder estimated, as plain frames (empty when it could estimate nothing).

    ``factors``: one row per development age of the fitted triangle (``development_age``,
    ``age_to_age_factor`` to the next age, ``cumulative_factor`` to ultimate, ``link_ratios`` the
    factor rests on). ``origins``: one row per fitted accident month (``accident_month``,
    ``ultimate_chainladder``, ``mack_std_err``, ``ultimate_bf``, chainladder's floats, NaN where it
    gives none). ``total_mack_std_err``: chainladder's standard error of the total IBNR.
    """

    factors: pd.DataFrame
    origins: pd.DataFrame
    total_mack_std_err: float = math.nan

    @property
    def ages(self) -> int:
        """Development ages of the fitted triangle (0 when nothing was fitted)."""
        return len(self.factors)


def _empty_fit() -> DevelopmentFit:
    factors = pd.DataFrame(
        {
            "development_age": pd.Series(dtype="int64"),
            "age_to_age_factor": pd.Series(dtype="float64"),
            "cumulative_factor": pd.Series(dtype="float64"),
            "link_ratios": pd.Series(dtype="int64"),
        }
    )
    origins = pd.DataFrame(
        {
            "accident_month": pd.Series(dtype="str"),
            **{c: pd.Series(dtype="float64") for c in ("ultimate_chainladder", "mack_std_err", "ultimate_bf")},
        }
    )
    return DevelopmentFit(factors, origins)


def latest_diagonal(long: pd.DataFrame) -> pd.DataFrame:
    """Per accident month (oldest first): ``accident_month, origin, development_age, paid_to_date``,
    the cumulative payable at its latest reporting month."""
    latest = long.sort_values(["accident_month", "development_age"], kind="stable").drop_duplicates(
        "accident_month", keep="last"
    )
    out = latest[["accident_month", "origin", "development_age", "cumulative"]].rename(
        columns={"cumulative": "paid_to_date"}
    )
    return out.astype({"development_age": "int64", "paid_to_date": "int64"}).reset_index(drop=True)


def fitted_triangle(long: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``long`` chainladder is fitted on: accident months from the oldest with any
    payable to the latest (see the module docstring)."""
    paying = long.loc[long["cumulative"] != 0, "accident_month"]
    if paying.empty:
        return long.iloc[0:0]
    return long[long["accident_month"] >= paying.min()]


def _finite(values: Any) -> np.ndarray:
    """chainladder's floats with anything not finite (a variance divided by zero) as NaN."""
    array = np.asarray(values, dtype="float64")
    return np.where(np.isfinite(array), array, np.nan)


def development_fit(long: pd.DataFrame, earned: pd.DataFrame, assumptions: ReservingAssumptions) -> DevelopmentFit:
    """Fit chainladder's ``Development``, ``MackChainladder`` and ``BornhuetterFerguson`` on the
    fitted triangle (:func:`fitted_triangle`), ``earned`` (``month, earned_premium``) being the
    exposure. Empty when the triangle has fewer than two development ages (no factor to estimate)."""
    fitted = fitted_triangle(long)
    if fitted.empty or int(fitted["development_age"].max()) < 2:
        return _empty_fit()
    months = pd.Series(sorted(fitted["accident_month"].unique()))
    exposure = pd.DataFrame(
        {
            "origin": pd.to_datetime(months + "-01"),
            "valuation": fitted["valuation"].max(),
            "earned_premium": months.map(earned.set_index("month")["earned_premium"]).fillna(0).astype("float64"),
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # chainladder warns on its own 0/0 for factors without variance
        return _chainladder_fit(fitted[["origin", "valuation", "cumulative"]], exposure, assumptions)


def _chainladder_fit(
    cumulative: pd.DataFrame, exposure: pd.DataFrame, assumptions: ReservingAssumptions
) -> DevelopmentFit:
    """The chainladder calls of the module docstring, read back into plain frames (chainladder
    computes some attributes lazily, so this runs whole under the caller's warning filter)."""
    import chainladder as cl  # ~2 s to import: only when there is a triangle to fit

    triangle = cl.Triangle(  # type: ignore[abstract]
        cumulative.astype({"cumulative": "float64"}),
        origin="origin",
        development="valuation",
        columns=["cumulative"],
        cumulative=True,
    )
    weight = cl.Triangle(  # type: ignore[abstract]
        exposure, origin="origin", development="valuation", columns=["earned_premium"], cumulative=True
    )
    development = cl.Development(sigma_interpolation=assumptions.sigma_interpolation).fit(triangle)
    developed = development.transform(triangle)
    mack = cl.MackChainladder().fit(developed)
    bf = cl.BornhuetterFerguson(apriori=float(assumptions.apriori_loss_ratio)).fit(developed, sample_weight=weight)

    ages = len(triangle.development)
    factors = pd.DataFrame(
        {
            "development_age": np.arange(1, ages + 1, dtype="int64"),
            "age_to_age_factor": np.append(_finite(development.ldf_.values[0, 0, 0, :]), np.nan)[:ages],
            "cumulative_factor": np.append(_finite(development.cdf_.values[0, 0, 0, :]), 1.0)[:ages],
            "link_ratios": np.append(np.isfinite(triangle.link_ratio.values[0, 0]).sum(axis=0), 0)[:ages],
        }
    ).astype({"link_ratios": "int64"})
    origins = pd.DataFrame(
        {
            "accident_month": [str(p) for p in triangle.origin.strftime("%Y-%m")],
            "ultimate_chainladder": _finite(mack.ultimate_.values[0, 0, :, -1]),
            "mack_std_err": _finite(mack.mack_std_err_.values[0, 0, :, -1]),
            "ultimate_bf": _finite(bf.ultimate_.values[0, 0, :, -1]),
        }
    )
    return DevelopmentFit(factors, origins, float(_finite(mack.total_mack_std_err_.to_numpy()).ravel()[0]))


def _estimable_cdf(factors: pd.DataFrame) -> pd.Series:
    """Cumulative factor by development age, empty where a factor from that age on has no link
    ratio (chainladder would silently take it as 1)."""
    if factors.empty:
        return pd.Series(dtype="float64")
    ldf = factors["age_to_age_factor"].to_numpy()
    missing = ~np.isfinite(ldf[:-1])
    # a factor at age k is needed by every age <= k: reverse cumulative "any"
    needs_missing = np.append(np.flip(np.cumsum(np.flip(missing))) > 0, False)
    cdf = factors["cumulative_factor"].where(~needs_missing)
    return pd.Series(cdf.to_numpy(), index=factors["development_age"].to_numpy())


def development_factors(fit: DevelopmentFit) -> pd.DataFrame:
    """The ``development`` sheet: chainladder's age-to-age factor (age k to k+1) and cumulative
    factor (age k to ultimate, no tail) by development age, with the link ratios each rests on.
    A cumulative factor resting on a factor without link ratios is empty."""
    out = fit.factors.copy()
    out["cumulative_factor"] = _estimable_cdf(fit.factors).to_numpy()
    return out[list(DEVELOPMENT_COLUMNS)].reset_index(drop=True)


def _yen(values: pd.Series) -> pd.Series:
    """Floats floored to the yen (after rounding away binary noise), ``Int64``, empty stays empty."""
    floored = np.floor(values.astype("float64").round(_DIGITS).to_numpy())
    return pd.Series(floored, index=values.index).astype("Int64")


def _notes(flags: dict[str, pd.Series], index: pd.Index) -> pd.Series:
    notes = pd.Series("", index=index, dtype="str")
    for code, flagged in flags.items():
        separator = np.where(notes == "", "", NOTE_SEPARATOR)
        notes = notes.where(~flagged.to_numpy(dtype=bool), notes + separator + code)
    return notes


def reserves_by_accident_month(
    long: pd.DataFrame, earned: pd.DataFrame, fit: DevelopmentFit, assumptions: ReservingAssumptions
) -> pd.DataFrame:
    """The ``reserves`` sheet: one row per accident month of ``long`` (oldest first), then a total.

    ``paid_to_date`` is the latest diagonal; ``earned_premium`` the premium earned in the accident
    month (BF's exposure); ``cdf`` the cumulative factor at the row's age (1 beyond the last factor:
    no tail); the ultimates are chainladder's, floored to the yen; IBNR = ultimate − paid to date.
    Where a method gives no figure the cell is empty and ``method_note`` says why (module docstring).
    """
    rows = latest_diagonal(long)
    if rows.empty:
        return _empty_reserves()
    paid = rows["paid_to_date"]
    age = rows["development_age"]
    earned_premium = rows["accident_month"].map(earned.set_index("month")["earned_premium"]).fillna(0).astype("int64")
    fitted = rows["accident_month"].isin(fit.origins["accident_month"])
    by_month = fit.origins.set_index("accident_month")

    if fit.ages:
        cdf_by_age = _estimable_cdf(fit.factors)
        cdf = age.map(cdf_by_age).astype("float64").where(age < fit.ages, 1.0)
    else:
        cdf = pd.Series(np.nan, index=rows.index, dtype="float64")
    no_factors = pd.Series(fit.ages == 0, index=rows.index)
    not_estimable = ~no_factors & cdf.isna()
    nothing_paid = paid == 0
    development_left = cdf.notna() & (cdf.round(12) != 1.0)

    chainladder = rows["accident_month"].map(by_month["ultimate_chainladder"]).astype("float64")
    chainladder = chainladder.where(fitted & ~nothing_paid & cdf.notna())
    ultimate_chainladder = _yen(chainladder)

    mack = rows["accident_month"].map(by_month["mack_std_err"]).astype("float64")
    mack = mack.where(mack.notna() | development_left, 0.0).where(chainladder.notna())
    no_mack = chainladder.notna() & mack.isna()

    bf = rows["accident_month"].map(by_month["ultimate_bf"]).astype("float64")
    nothing_to_add = ~development_left | (earned_premium == 0)
    bf = bf.where(bf.notna() | ~nothing_to_add, paid.astype("float64")).where(cdf.notna())
    ultimate_bf = _yen(bf)

    notes = _notes(
        {
            "too_few_diagonals": no_factors,
            "nothing_paid": nothing_paid,
            "factor_not_estimable": not_estimable,
            "mack_not_estimable": no_mack,
            "immature": age < assumptions.min_credible_development_months,
            "no_tail": ~no_factors & (age >= fit.ages),
        },
        rows.index,
    )
    ratio = float(assumptions.apriori_loss_ratio)
    table = pd.DataFrame(
        {
            "origin": pd.to_datetime(rows["origin"]),
            "development_age": age.astype("Int64"),
            "paid_to_date": paid.astype("int64"),
            "earned_premium": earned_premium,
            "cdf": cdf,
            "ultimate_chainladder": ultimate_chainladder,
            "ibnr_chainladder": ultimate_chainladder - paid,
            "mack_std_err": _yen(mack),
            "apriori_loss_ratio": ratio,
            "ultimate_bf": ultimate_bf,
            "ibnr_bf": ultimate_bf - paid,
            "method_note": notes,
        }
    )
    return pd.concat([table, _total(table, fit)], ignore_index=True)[list(RESERVES_COLUMNS)]


def _empty_reserves() -> pd.DataFrame:
    kinds = {"origin": "datetime64[ns]", "cdf": "float64", "apriori_loss_ratio": "float64", "method_note": "str"}
    kinds.update({c: "Int64" for c in RESERVES_COLUMNS if c not in kinds})
    return pd.DataFrame({c: pd.Series(dtype=kinds[c]) for c in RESERVES_COLUMNS})


def _total(table: pd.DataFrame, fit: DevelopmentFit) -> pd.DataFrame:
    """The total row: sums, empty where a row with payments has no figure (the identity
    ultimate = paid + IBNR would not hold); the Mack standard error of the total is chainladder's
    (it allows for the factors every month shares), empty where a row's is missing."""
    paying = table["paid_to_date"] != 0

    def total(column: str, basis: str) -> Any:
        if bool((table[basis].isna() & paying).any()) or bool(table[basis].isna().all()):
            return pd.NA
        return int(table[column].fillna(0).sum())

    development_left = table["cdf"].notna() & (table["cdf"].round(12) != 1.0)
    mack_missing = bool((table["mack_std_err"].isna() & table["ultimate_chainladder"].notna()).any())
    mack_total = fit.total_mack_std_err
    if not development_left.any() and fit.ages:
        mack_total = 0.0
    ultimate_chainladder = total("ultimate_chainladder", "ultimate_chainladder")
    unknown = mack_missing or ultimate_chainladder is pd.NA or not math.isfinite(mack_total)
    mack = pd.NA if unknown else math.floor(round(mack_total, _DIGITS))
    notes = ["total"]
    if not fit.ages:
        notes.append("too_few_diagonals")
    elif bool((table["cdf"].isna() & paying).any()):
        notes.append("factor_not_estimable")
    if mack is pd.NA and ultimate_chainladder is not pd.NA:
        notes.append("mack_not_estimable")
    row = {
        "origin": pd.NaT,
        "development_age": pd.NA,
        "paid_to_date": int(table["paid_to_date"].sum()),
        "earned_premium": int(table["earned_premium"].sum()),
        "cdf": np.nan,
        "ultimate_chainladder": ultimate_chainladder,
        "ibnr_chainladder": total("ibnr_chainladder", "ultimate_chainladder"),
        "mack_std_err": mack,
        "apriori_loss_ratio": table["apriori_loss_ratio"].iloc[0] if len(table) else np.nan,
        "ultimate_bf": total("ultimate_bf", "ultimate_bf"),
        "ibnr_bf": total("ibnr_bf", "ultimate_bf"),
        "method_note": NOTE_SEPARATOR.join(notes),
    }
    out = pd.DataFrame([row])
    return out.astype({c: str(table[c].dtype) for c in table.columns if c != "origin"})
