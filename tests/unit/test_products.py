"""The product and treaty data files: every PRODUCTS.md number is read from data, exactly, and a
malformed file stops the run with one line naming the file and the entry."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from pipeline.products import DEFAULT_PRODUCTS_DIR, ProductDataError, load_products
from pipeline.products.load import load_programme
from pipeline.products.programme import Layer


@pytest.fixture
def products_copy(tmp_path: Path) -> Path:
    target = tmp_path / "products"
    shutil.copytree(DEFAULT_PRODUCTS_DIR, target)
    return target


def test_factors_are_exact_decimals() -> None:
    tariff = load_products().products["cyber_security"].tariff
    factors = {row["liability_limit"]: row["factor"] for row in tariff["liability_limit_factors"]}
    assert factors[20_000_000] == Decimal("0.70")
    assert isinstance(factors[20_000_000], Decimal)


def test_catalogues_match_products_md() -> None:
    book = load_products()
    cyber = book.products["cyber_security"].items.set_index("item")
    assert len(cyber) == 16 and len(book.products["leak_lite"].items) == 13
    # PRODUCTS.md: ⑨–⑪ carry 90%, ⑫ 80%, all four a 10,000,000 sub-limit; item 4 has no deductible.
    for item in ("system_restoration", "containment", "prevention"):
        assert cyber.loc[item, "reduction_ratio"] == Decimal("0.90")
        assert cyber.loc[item, "sublimit"] == 10_000_000
    assert cyber.loc["attack_investigation", "reduction_ratio"] == Decimal("0.80")
    assert cyber.loc["attack_investigation", "events"] == ("cyber_other",)
    assert not cyber.loc["litigation_response", "deductible"]
    assert cyber.loc["litigation_response", "sublimit"] == 10_000_000
    assert book.products["leak_lite"].coverage["condolence_caps"] == {"individual": 1_000, "corporate": 100_000}
    assert len(book.products["cyber_security"].exclusions) == 34
    assert book.never_paid_items == ["ransom", "lost_profit", "fines", "salaries", "insurance_premium", "financing"]


def test_victim_cap_is_product_data() -> None:
    """The victim cap of step 1 applies to the items flagged ``victim_cap`` (condolence only)."""
    for product in load_products().products.values():
        flagged = product.items.loc[product.items["victim_cap"], "item"].tolist()
        assert flagged == ["condolence"]


def test_victim_cap_must_be_a_boolean(products_copy: Path) -> None:
    path = products_copy / "leak_lite" / "coverage.toml"
    text = path.read_text(encoding="utf-8")
    assert "victim_cap = true" in text
    path.write_text(text.replace("victim_cap = true", 'victim_cap = "yes"', 1), encoding="utf-8")
    with pytest.raises(ProductDataError, match=r"coverage\.toml: items\[4\]\.victim_cap: expected bool"):
        load_products(products_copy)


def test_reserving_assumptions() -> None:
    """reserving.toml: the BF a priori loss ratio shipped (README § Reserves) read as an exact decimal."""
    reserving = load_products().reserving
    assert reserving["apriori_loss_ratio"] == Decimal("0.65")
    assert reserving["min_credible_development_months"] == 3
    assert reserving["sigma_interpolation"] == "log-linear"


def test_treaty_terms() -> None:
    """REINSURANCE.md's default programme: ``prior`` = PRODUCTS.md's treaty, ``2026`` the extended
    terms; ``treaty_plain.toml`` = PRODUCTS.md's treaty over every policy."""
    programme = load_products().programme
    assert [year.code for year in programme.years] == ["prior", "2026"]
    prior, extended = programme.years
    assert (prior.start, prior.end) == (None, pd.Timestamp("2026-04-01"))
    assert (extended.start, extended.end) == (pd.Timestamp("2026-04-01"), pd.Timestamp("2027-04-01"))
    for year in programme.years:
        assert (year.ceded_share, year.ceding_commission) == (Decimal("0.40"), Decimal("0.30"))
        assert (year.risk_layer.retention, year.risk_layer.limit) == (30_000_000, 70_000_000)
    assert prior.risk_layer == Layer(retention=30_000_000, limit=70_000_000)  # no aggregate terms
    assert prior.risk_layer.aggregate_limit is None and prior.event_layer is None
    risk = extended.risk_layer
    assert risk.aggregate_deductible == 10_000_000
    assert risk.reinstatements == (Decimal("1.00"), Decimal("0.50")) and risk.aggregate_limit == 210_000_000
    assert risk.rate_on_gnpi == Decimal("0.03")
    assert extended.event_layer == Layer(
        retention=100_000_000, limit=300_000_000, reinstatements=(Decimal("1.00"),), rate_on_gnpi=Decimal("0.02")
    )
    plain = load_programme(DEFAULT_PRODUCTS_DIR / "treaty_plain.toml")
    assert len(plain.years) == 1 and plain.years[0].start is None and plain.years[0].end is None
    assert plain.years[0].risk_layer == prior.risk_layer and plain.years[0].event_layer is None
    assert plain.products == programme.products


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "reinstatements = [1.00, 0.50]",
            'reinstatements = [1.00, "half"]',
            "years.2026.excess_of_loss.reinstatements[1]",
        ),
        ("reinstatements = [1.00, 0.50]", "reinstatements = 2", "years.2026.excess_of_loss.reinstatements"),
        ("rate_on_gnpi = 0.03", "rate_on_gnpi = 3", "years.2026.excess_of_loss.rate_on_gnpi"),
        (
            "aggregate_deductible = 10_000_000",
            "aggregate_deductible = -1",
            "years.2026.excess_of_loss.aggregate_deductible",
        ),
        ("start = 2026-04-01", "start = 2026-03-01", "years.2026.start: overlaps treaty year prior"),
        ("end = 2027-04-01", "end = 2026-04-01", "years.2026.end: must be after start"),
        ("start = 2026-04-01", 'start = "2026-04-01"', "years.2026.start: expected a date"),
        ("[years.2026.quota_share]", "[years.2026.quota_shares]", "years.2026.quota_shares: unknown key"),
        ("limit = 300_000_000", "limit = 0", "years.2026.event_layer.limit: must be > 0"),
        ("[years.prior]\nend = 2026-04-01", "[years.prior]\nend = 2026-04-01\nbogus = 1", "years.prior.bogus"),
    ],
)
def test_malformed_programme_is_one_line_naming_file_and_entry(
    products_copy: Path, old: str, new: str, message: str
) -> None:
    path = products_copy / "treaty.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ProductDataError) as error:
        load_products(products_copy)
    assert "\n" not in str(error.value)
    assert "treaty.toml" in str(error.value) and message in str(error.value)


@pytest.mark.parametrize(
    ("relative", "old", "new", "message"),
    [
        (
            "cyber_security/tariff.toml",
            "{ liability_limit = 20_000_000, factor = 0.70 },\n",
            "",
            "no factor for option",
        ),
        ("cyber_security/tariff.toml", "factor = 0.78", "factor = -0.78", "liability_limit_factors[1].factor"),
        ("leak_lite/tariff.toml", "up_to = 100_000_000", "up_to = 10_000_000", "revenue_bands[1]"),
        ("cyber_security/coverage.toml", 'part = "liability"', 'part = "both"', "items[0].part"),
        ("cyber_security/coverage.toml", 'code = "it_user"', 'code = "it_users"', "events[1].code"),
        ("treaty.toml", "retention = 30_000_000", 'retention = "30M"', "years.prior.excess_of_loss.retention"),
        ("leak_lite/product.toml", "[fixed_terms]", "[fixed_termz]", "missing key"),
        ("common.toml", "never_paid_items = [", "never_paid_items = [[", "not valid TOML"),
        ("reserving.toml", "apriori_loss_ratio = 0.65", "apriori_loss_ratio = -0.65", "apriori_loss_ratio"),
        ("reserving.toml", "apriori_loss_ratio = 0.65", 'apriori_loss_ratio = "65%"', "apriori_loss_ratio"),
        (
            "reserving.toml",
            'sigma_interpolation = "log-linear"',
            'sigma_interpolation = "loglin"',
            "sigma_interpolation",
        ),
        (
            "reserving.toml",
            "min_credible_development_months = 3",
            "min_credible_development_months = 0",
            "min_credible",
        ),
    ],
)
def test_malformed_file_is_one_line_naming_file_and_entry(
    products_copy: Path, relative: str, old: str, new: str, message: str
) -> None:
    path = products_copy / relative
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ProductDataError) as error:
        load_products(products_copy)
    text = str(error.value)
    assert "\n" not in text
    assert relative.split("/")[-1] in text and message in text


def test_missing_folder_and_file(products_copy: Path, tmp_path: Path) -> None:
    with pytest.raises(ProductDataError, match="products folder missing"):
        load_products(tmp_path / "nowhere")
    (products_copy / "treaty.toml").unlink()
    with pytest.raises(ProductDataError, match=r"treaty\.toml: file missing"):
        load_products(products_copy)
    (products_copy / "reserving.toml").unlink()
    (products_copy / "treaty.toml").write_text((DEFAULT_PRODUCTS_DIR / "treaty.toml").read_text("utf-8"), "utf-8")
    with pytest.raises(ProductDataError, match=r"reserving\.toml: file missing"):
        load_products(products_copy)
