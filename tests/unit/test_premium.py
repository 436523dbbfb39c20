"""Premium stage (CALCULATION.md § Policies / § Premium and § Time; PRODUCTS.md § leak_lite, § Tariff).

The leak_lite figures reproduce the pamphlet's revenue-band table (seed 000_82114b5e141f7002.txt);
the cyber_security figures follow the illustrative tariff in PRODUCTS.md § Tariff.
"""

from __future__ import annotations

import math
import shutil
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from pipeline.products.load import DEFAULT_PRODUCTS_DIR, ProductBook, load_products
from pipeline.stages.premium import accounted_policies, annual_premium_on, priced_policies
from schemas.policies import PolicyAccounted, PolicyPriced
from tests import factories
from tests.property.strategies import reproducible

BOOK = load_products()
PREMIUM_FIGURES = ["annual_premium", "written_premium", "adjustment_premium", "earned_to_date", "upr"]
# A wide policy whose option factors are all 1.00 (liability 100,000,000, expense 50,000,000, no
# deductibles): its annual premium is the tariff's base premium for its revenue band.
PLAIN_WIDE = {"plan": "wide", "liability_limit": 100_000_000, "expense_limit": 50_000_000}


def priced(*rows: dict[str, Any], asof: str = "2027-04-30", book: ProductBook = BOOK) -> pd.DataFrame:
    """Price policies built from override dicts and check the result against ``PolicyPriced``."""
    result = priced_policies(factories.policies(*rows), book, pd.Timestamp(asof))
    return PolicyPriced.validate(result)


def one(row: dict[str, Any], asof: str = "2027-04-30", book: ProductBook = BOOK) -> pd.Series:
    return priced(row, asof=asof, book=book).iloc[0]


def leak_lite(**overrides: Any) -> dict[str, Any]:
    return {"product": "leak_lite", "revenue": 50_000_000, **overrides}


# --- leak_lite: the pamphlet's band table, edge to edge ----------------------------------------------

PAMPHLET_BANDS = [
    (0, 20_000),
    (50_000_000, 20_000),  # 5,000万円以下 20,000円
    (50_000_001, 30_000),
    (100_000_000, 30_000),
    (100_000_001, 40_000),
    (150_000_000, 40_000),
    (150_000_001, 45_000),
    (200_000_000, 45_000),
    (200_000_001, 55_000),
    (250_000_000, 55_000),
    (250_000_001, 66_000),
    (300_000_000, 66_000),
    (300_000_001, 88_000),
    (400_000_000, 88_000),
    (400_000_001, 109_000),
    (500_000_000, 109_000),  # 4億円超 5億円以下 109,000円
]


@pytest.mark.parametrize(("revenue", "annual"), PAMPHLET_BANDS)
def test_leak_lite_annual_premium_is_the_pamphlet_band(revenue: int, annual: int) -> None:
    """PRODUCTS.md § leak_lite revenue bands (upper bounds inclusive), full year: written = annual."""
    policy = one(leak_lite(revenue=revenue))
    assert policy["status"] == "ok"
    assert policy["annual_premium"] == annual
    assert policy["written_premium"] == annual
    assert policy["adjustment_premium"] == 0
    assert policy["cover_months"] == 12


@pytest.mark.parametrize("revenue", [500_000_001, 10_000_000_000, None])
def test_leak_lite_above_the_last_band_or_without_revenue_is_referred(revenue: int | None) -> None:
    """PRODUCTS.md § leak_lite: 5億円超 / no revenue record -> 別途ご照会, every premium figure empty."""
    policy = one(leak_lite(revenue=revenue))
    assert policy["status"] == "refer"
    assert all(pd.isna(policy[figure]) for figure in PREMIUM_FIGURES)
    assert policy["warnings"] == ""


@pytest.mark.parametrize(
    ("revenue", "annual"),
    [
        (100_000_000, 80_000),
        (100_000_001, 120_000),
        (500_000_000, 120_000),
        (500_000_001, 175_000),
        (100_000_000_000, 1_230_000),
        (100_000_000_001, None),
        (None, None),
    ],
)
def test_cyber_security_base_premium_bands(revenue: int | None, annual: int | None) -> None:
    """PRODUCTS.md § Tariff: base premium by revenue band (inclusive) and plan; above or none: referral."""
    policy = one({**PLAIN_WIDE, "revenue": revenue})
    if annual is None:
        assert policy["status"] == "refer"
        assert all(pd.isna(policy[figure]) for figure in PREMIUM_FIGURES)
    else:
        assert policy["status"] == "ok"
        assert policy["annual_premium"] == annual


# --- mid-term joiners and cancellations ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("join_date", "months", "written"),
    [
        ("2026-10-15", 6, 10_000),  # § Cover months: join 2026-10-15, end 2027-04-01 -> 6
        ("2026-10-01", 6, 10_000),  # join 2026-10-01 -> 6
        ("2026-10-02", 6, 10_000),
        ("2026-09-30", 7, 11_666),  # floor(20,000 × 7 / 12)
        ("2026-04-01", 12, 20_000),  # joining on the first day is a full year
        ("2027-03-31", 1, 1_666),
    ],
)
def test_mid_term_joiner_pays_monthly_pro_rata(join_date: str, months: int, written: int) -> None:
    """§ Premium: written = floor(annual × cover months / 12) for a 中途加入 (月割)."""
    policy = one(leak_lite(join_date=join_date))
    assert policy["annual_premium"] == 20_000
    assert policy["cover_months"] == months
    assert policy["written_premium"] == written


def test_cancellation_returns_the_unexpired_whole_months() -> None:
    """§ Cancellation: cancel 2026-10-15, end 2027-04-01 -> 5 unexpired months, a started month kept."""
    policy = one({**PLAIN_WIDE, "cancel_date": "2026-10-15"})
    returned = 120_000 * 5 // 12
    assert returned == 50_000
    assert policy["annual_premium"] == 120_000
    assert policy["written_premium"] == 120_000 - returned
    assert policy["adjustment_premium"] == 0


def test_cancelled_mid_term_joiner_returns_on_its_cover_months() -> None:
    """§ Cancellation: return = floor(written × unexpired / cover months) = floor(10,000 × 2 / 6)."""
    policy = one(leak_lite(join_date="2026-10-15", cancel_date="2027-01-20"))
    assert policy["cover_months"] == 6
    assert policy["written_premium"] == 10_000 - 3_333


# --- adjustment (確定精算) ------------------------------------------------------------------------------


def adjustable(**overrides: Any) -> dict[str, Any]:
    return {**PLAIN_WIDE, "revenue": 300_000_000, "premium_basis": "adjustable", **overrides}


@pytest.mark.parametrize(
    ("actual_revenue", "annual_on_actual"),
    [(600_000_000, 175_000), (50_000_000, 80_000), (450_000_000, 120_000)],
)
def test_adjustment_is_annual_on_actual_minus_annual_on_revenue(actual_revenue: int, annual_on_actual: int) -> None:
    """§ Adjustment: booked when actual revenue is reported, may be negative; written includes it."""
    policy = one(adjustable(actual_revenue=actual_revenue))
    assert policy["status"] == "ok"
    assert policy["annual_premium"] == 120_000
    assert policy["adjustment_premium"] == annual_on_actual - 120_000
    assert policy["written_premium"] == annual_on_actual
    assert policy["earned_to_date"] + policy["upr"] == annual_on_actual


def test_adjustment_on_actual_revenue_outside_the_bands_is_referred_and_keeps_provisional_figures() -> None:
    """§ Adjustment: actual revenue outside the bands -> refer, provisional figures stay, adjustment empty."""
    policy = one(adjustable(actual_revenue=100_000_000_001), asof="2026-09-30")
    assert policy["status"] == "refer"
    assert pd.isna(policy["adjustment_premium"])
    assert policy["annual_premium"] == 120_000
    assert policy["written_premium"] == 120_000
    assert policy["earned_to_date"] == 120_000 * 183 // 365


@pytest.mark.parametrize(
    "overrides",
    [
        {"premium_basis": "adjustable", "actual_revenue": None},  # not reported yet
        {"premium_basis": "adjustable", "actual_revenue": 600_000_000, "cancel_date": "2026-10-15"},  # cancelled
    ],
)
def test_no_adjustment_applies(overrides: dict[str, Any]) -> None:
    """§ Adjustment: adjustment_premium is 0 where no adjustment applies."""
    policy = one({**PLAIN_WIDE, "revenue": 300_000_000, **overrides})
    assert policy["status"] == "ok"
    assert policy["adjustment_premium"] == 0


def test_adjustment_uses_the_whole_tariff_on_actual_revenue() -> None:
    """The annual premium on actual revenue goes through the factors, the minimum and the surcharge."""
    row = adjustable(
        plan="basic",
        liability_limit=20_000_000,
        expense_limit=10_000_000,
        revenue=80_000_000,
        actual_revenue=800_000_000,
        payment_method="installment",
    )
    policy = one(row)
    assert policy["annual_premium"] == 52_500  # floor(60,000 × 0.70 × 0.80) = 33,600 -> 50,000 -> × 1.05
    assert policy["adjustment_premium"] == 130_000 * 70 * 80 // 10_000 * 105 // 100 - 52_500  # 76,440 − 52,500


# --- earned and UPR ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asof", "earned"),
    [
        ("2026-03-31", 0),  # before the cover starts
        ("2026-04-30", 120_000 * 30 // 365),  # elapsed = (asof + 1 day) − start = 30 of 365 days
        ("2026-09-30", 120_000 * 183 // 365),  # mid-period
        ("2027-03-31", 120_000),  # last day of cover: all 365 days elapsed
        ("2027-06-30", 120_000),  # after the end: clipped to the cover days
    ],
)
def test_earned_to_date_and_upr_at_month_ends(asof: str, earned: int) -> None:
    """§ Earned to date = floor(written × elapsed days / cover days); UPR = written − earned."""
    policy = one(PLAIN_WIDE, asof=asof)
    assert policy["earned_to_date"] == earned
    assert policy["upr"] == 120_000 - earned


@pytest.mark.parametrize(
    ("asof", "earned"),
    [("2026-09-30", 70_000 * 183 // 197), ("2026-10-31", 70_000)],
)
def test_cancelled_policy_earns_over_its_shortened_cover(asof: str, earned: int) -> None:
    """§ Policies: cover_end = cancel_date, so cover days = 2026-04-01 .. 2026-10-15 = 197."""
    policy = one({**PLAIN_WIDE, "cancel_date": "2026-10-15"}, asof=asof)
    assert policy["written_premium"] == 70_000
    assert policy["earned_to_date"] == earned
    assert policy["upr"] == 70_000 - earned


def test_mid_term_joiner_earns_from_its_join_date() -> None:
    """§ Policies: cover_start = join_date; 2026-10-15 .. 2027-04-01 = 168 days, 17 elapsed by 10-31."""
    assert one(leak_lite(join_date="2026-10-15"), asof="2026-09-30")["earned_to_date"] == 0
    assert one(leak_lite(join_date="2026-10-15"), asof="2026-10-31")["earned_to_date"] == 10_000 * 17 // 168


@pytest.mark.parametrize("asof", ["2026-03-31", "2026-04-30", "2027-04-30"])
def test_policy_cancelled_on_its_first_day_earns_its_written_premium(asof: str) -> None:
    """§ Earned: zero cover days -> earned = written (here 0: every month is returned)."""
    policy = one({**PLAIN_WIDE, "cancel_date": "2026-04-01"}, asof=asof)
    assert policy["written_premium"] == 0
    assert policy["earned_to_date"] == 0
    assert policy["upr"] == 0

    joiner = one(leak_lite(join_date="2026-10-15", cancel_date="2026-10-15"), asof=asof)
    written = 10_000 - 10_000 * 5 // 6  # a started month is not returned
    assert joiner["written_premium"] == written
    assert joiner["earned_to_date"] == written
    assert joiner["upr"] == 0


# --- factors, minimum, surcharge, warnings --------------------------------------------------------------


@pytest.mark.parametrize(
    ("payment_method", "annual"),
    [("lump_sum", 50_000), ("installment", 52_500), ("large_installment", 50_000)],
)
def test_installment_surcharge_applies_after_the_minimum(payment_method: str, annual: int) -> None:
    """§ Premium: floor(60,000 × 0.70 × 0.80) = 33,600 is raised to 50,000, then × 1.05 for installment."""
    row = {"plan": "basic", "revenue": 50_000_000, "liability_limit": 20_000_000, "expense_limit": 10_000_000}
    assert one({**row, "payment_method": payment_method})["annual_premium"] == annual


def test_installment_surcharge_above_the_minimum() -> None:
    assert one({**PLAIN_WIDE, "payment_method": "installment"})["annual_premium"] == 126_000


@pytest.mark.parametrize(
    ("revenue", "warnings"),
    [(300_000_000, "large_installment_below_minimum"), (5_000_000_000, ""), (None, "")],
)
def test_large_installment_below_200000_keeps_its_premium_with_a_warning(revenue: int | None, warnings: str) -> None:
    """§ Premium: large_installment with an annual premium under 200,000 gets a warning, premium kept."""
    policy = one({**PLAIN_WIDE, "revenue": revenue, "payment_method": "large_installment"})
    assert policy["warnings"] == warnings
    if revenue == 300_000_000:
        assert policy["status"] == "ok"
        assert policy["annual_premium"] == 120_000


@pytest.mark.parametrize(
    ("riders", "annual"),
    [
        ({}, 90_000),
        ({"leak_only": True}, 63_000),  # × 0.70 (float: 62,999)
        ({"it_business": True}, 117_000),  # × 1.30
        ({"leak_only": True, "it_business": True}, 81_900),  # × 0.70 × 1.30
    ],
)
def test_rider_factors_multiply_the_base(riders: dict[str, bool], annual: int) -> None:
    """PRODUCTS.md § Tariff: it_business × 1.30, leak_only × 0.70 (basic, revenue band 500,000,000)."""
    row = {"plan": "basic", "revenue": 500_000_000, "liability_limit": 100_000_000, "expense_limit": 50_000_000}
    assert one({**row, **riders})["annual_premium"] == annual


def test_option_factors_multiply_the_base() -> None:
    """floor(120,000 × 1.25 × 0.95 × 1.10 × 0.97) for wide 200,000,000 / 100,000 / 100,000,000 / 100,000."""
    row = {
        "plan": "wide",
        "revenue": 300_000_000,
        "liability_limit": 200_000_000,
        "liability_deductible": 100_000,
        "expense_limit": 100_000_000,
        "expense_deductible": 100_000,
    }
    assert one(row)["annual_premium"] == 120_000 * 125 * 95 * 110 * 97 // 100**4  # 152,036


# Combinations where the binary-float product lands a hair under the whole yen (found by searching
# every valid option combination of the shipped tariff).
FLOAT_TRAPS = [
    ({"plan": "basic", "revenue": 500_000_000, "leak_only": True}, 63_000),
    ({"plan": "basic", "revenue": 100_000_000, "leak_only": True, "it_business": True}, 54_600),
    ({"plan": "basic", "revenue": 100_000_000, "liability_deductible": 10_000, "expense_limit": 40_000_000}, 57_618),
    ({"plan": "basic", "revenue": 100_000_000, "liability_limit": 200_000_000, "expense_limit": 30_000_000}, 70_500),
    ({"plan": "basic", "revenue": 10_000_000_000, "leak_only": True}, 231_000),
]


@pytest.mark.parametrize(("overrides", "annual"), FLOAT_TRAPS)
def test_factor_products_are_exact_where_binary_floats_lose_a_yen(overrides: dict[str, Any], annual: int) -> None:
    """§ Premium, exact arithmetic: a yen is never lost to a float product (60,000 × 0.7 = 42,000)."""
    row = {"liability_limit": 100_000_000, "expense_limit": 50_000_000, **overrides}
    policy = factories.policies(row).iloc[0]
    tariff = BOOK.products["cyber_security"].tariff
    factors = [
        next(f["factor"] for f in tariff[f"{option}_factors"] if f[option] == policy[option])
        for option in ("liability_limit", "liability_deductible", "expense_limit", "expense_deductible")
    ] + [tariff["rider_factors"][rider] for rider in ("leak_only", "it_business") if policy[rider]]
    base = next(band[policy["plan"]] for band in tariff["revenue_bands"] if policy["revenue"] <= band["up_to"])
    assert int(base * math.prod(float(f) for f in factors)) == annual - 1  # the trap is real
    assert one(row)["annual_premium"] == annual


# --- movements this month (§ Time) ----------------------------------------------------------------------


def test_this_month_is_the_figure_now_minus_the_figure_a_month_before() -> None:
    """§ Time: movement = figure as at M − figure as at M−1; a row absent then counts 0."""
    before_rows = [
        dict(PLAIN_WIDE, policy_id="KEPT"),
        dict(PLAIN_WIDE, policy_id="ADJUSTED", premium_basis="adjustable"),
        dict(PLAIN_WIDE, policy_id="NOW_REFERRED"),
        dict(PLAIN_WIDE, policy_id="ALWAYS_REFERRED", revenue=None),
        dict(PLAIN_WIDE, policy_id="CANCELLED"),
    ]
    now_rows = [
        dict(PLAIN_WIDE, policy_id="KEPT"),
        dict(PLAIN_WIDE, policy_id="ADJUSTED", premium_basis="adjustable", actual_revenue=600_000_000),
        dict(PLAIN_WIDE, policy_id="NOW_REFERRED", revenue=None),
        dict(PLAIN_WIDE, policy_id="ALWAYS_REFERRED", revenue=None),
        dict(PLAIN_WIDE, policy_id="CANCELLED", cancel_date="2026-04-20"),
        dict(PLAIN_WIDE, policy_id="NEW"),
    ]
    before = priced(*before_rows, asof="2026-04-30")
    now = priced(*now_rows, asof="2026-05-31")
    accounted = accounted_policies(now, before)
    no_limits = pd.Series(pd.NA, index=accounted.index, dtype="Int64")  # added by the claims stage
    PolicyAccounted.validate(accounted.assign(remaining_liability_limit=no_limits, remaining_expense_limit=no_limits))
    moved = accounted.set_index("policy_id")

    earned_april, earned_may = 120_000 * 30 // 365, 120_000 * 61 // 365
    assert moved.loc["KEPT", "written_this_month"] == 0
    assert moved.loc["KEPT", "earned_this_month"] == earned_may - earned_april
    assert moved.loc["ADJUSTED", "written_this_month"] == 55_000
    assert moved.loc["ADJUSTED", "earned_this_month"] == 175_000 * 61 // 365 - earned_april
    assert moved.loc["NOW_REFERRED", "written_this_month"] == -120_000
    assert moved.loc["NOW_REFERRED", "earned_this_month"] == -earned_april
    assert moved["written_this_month"].isna()["ALWAYS_REFERRED"]
    assert moved["earned_this_month"].isna()["ALWAYS_REFERRED"]
    assert moved.loc["CANCELLED", "written_this_month"] == -110_000  # 12 − 1 started month returned
    assert moved.loc["CANCELLED", "earned_this_month"] == 10_000 - earned_april  # fully earned by 04-20
    assert moved.loc["NEW", "written_this_month"] == 120_000
    assert moved.loc["NEW", "earned_this_month"] == earned_may
    assert list(accounted["policy_id"]) == list(now["policy_id"])


def test_first_month_has_nothing_before() -> None:
    now = priced(PLAIN_WIDE, asof="2026-04-30")
    accounted = accounted_policies(now, now.iloc[0:0])
    assert accounted.loc[0, "written_this_month"] == 120_000
    assert accounted.loc[0, "earned_this_month"] == 120_000 * 30 // 365


# --- purity, schema, whole-portfolio --------------------------------------------------------------------


def test_inputs_are_not_mutated() -> None:
    policies = factories.policies(
        PLAIN_WIDE, leak_lite(join_date="2026-10-15"), adjustable(actual_revenue=600_000_000), leak_lite(revenue=None)
    ).set_axis([7, 3, 11, 5])
    snapshot = policies.copy(deep=True)
    now = priced_policies(policies, BOOK, pd.Timestamp("2026-11-30"))
    pd.testing.assert_frame_equal(policies, snapshot)
    assert list(now.index) == [7, 3, 11, 5]

    before = priced_policies(policies, BOOK, pd.Timestamp("2026-10-31"))
    now_snapshot, before_snapshot = now.copy(deep=True), before.copy(deep=True)
    accounted_policies(now, before)
    pd.testing.assert_frame_equal(now, now_snapshot)
    pd.testing.assert_frame_equal(before, before_snapshot)


def test_mixed_portfolio_validates_and_keeps_input_columns() -> None:
    policies = factories.policies(PLAIN_WIDE, leak_lite(), leak_lite(revenue=None)).assign(broker="代理店A")
    result = PolicyPriced.validate(priced_policies(policies, BOOK, pd.Timestamp("2026-04-30")))
    assert list(result.columns[: len(policies.columns)]) == list(policies.columns)
    assert list(result["status"]) == ["ok", "ok", "refer"]


# --- product data drives the numbers --------------------------------------------------------------------


def edited_book(tmp_path: Path, product: str, replacements: dict[str, str]) -> ProductBook:
    """Products loaded from a copy of the shipped data whose ``tariff.toml`` text has been edited."""
    folder = tmp_path / "products"
    shutil.copytree(DEFAULT_PRODUCTS_DIR, folder)
    tariff = folder / product / "tariff.toml"
    text = tariff.read_text(encoding="utf-8")
    for old, new in replacements.items():
        assert old in text
        text = text.replace(old, new)
    tariff.write_text(text, encoding="utf-8")
    return load_products(folder)


def test_swapping_the_tariff_file_changes_premiums_without_code_changes(tmp_path: Path) -> None:
    """PRODUCTS.md § Tariff: replaceable by another tariff file with no code change."""
    book = edited_book(tmp_path / "bands", "leak_lite", {"annual_premium = 20_000": "annual_premium = 25_000"})
    assert one(leak_lite(), book=book)["annual_premium"] == 25_000
    assert one(leak_lite(join_date="2026-10-15"), book=book)["written_premium"] == 12_500

    minimum = {"minimum_annual_premium = 50_000": "minimum_annual_premium = 70_000"}
    book = edited_book(tmp_path / "minimum", "cyber_security", minimum)
    row = {"plan": "basic", "revenue": 50_000_000, "liability_limit": 20_000_000, "expense_limit": 10_000_000}
    assert one({**row, "payment_method": "installment"}, book=book)["annual_premium"] == 73_500

    book = edited_book(tmp_path / "surcharge", "cyber_security", {"installment = 1.05": "installment = 1.10"})
    assert one({**PLAIN_WIDE, "payment_method": "installment"}, book=book)["annual_premium"] == 132_000


def test_long_decimal_factors_stay_exact_beyond_int64(tmp_path: Path) -> None:
    """A real tariff may carry long decimals: the numerator product exceeds int64 and must stay exact."""
    limit_factor, rider_factor = "1.000000000000007", "1.29999999999999"
    limit_row = "{ liability_limit = 100_000_000, factor = 1.00 }"
    book = edited_book(
        tmp_path,
        "cyber_security",
        {
            limit_row: limit_row.replace("1.00", limit_factor),
            "it_business = 1.30": f"it_business = {rider_factor}",
        },
    )
    assert 1_230_000 * 1_000_000_000_000_007 * 129_999_999_999_999 > 2**63
    # 1,230,000 × 1.000000000000007 × 1.29999999999999 = 1,598,999.99999998... -> 1,598,999
    exact = math.floor(1_230_000 * Fraction(Decimal(limit_factor)) * Fraction(Decimal(rider_factor)))
    assert exact == 1_598_999
    row = {**PLAIN_WIDE, "revenue": 100_000_000_000, "it_business": True}
    assert one(row, book=book)["annual_premium"] == exact


# --- property: the annual premium is the exact tariff formula -------------------------------------------

CYBER = BOOK.products["cyber_security"]
OPTIONS = CYBER.definition["options"]
RULES = CYBER.definition["option_rules"]


@st.composite
def cyber_security_options(draw: st.DrawFn) -> dict[str, Any]:
    plan = draw(st.sampled_from(CYBER.plans))
    liability_limit = draw(st.sampled_from(OPTIONS["liability_limit"]))
    share = Fraction(RULES["expense_limit_max_share_of_liability_limit"])
    expense_limits = [limit for limit in OPTIONS["expense_limit"] if limit <= share * liability_limit]
    last_band = CYBER.tariff["revenue_bands"][-1]["up_to"]
    return {
        "plan": plan,
        "revenue": draw(st.integers(min_value=0, max_value=last_band)),
        "liability_limit": liability_limit,
        "liability_deductible": draw(st.sampled_from(OPTIONS["liability_deductible"])),
        "expense_limit": draw(st.sampled_from(expense_limits)),
        "expense_deductible": draw(st.sampled_from(OPTIONS["expense_deductible"])),
        "leak_only": plan in RULES["leak_only_plans"] and draw(st.booleans()),
        "it_business": liability_limit <= RULES["liability_limit_max_with_it_business"] and draw(st.booleans()),
        "payment_method": draw(st.sampled_from(OPTIONS["payment_method"])),
    }


def exact_annual_premium(row: dict[str, Any]) -> int:
    """Independent reference: PRODUCTS.md § Tariff with ``fractions.Fraction``, one policy at a time."""
    tariff = CYBER.tariff
    base = next(band[row["plan"]] for band in tariff["revenue_bands"] if row["revenue"] <= band["up_to"])
    product = Fraction(base)
    for option in ("liability_limit", "liability_deductible", "expense_limit", "expense_deductible"):
        product *= Fraction(next(f["factor"] for f in tariff[f"{option}_factors"] if f[option] == row[option]))
    for rider in CYBER.riders:
        if row[rider]:
            product *= Fraction(tariff["rider_factors"][rider])
    raised = max(math.floor(product), tariff["minimum_annual_premium"])
    return math.floor(raised * Fraction(tariff["payment_method_factors"][row["payment_method"]]))


@reproducible(60, suppressed=(HealthCheck.too_slow,))
@given(rows=st.lists(cyber_security_options(), min_size=1, max_size=15))
def test_annual_premium_is_the_exact_tariff_formula(rows: list[dict[str, Any]]) -> None:
    result = priced(*rows)
    minimum = CYBER.tariff["minimum_annual_premium"]
    for row, annual in zip(rows, result["annual_premium"], strict=True):
        assert annual == exact_annual_premium(row)
        assert annual >= minimum
    assert (result["status"] == "ok").all()


def test_annual_premium_on_a_whole_portfolio_is_vectorised() -> None:
    """Thousands of policies price in one pass (no per-row Python function)."""
    rows = [
        {**PLAIN_WIDE, "revenue": 1_000 * i, "payment_method": "installment"}
        if i % 2
        else leak_lite(revenue=97_000 * i)
        for i in range(2_000)
    ]
    policies = pd.concat([factories.policies(*rows[i : i + 500]) for i in range(0, 2_000, 500)], ignore_index=True)
    annual = annual_premium_on(policies["revenue"], policies, BOOK)
    assert annual.notna().sum() > 1_000
    assert annual.dtype == "Int64"
