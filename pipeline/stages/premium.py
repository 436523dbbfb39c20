"""Premium stage: price every policy as at a month, and the month's movements.

``PolicyValid -> PolicyPriced`` (``priced_policies``) and ``PolicyPriced (M, M-1) -> PolicyAccounted``
without the remaining-limit columns (``accounted_policies``). Rules: CALCULATION.md § Policies
(§ Premium) and § Time; the numbers come from each product's ``tariff.toml`` and ``product.toml``,
whose ``basis`` names the rating method:

- ``revenue_band``: the annual premium is the band's ``annual_premium`` (``leak_lite``).
- ``revenue_band_with_factors``: ``floor(base(band, plan) × every option factor × rider factors)``,
  raised to ``minimum_annual_premium``, then ``× payment_method_factors`` and floored again
  (``cyber_security``).

Every product of money and decimal factors is done in exact integers: factors become reduced
(numerator, denominator) pairs and the products are Python integers in object-dtype columns, so no
intermediate can overflow int64 and no yen is lost to binary floats (60,000 × 0.70 = 42,000).

Decisions where the spec leaves room (also in the function docstrings):

- ``annual_premium`` is the premium on ``revenue`` (the provisional premium for ``adjustable``).
- ``written_premium`` is the total written to date: written after cancellation plus
  ``adjustment_premium``; ``adjustment_premium`` is also shown on its own. Earned and UPR are on
  that total (CALCULATION.md § Premium, "written including any adjustment").
- The adjustment compares full annual premiums (minimum and payment-method factor included) on
  ``actual_revenue`` and on ``revenue``; it applies where ``premium_basis`` is ``adjustable``,
  ``actual_revenue`` is given and there is no ``cancel_date``.
- A referral on ``revenue`` leaves every premium figure empty and gets no warning (its premium is
  unknown); ``cover_months`` is still given.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from pipeline.arrow_text import looked_up
from pipeline.calendar import MONTHS_PER_YEAR, add_months, whole_months_between
from pipeline.money import ratio_parts
from pipeline.products.load import Product, ProductBook
from pipeline.stages.codes import mapped_once_each

BAND_BASIS = "revenue_band"
FACTOR_BASIS = "revenue_band_with_factors"
OPTION_FACTOR_TABLES = ("liability_limit", "liability_deductible", "expense_limit", "expense_deductible")
ADJUSTABLE = "adjustable"
LARGE_INSTALLMENT = "large_installment"
LARGE_INSTALLMENT_BELOW_MINIMUM = "large_installment_below_minimum"
WARNING_SEPARATOR = ";"
MOVEMENTS = {"written_premium": "written_this_month", "earned_to_date": "earned_this_month"}


def band_positions(revenue: pd.Series, bands: list[dict[str, Any]]) -> np.ndarray:
    """Position of each revenue's band, bands' ``up_to`` being inclusive upper bounds; -1 for a referral.

    A referral is a revenue that is empty or above the last band (CALCULATION.md § Premium).
    """
    upper_bounds = np.array([band["up_to"] for band in bands], dtype="int64")
    known = revenue.notna().to_numpy()
    values = revenue.to_numpy(dtype="int64", na_value=0)
    positions = np.searchsorted(upper_bounds, values, side="left")
    return np.where(known & (positions < len(upper_bounds)), positions, -1)


def _exact(values: Any, index: pd.Index) -> pd.Series:
    """An object column of Python ints (exact, unbounded) from integer values."""
    return pd.Series(np.asarray(values, dtype="int64"), index=index).astype(object)


def _factor_fractions(options: pd.Series, factors: Mapping[Any, Decimal], table: str) -> tuple[pd.Series, pd.Series]:
    """Exact (numerator, denominator) of the factor of each row's option, as object columns of ints."""
    parts = {option: ratio_parts(factor) for option, factor in factors.items()}
    numerators = mapped_once_each(options, {option: part[0] for option, part in parts.items()})
    denominators = mapped_once_each(options, {option: part[1] for option, part in parts.items()})
    unknown = options[numerators.isna()]
    if len(unknown):
        raise ValueError(f"{table}: no factor for option(s) {sorted(set(unknown.tolist()))}")
    return _exact(numerators, options.index), _exact(denominators, options.index)


def _band_annual_premium(revenue: pd.Series, tariff: dict[str, Any]) -> pd.Series:
    """Annual premium read from the revenue band table; empty for a referral."""
    positions = band_positions(revenue, tariff["revenue_bands"])
    prices = np.array([band["annual_premium"] for band in tariff["revenue_bands"]], dtype="int64")
    annual = pd.Series(prices[np.maximum(positions, 0)], index=revenue.index, dtype="Int64")
    return annual.where(positions >= 0, pd.NA)


def _factor_annual_premium(revenue: pd.Series, policies: pd.DataFrame, product: Product) -> pd.Series:
    """``floor(base × option factors × rider factors)``, raised to the minimum, × payment-method factor,
    floored; empty for a referral (CALCULATION.md § Premium, PRODUCTS.md § Tariff)."""
    tariff = product.tariff
    bands = tariff["revenue_bands"]
    positions = band_positions(revenue, bands)
    plan_numbers = mapped_once_each(policies["plan"], {plan: number for number, plan in enumerate(product.plans)})
    if plan_numbers.isna().any():
        raise ValueError(f"{product.code}: unknown plan(s) {sorted(set(policies['plan'][plan_numbers.isna()]))}")
    base_table = np.array([[band[plan] for plan in product.plans] for band in bands], dtype="int64")
    base = base_table[np.maximum(positions, 0), plan_numbers.to_numpy(dtype="int64")]

    numerator = _exact(base, policies.index)
    denominator = _exact(np.ones(len(policies), dtype="int64"), policies.index)
    for option in OPTION_FACTOR_TABLES:
        table = f"{option}_factors"
        factors = {row[option]: row["factor"] for row in tariff[table]}
        option_numerator, option_denominator = _factor_fractions(policies[option], factors, table)
        numerator = numerator * option_numerator
        denominator = denominator * option_denominator
    for rider, factor in tariff["rider_factors"].items():
        rider_numerator, rider_denominator = ratio_parts(factor)
        attached = policies[rider].to_numpy(dtype=bool)
        numerator = numerator * _exact(np.where(attached, rider_numerator, 1), policies.index)
        denominator = denominator * _exact(np.where(attached, rider_denominator, 1), policies.index)
    rated = numerator // denominator

    minimum = int(tariff["minimum_annual_premium"])
    raised = rated.where(rated >= minimum, minimum)
    method_numerator, method_denominator = _factor_fractions(
        policies["payment_method"], tariff["payment_method_factors"], "payment_method_factors"
    )
    annual = ((raised * method_numerator) // method_denominator).astype("Int64")
    return annual.where(positions >= 0, pd.NA)


def annual_premium_on(revenue: pd.Series, policies: pd.DataFrame, products: ProductBook) -> pd.Series:
    """Annual premium of each policy on the given revenue (``Int64``; empty for a referral).

    Each row is rated by its product's tariff ``basis`` (CALCULATION.md § Premium, "Annual premium").
    Used with ``revenue`` for the premium and with ``actual_revenue`` for the adjustment.
    """
    annual = pd.Series(pd.NA, index=policies.index, dtype="Int64")
    unknown = sorted(set(policies["product"].unique()) - set(products.products))
    if unknown:
        raise ValueError(f"no product data for product(s) {unknown}")
    for code, product in products.products.items():
        rows = (policies["product"] == code).to_numpy()
        if not rows.any():
            continue
        basis = product.tariff["basis"]
        if basis == BAND_BASIS:
            annual[rows] = _band_annual_premium(revenue[rows], product.tariff).array
        elif basis == FACTOR_BASIS:
            annual[rows] = _factor_annual_premium(revenue[rows], policies[rows], product).array
        else:
            raise ValueError(f"{code}: unknown tariff basis {basis!r}")
    return annual


def cover_months(cover_start: pd.Series, period_end: pd.Series) -> pd.Series:
    """Whole months from cover start to ``period_end``, plus 1 if a part month is left (int64).

    CALCULATION.md § Premium, "Cover months": join 2026-10-15 or 2026-10-01, end 2027-04-01 -> 6;
    a full-year policy has 12.
    """
    whole = whole_months_between(cover_start, period_end)
    landed = add_months(cover_start, whole.to_numpy(dtype="int64"))
    return (whole + (landed < period_end).astype("int64")).astype("int64")


def _large_installment_below_minimum(policies: pd.DataFrame, annual: pd.Series, products: ProductBook) -> pd.Series:
    """``large_installment`` with a known annual premium under the product's minimum for it."""
    thresholds = {
        code: product.definition.get("option_rules", {}).get("large_installment_min_annual_premium")
        for code, product in products.products.items()
    }
    threshold = mapped_once_each(policies["product"], thresholds).astype("Int64")
    below = (policies["payment_method"] == LARGE_INSTALLMENT) & (annual < threshold)
    return below.fillna(False).astype(bool)


def _joined_warnings(flags: Mapping[str, pd.Series], index: pd.Index) -> pd.Series:
    """``;``-joined warning codes of each row (in the order given), ``''`` when none."""
    warnings = pd.Series("", index=index, dtype="str")
    for code, flagged in flags.items():
        separator = np.where(warnings == "", "", WARNING_SEPARATOR)
        warnings = warnings.where(~flagged, warnings + separator + code)
    return warnings


def earned_as_at(written: pd.Series, cover_start: pd.Series, cover_end: pd.Series, asof: pd.Timestamp) -> pd.Series:
    """``floor(written × elapsed days / cover days)`` as at ``asof``, elapsed = ``asof + 1 day −
    cover_start`` clipped to ``[0, cover days]``; zero cover days: earned = written (CALCULATION.md
    § Premium). ``written`` may be empty (a referral): earned is then empty."""
    cover_days = (cover_end - cover_start).dt.days.astype("int64")
    elapsed = ((asof + pd.Timedelta(days=1)) - cover_start).dt.days.astype("int64").clip(lower=0)
    elapsed = elapsed.where(elapsed < cover_days, cover_days)
    return (written * elapsed // cover_days.where(cover_days > 0, 1)).where(cover_days > 0, written)


def earned_by_month(policies: pd.DataFrame, months: list[str]) -> pd.DataFrame:
    """Premium earned in each calendar month of ``months`` (``YYYY-MM``, consecutive, oldest first)
    by the policies as priced (``written_premium`` as at M): ``month, earned_premium`` (int64).

    The premium earned in month k is the earned-to-date at the end of k minus that at the end of
    k−1, each by :func:`earned_as_at` on the same written premium; summed over the policies (a
    referral, with no premium, earns 0). So the months from a policy's cover start to M add up to
    its ``earned_to_date`` as at M, to the yen. This is the exposure of the Bornhuetter-Ferguson
    reserves (one row per accident month).
    """
    if not months:
        return pd.DataFrame({"month": pd.Series(dtype="str"), "earned_premium": pd.Series(dtype="int64")})
    written = policies["written_premium"].astype("Int64").fillna(0).astype("int64")
    cover_start = policies["join_date"].fillna(policies["period_start"])
    cover_end = policies["cancel_date"].fillna(policies["period_end"])
    periods = pd.period_range(pd.Period(months[0], freq="M") - 1, months[-1], freq="M")
    if [str(p) for p in periods[1:]] != list(months):
        raise ValueError(f"months must be consecutive, oldest first: {months}")
    ends = periods.end_time.normalize()
    to_date = np.array([int(earned_as_at(written, cover_start, cover_end, end).sum()) for end in ends], dtype="int64")
    return pd.DataFrame({"month": pd.Series(months, dtype="str"), "earned_premium": np.diff(to_date)})


def priced_policies(policies: pd.DataFrame, products: ProductBook, asof: pd.Timestamp) -> pd.DataFrame:
    """Price every policy as at ``asof``: a ``PolicyPriced`` frame (a new frame; the input is unchanged).

    CALCULATION.md § Policies, § Premium:

    - ``annual_premium``: on ``revenue`` by the product's tariff; empty with status ``refer`` when the
      revenue is empty or above the last band (every premium figure is then empty).
    - ``cover_months``: 12, or for a mid-term joiner the (part) months from ``join_date`` to ``period_end``.
    - written before cancellation = ``floor(annual × cover_months / 12)``; a ``cancel_date`` returns
      ``floor(written × unexpired months / cover_months)``, unexpired = whole months from
      ``cancel_date`` to ``period_end``.
    - ``adjustment_premium`` (``premium_basis`` adjustable, ``actual_revenue`` given, not cancelled):
      annual on ``actual_revenue`` − annual on ``revenue``, may be negative; 0 where no adjustment
      applies; actual revenue outside the bands: status ``refer``, ``adjustment_premium`` empty, the
      provisional figures kept.
    - ``written_premium`` = written after cancellation + ``adjustment_premium`` (the total written to
      date; the adjustment is also shown on its own).
    - ``earned_to_date`` = ``floor(written × elapsed days / cover days)``, elapsed = ``asof + 1 day −
      cover_start`` clipped to ``[0, cover days]``; zero cover days: earned = written. ``upr`` =
      written − earned.
    - ``warnings``: ``large_installment_below_minimum`` when ``large_installment`` has an annual
      premium under the product's ``large_installment_min_annual_premium``.
    """
    annual = annual_premium_on(policies["revenue"], policies, products)
    referred = annual.isna().to_numpy()

    adjusts = (
        (policies["premium_basis"] == ADJUSTABLE) & policies["actual_revenue"].notna() & policies["cancel_date"].isna()
    ).to_numpy() & ~referred
    annual_on_actual = annual_premium_on(policies["actual_revenue"].where(adjusts, pd.NA), policies, products)
    referred_on_actual = adjusts & annual_on_actual.isna().to_numpy()
    adjustment = (annual_on_actual - annual).where(adjusts, 0).where(~referred & ~referred_on_actual, pd.NA)

    cover_start = policies["join_date"].fillna(policies["period_start"])
    cover_end = policies["cancel_date"].fillna(policies["period_end"])
    months = cover_months(cover_start, policies["period_end"])
    written_before_cancellation = annual * months // MONTHS_PER_YEAR
    unexpired = whole_months_between(policies["cancel_date"], policies["period_end"]).fillna(0)
    returned = written_before_cancellation * unexpired // months.where(months > 0, 1)
    written = written_before_cancellation - returned + adjustment.fillna(0)

    earned = earned_as_at(written, cover_start, cover_end, asof)

    warnings = _joined_warnings(
        {LARGE_INSTALLMENT_BELOW_MINIMUM: _large_installment_below_minimum(policies, annual, products)},
        policies.index,
    )
    status = pd.Series(np.where(referred | referred_on_actual, "refer", "ok"), index=policies.index, dtype="str")
    return policies.assign(
        status=status,
        warnings=warnings,
        annual_premium=annual,
        cover_months=months,
        written_premium=written.astype("Int64"),
        adjustment_premium=adjustment.astype("Int64"),
        earned_to_date=earned.astype("Int64"),
        upr=(written - earned).astype("Int64"),
    )


def accounted_policies(priced_now: pd.DataFrame, priced_before: pd.DataFrame) -> pd.DataFrame:
    """``priced_now`` plus ``written_this_month`` and ``earned_this_month`` (CALCULATION.md § Time).

    Movement = figure as at M − the same figure as at M−1, matched on ``policy_id``. A policy absent
    at M−1, or with an empty figure then (a referral), counts 0 then. An empty figure now (a referral
    now) counts 0 now, so a policy priced at M−1 and referred at M moves by −(figure at M−1); the
    movement is empty only when the figure is empty both now and then (never priced). The
    remaining-limit columns of ``PolicyAccounted`` are added by the claims stage.
    """
    before = priced_before.set_index("policy_id")
    movements = {}
    for figure, movement in MOVEMENTS.items():
        now = priced_now[figure].astype("Int64")
        then = looked_up(priced_now["policy_id"], before[figure]).astype("Int64")
        change = now.fillna(0) - then.fillna(0)
        movements[movement] = change.where(now.notna() | then.notna()).astype("Int64")
    return priced_now.assign(**movements)
