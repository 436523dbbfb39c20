"""Policies of the sample book (DATA_CONTRACT.md § policies) and their restatements.

* The fixed-terms product (``leak_lite``) is sold as group schemes: every site of a scheme starts on
  the scheme's first day; mid-term joiners (中途加入) carry a ``join_date`` and are reported in the
  bordereau of the month they join.
* The product with options (``cyber_security``) is sold as individual contracts reported in the month
  their period starts; options, riders and payment methods are drawn from the product data, and every
  option is forced to appear somewhere.
* Restatements: a cancellation (``cancel_date``) or an adjustable policy's ``actual_revenue`` is sent
  as a full row again in a later month.

Every column is a numpy array: int64 day numbers / yen with ``MISSING`` for empty cells, int8 booleans
with -1 for empty, object arrays of ``str``/``None`` for text."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from pipeline.products.load import Product, ProductBook
from pipeline.sample import names
from pipeline.sample.columns import KINDS, empty
from pipeline.sample.dates import MISSING, Calendar, add_years, uniform_days

SCHEME_ID_BASE = 7_100_000  # scheme sites have numeric ids (sent as numbers in some months)
CONTRACT_ID_PREFIX = "CS"
SCHEME_SHARE = 0.4  # share of the book's policies that are group-scheme sites
SITES_PER_SCHEME = 30
JOINER_SHARE = 0.12
REFERRAL_SHARE = 0.025  # revenue above the last band
NO_REVENUE_SHARE = 0.025  # no revenue record (new business)
BOUNDARY_SHARE = 0.02  # revenue exactly on a band's upper bound
ADJUSTABLE_SHARE = 0.4
CANCEL_SHARE = 0.03
ACTUAL_REVENUE_SHARE = 0.35
SCHEME_TERMS_GIVEN_SHARE = 0.3  # scheme rows that spell out the fixed terms instead of leaving them empty


def scheme_and_contract_products(book: ProductBook) -> tuple[Product, Product]:
    """The group-scheme product (fixed terms) and the individual product (options)."""
    scheme = next(p for p in book.products.values() if "fixed_terms" in p.definition)
    contract = next(p for p in book.products.values() if "options" in p.definition)
    return scheme, contract


def _revenues(rng: np.random.Generator, n: int, up_to: list[int], floor: int) -> np.ndarray:
    """Revenues across every band (smaller bands likelier), some on a band bound, some referrals."""
    bounds = np.array(up_to, dtype=np.int64)
    weights = 1.0 / (1.0 + 0.6 * np.arange(len(bounds)))
    band = rng.choice(len(bounds), n, p=weights / weights.sum())
    low = np.concatenate([[floor], bounds[:-1]])[band]
    high = bounds[band]
    revenue = ((low + rng.random(n) * (high - low)) // 1000 + 1).astype(np.int64) * 1000
    revenue = np.minimum(revenue, high)
    u = rng.random(n)
    revenue = np.where(u < BOUNDARY_SHARE, high, revenue)
    above = (bounds[-1] * rng.uniform(1.05, 4.0, n) // 1_000_000).astype(np.int64) * 1_000_000
    revenue = np.where((u >= BOUNDARY_SHARE) & (u < BOUNDARY_SHARE + REFERRAL_SHARE), above, revenue)
    no_record = (u >= BOUNDARY_SHARE + REFERRAL_SHARE) & (u < BOUNDARY_SHARE + REFERRAL_SHARE + NO_REVENUE_SHARE)
    revenue = np.where(no_record, MISSING, revenue)
    if n >= len(bounds) + 2:  # every band, one referral above the last and one with no record
        rows = rng.permutation(n)[: len(bounds) + 2]
        middle = (np.concatenate([[floor], bounds[:-1]]) + bounds) // 2 // 1000 * 1000
        revenue[rows[: len(bounds)]] = middle
        revenue[rows[-2]] = bounds[-1] + bounds[-1] // 10
        revenue[rows[-1]] = MISSING
    return revenue


def _month_weights(cal: Calendar) -> np.ndarray:
    """April (the Japanese fiscal year) and October start more contracts."""
    month_numbers = np.array([int(label[5:]) for label in cal.labels])
    weights = np.where(month_numbers == 4, 2.5, np.where(month_numbers == 10, 1.5, 1.0))
    return weights / weights.sum()


def ensure_each(
    rng: np.random.Generator, column: np.ndarray, options: list[Any], eligible: Sequence[np.ndarray] | None = None
) -> list[int]:
    """Make every option appear at least once, overwriting rows whose value is not unique.

    ``eligible`` is a per-option list of row masks (or None: every row). Returns the rows changed."""
    changed = []
    for k, option in enumerate(options):
        if (column == option).any():
            continue
        values, counts = np.unique(column.astype(str), return_counts=True)
        spare = np.isin(column.astype(str), values[counts > 1])
        mask = spare if eligible is None else spare & eligible[k]
        if mask.any():
            row = int(rng.choice(np.flatnonzero(mask)))
            column[row] = option
            changed.append(row)
    return changed


def _given(mask: np.ndarray, value: str) -> np.ndarray:
    out = np.full(len(mask), None, dtype=object)
    out[mask] = value
    return out


def _scheme_sites(rng: np.random.Generator, product: Product, cal: Calendar, n: int) -> dict[str, np.ndarray]:
    schemes = max(1, -(-n // SITES_PER_SCHEME))
    weights = np.where(np.arange(cal.count) == 0, 3.0, np.where(np.arange(cal.count) == 6, 1.5, 0.5))
    scheme_month = rng.choice(cal.count, schemes, p=weights / weights.sum())
    start_month = scheme_month[rng.integers(0, schemes, n)]
    period_start = cal.starts[start_month]
    period_end = add_years(period_start)
    last_join_month = np.minimum(cal.count - 1, cal.month_of(period_end - 1))
    joiner = (rng.random(n) < JOINER_SHARE) & (last_join_month > start_month)
    join_month = start_month + 1 + np.floor(rng.random(n) * np.maximum(last_join_month - start_month, 1)).astype(int)
    join_month = np.minimum(join_month, cal.count - 1)
    join_date = uniform_days(rng, cal.starts[join_month], np.minimum(cal.ends[join_month], period_end - 1))
    industry, insured = names.draw(rng, n, names.SITE_INDUSTRIES)
    bands = [band["up_to"] for band in product.tariff["revenue_bands"]]
    terms = product.definition["fixed_terms"]
    given = rng.random(n) < SCHEME_TERMS_GIVEN_SHARE
    cols = {
        "product": np.full(n, product.code, dtype=object),
        "insured_name": insured,
        "industry": industry,
        "revenue": _revenues(rng, n, bands, 3_000_000),
        "premium_basis": _given(given, terms["premium_basis"]),
        "payment_method": _given(given, terms["payment_method"]),
        "period_start": period_start,
        "period_end": period_end,
        "join_date": np.where(joiner, join_date, MISSING),
        "month": np.where(joiner, join_month, start_month),
    }
    for key in ("liability_limit", "liability_deductible", "expense_limit", "expense_deductible"):
        cols[key] = np.where(given, int(terms[key]), MISSING)
    return cols


def _factor(table: list[dict[str, Any]], key: str, values: np.ndarray) -> np.ndarray:
    lookup = {int(row[key]): float(row["factor"]) for row in table}
    return np.array([lookup.get(int(v), 1.0) for v in values.tolist()])


def approximate_premium(product: Product, cols: dict[str, np.ndarray]) -> np.ndarray:
    """Annual premium before the payment-method factor, in float (NaN for referrals); used only to
    choose payment methods believably, never as a figure of the book."""
    tariff = product.tariff
    bands = tariff["revenue_bands"]
    up_to = np.array([band["up_to"] for band in bands], dtype=np.int64)
    revenue = cols["revenue"]
    band = np.searchsorted(up_to, revenue, side="left")
    referral = (revenue == MISSING) | (band >= len(up_to))
    band = np.minimum(band, len(up_to) - 1)
    base = np.zeros(len(revenue))
    for plan in product.plans:
        plan_base = np.array([float(b[plan]) for b in bands])
        base = np.where(cols["plan"] == plan, plan_base[band], base)
    premium = base.copy()
    for key in ("liability_limit", "liability_deductible", "expense_limit", "expense_deductible"):
        premium *= _factor(tariff[f"{key}_factors"], key, cols[key])
    for rider, factor in tariff["rider_factors"].items():
        premium *= np.where(cols[rider] == 1, float(factor), 1.0)
    premium = np.maximum(premium, float(tariff["minimum_annual_premium"]))
    return np.where(referral, np.nan, premium)


def _contracts(
    rng: np.random.Generator, product: Product, cal: Calendar, n: int
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    options = product.definition["options"]
    rules = product.definition["option_rules"]
    month = rng.choice(cal.count, n, p=_month_weights(cal))
    day = np.where(rng.random(n) < 0.6, 0, rng.integers(0, 28, n))
    period_start = cal.starts[month] + day
    industry, insured = names.draw(rng, n, names.COMPANY_INDUSTRIES, {"情報通信業": 4.0, "製造業": 2.0})
    plan = np.array(product.plans, dtype=object)[rng.integers(0, len(product.plans), n)]
    ensure_each(rng, plan, product.plans)

    leak_only_plan = np.isin(plan, rules["leak_only_plans"])
    leak_only = np.where(leak_only_plan, (rng.random(n) < 0.25).astype(np.int8), -1).astype(np.int8)
    it_share = np.where(np.isin(industry, names.IT_INDUSTRIES), 0.45, 0.08)
    it_business = (rng.random(n) < it_share).astype(np.int8)
    both_riders = np.flatnonzero(leak_only_plan)
    if len(both_riders):  # leak_only with it_business on basic is valid input: make sure it is there
        row = int(rng.choice(both_riders))
        leak_only[row], it_business[row] = 1, 1

    liability_options = sorted(options["liability_limit"])
    it_max = int(rules["liability_limit_max_with_it_business"])
    weights = 1.0 / np.sqrt(1.0 + np.arange(len(liability_options)))
    liability = np.array(liability_options, dtype=np.int64)[
        rng.choice(len(liability_options), n, p=weights / weights.sum())
    ]
    allowed_it = np.array([v for v in liability_options if v <= it_max], dtype=np.int64)
    liability = np.where(
        (it_business == 1) & (liability > it_max), allowed_it[rng.integers(0, len(allowed_it), n)], liability
    )
    ensure_each(rng, liability, liability_options, [(it_business == 0) | (v <= it_max) for v in liability_options])

    share = Decimal(rules["expense_limit_max_share_of_liability_limit"])
    numerator, denominator = share.as_integer_ratio()
    expense_options = np.array(sorted(options["expense_limit"]), dtype=np.int64)
    allowed = np.searchsorted(expense_options, liability * numerator // denominator, side="right")
    pick = np.floor(rng.random(n) ** 1.5 * allowed).astype(int)
    expense = np.where(allowed > 0, expense_options[np.minimum(pick, np.maximum(allowed - 1, 0))], MISSING)
    ensure_each(
        rng, expense, expense_options.tolist(), [liability * numerator // denominator >= v for v in expense_options]
    )

    cols: dict[str, np.ndarray] = {
        "product": np.full(n, product.code, dtype=object),
        "insured_name": insured,
        "industry": industry,
        "plan": plan,
        "leak_only": leak_only,
        "it_business": it_business,
        "liability_limit": liability,
        "expense_limit": expense,
        "period_start": period_start,
        "period_end": add_years(period_start),
        "month": month,
    }
    for key in ("liability_deductible", "expense_deductible"):
        values = np.array(options[key], dtype=np.int64)
        cols[key] = values[rng.integers(0, len(values), n)]
        ensure_each(rng, cols[key], options[key])
    bands = [band["up_to"] for band in product.tariff["revenue_bands"]]
    cols["revenue"] = _revenues(rng, n, bands, 10_000_000)
    basis = np.array(options["premium_basis"], dtype=object)
    cols["premium_basis"] = np.where(rng.random(n) < ADJUSTABLE_SHARE, "adjustable", "fixed").astype(object)
    ensure_each(rng, cols["premium_basis"], basis.tolist())

    premium = approximate_premium(product, cols)
    threshold = float(rules["large_installment_min_annual_premium"])
    u = rng.random(n)
    method = np.where(u < 0.3, "installment", "lump_sum").astype(object)
    method[(u > 0.55) & (premium >= threshold * 1.05)] = "large_installment"
    ensure_each(
        rng, method, options["payment_method"], [premium >= threshold * 1.05 for _ in options["payment_method"]]
    )
    small = np.flatnonzero((premium < threshold * 0.9) & (method != "large_installment"))
    cols["_below"] = np.zeros(n, dtype=bool)
    if len(small):  # one large_installment below the minimum: kept, with a warning
        row = int(rng.choice(small))
        method[row] = "large_installment"
        cols["_below"][row] = True
    cols["payment_method"] = method
    return cols, {}


def _restatements(
    rng: np.random.Generator, frame: pd.DataFrame, contract: Product, cal: Calendar
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Later-month rows that restate a policy with a ``cancel_date`` or an ``actual_revenue``."""
    n = len(frame)
    month = frame["month"].to_numpy()
    can_restate = month < cal.count - 1
    u = rng.random(n)
    cancel = can_restate & (u < CANCEL_SHARE)
    bands = [band["up_to"] for band in contract.tariff["revenue_bands"]]
    adjustable = (
        can_restate
        & ~cancel
        & (frame["premium_basis"].to_numpy() == "adjustable")
        & (frame["product"].to_numpy() == contract.code)
        & (frame["revenue"].to_numpy() != MISSING)
        & (frame["revenue"].to_numpy() <= bands[-1])
    )
    actual = adjustable & (rng.random(n) < ACTUAL_REVENUE_SHARE)
    restate_month = month + 1 + np.floor(rng.random(n) * np.maximum(cal.count - 1 - month, 1)).astype(int)
    restate_month = np.minimum(restate_month, cal.count - 1)

    cover_start = frame["cover_start"].to_numpy()
    period_end = frame["period_end"].to_numpy()
    cancel_date = uniform_days(rng, cover_start + 1, np.minimum(cal.ends[restate_month], period_end - 1))
    revenue = frame["revenue"].to_numpy()
    ratio = np.where(rng.random(n) < 0.5, rng.uniform(0.7, 0.97, n), rng.uniform(1.03, 1.4, n))
    actual_revenue = (revenue * ratio // 1000).astype(np.int64) * 1000
    rows = np.flatnonzero(actual)
    notes: dict[str, Any] = {}
    if len(rows) >= 3:  # one up, one down, one above the last band
        actual_revenue[rows[0]] = revenue[rows[0]] * 5 // 4 // 1000 * 1000
        actual_revenue[rows[1]] = revenue[rows[1]] * 4 // 5 // 1000 * 1000
        actual_revenue[rows[2]] = bands[-1] + bands[-1] // 5
        notes["actual_revenue_outside_bands"] = frame["policy_id"].iat[rows[2]]

    cancelled = frame[cancel].assign(cancel_date=cancel_date[cancel], month=restate_month[cancel])
    adjusted = frame[actual].assign(actual_revenue=actual_revenue[actual], month=restate_month[actual])
    restated = pd.concat([cancelled, adjusted]).assign(restated=1)
    return restated, notes


def make_policies(
    rng: np.random.Generator, book: ProductBook, cal: Calendar, n: int
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Every policy row of the book (originals, then restatements), by bordereau month.

    Internal columns: ``month`` (index of the bordereau month), ``cover_start``, ``restated`` (0/1)."""
    scheme, contract = scheme_and_contract_products(book)
    kinds = KINDS["policies"]
    n_scheme = round(n * SCHEME_SHARE)
    site_cols = _scheme_sites(rng, scheme, cal, n_scheme)
    contract_cols, notes = _contracts(rng, contract, cal, n - n_scheme)
    parts = []
    for cols, count in ((site_cols, n_scheme), (contract_cols, n - n_scheme)):
        full = {name: cols.get(name, empty(count, kind)) for name, kind in kinds.items()}
        full["month"] = cols["month"]
        full["_below"] = cols.get("_below", np.zeros(count, dtype=bool))
        parts.append(pd.DataFrame(full))
    frame = pd.concat(parts, ignore_index=True)
    frame = frame.sort_values(["month", "period_start", "product"], kind="stable", ignore_index=True)
    is_scheme = (frame["product"] == scheme.code).to_numpy()
    serial = np.where(is_scheme, np.cumsum(is_scheme), np.cumsum(~is_scheme)).tolist()
    frame["policy_id"] = np.array(
        [
            str(SCHEME_ID_BASE + i) if site else f"{CONTRACT_ID_PREFIX}{i:07d}"
            for site, i in zip(is_scheme.tolist(), serial, strict=True)
        ],
        dtype=object,
    )
    below = frame.loc[frame["_below"], "policy_id"]
    if len(below):
        notes["large_installment_below_minimum"] = below.iat[0]
    frame = frame.drop(columns="_below")
    join = frame["join_date"].to_numpy()
    frame["cover_start"] = np.where(join != MISSING, join, frame["period_start"].to_numpy())
    frame["restated"] = 0
    restated, more = _restatements(rng, frame, contract, cal)
    notes.update(more)
    everything = pd.concat([frame, restated], ignore_index=True)
    everything = everything.sort_values(["month", "restated"], kind="stable", ignore_index=True)
    return everything, notes
