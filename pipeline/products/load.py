"""Load and check the product and treaty data files.

Layout of a products folder (the shipped one is ``pipeline/products/data``)::

    common.toml                  never-paid items, event types, evidence codes
    treaty.toml                  the reinsurance programme (treaty years; ``programme.py``)
    reserving.toml               reserving assumptions: BF a priori loss ratio, credibility, Mack sigma
    <product>/product.toml       plans, riders, options or fixed terms, how limits and deductibles apply
    <product>/tariff.toml        premium: revenue bands, factors, minimum, surcharges
    <product>/coverage.toml      events, item catalogue, exclusions, caps, windows, evidence

TOML floats are read as ``decimal.Decimal`` so that factors and ratios stay exact (0.70 is 70/100).
Every file is checked when loaded; a malformed one raises ``ProductDataError`` whose message is one
line naming the file and the entry.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.products.programme import Programme, programme_from

DEFAULT_PRODUCTS_DIR = Path(__file__).parent / "data"
PARTS = ("liability", "expense")
GROUPS = ("claim", "series", "policy")
SIGMA_INTERPOLATIONS = ("log-linear", "mack")


class ProductDataError(Exception):
    """A product or treaty data file is missing or malformed (message: one line, file and entry)."""


@dataclass(frozen=True)
class Product:
    """One product: its three data files as read, plus the item and event tables as frames."""

    code: str
    definition: dict[str, Any]
    tariff: dict[str, Any]
    coverage: dict[str, Any]
    items: pd.DataFrame = field(repr=False)
    events: pd.DataFrame = field(repr=False)

    @property
    def plans(self) -> list[str]:
        return list(self.definition["plans"])

    @property
    def riders(self) -> list[str]:
        return list(self.definition["riders"])

    @property
    def exclusions(self) -> dict[str, list[str]]:
        return dict(self.coverage["exclusions"])


@dataclass(frozen=True)
class ProductBook:
    """Every product, the treaty (as read, and checked as a ``Programme`` of treaty years), the
    shared terms and the reserving assumptions, as loaded from one folder."""

    folder: Path
    common: dict[str, Any]
    treaty: dict[str, Any]
    products: dict[str, Product]
    programme: Programme
    reserving: dict[str, Any] = field(default_factory=dict)

    @property
    def never_paid_items(self) -> list[str]:
        return [entry["item"] for entry in self.common["never_paid_items"]]

    @property
    def event_types(self) -> list[str]:
        return [entry["code"] for entry in self.common["event_types"]]

    @property
    def evidence_codes(self) -> list[str]:
        return [entry["code"] for entry in self.common["evidence_codes"]]

    def items(self) -> pd.DataFrame:
        """Every product's item catalogue in one frame (columns as ``Product.items``)."""
        return pd.concat([p.items for p in self.products.values()], ignore_index=True)

    def events(self) -> pd.DataFrame:
        """Every product's event coverage in one frame (columns as ``Product.events``)."""
        return pd.concat([p.events for p in self.products.values()], ignore_index=True)


class _Checker:
    """Reads one TOML file and checks entries, raising one-line errors that name file and entry."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.is_file():
            raise ProductDataError(f"{path}: file missing")
        try:
            with path.open("rb") as handle:
                self.data = tomllib.load(handle, parse_float=Decimal)
        except tomllib.TOMLDecodeError as error:
            raise ProductDataError(f"{path}: not valid TOML ({error})") from None

    def fail(self, entry: str, problem: str) -> ProductDataError:
        return ProductDataError(f"{self.path}: {entry}: {problem}")

    def get(self, table: dict[str, Any], key: str, kind: type | tuple[type, ...], entry: str) -> Any:
        if key not in table:
            raise self.fail(entry, f"missing key '{key}'")
        value = table[key]
        if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise self.fail(f"{entry}.{key}" if entry else key, f"expected {names}, got {value!r}")
        return value

    def money(self, table: dict[str, Any], key: str, entry: str) -> int:
        value = self.get(table, key, int, entry)
        if value < 0:
            raise self.fail(f"{entry}.{key}", f"must be a whole number of yen >= 0, got {value}")
        return int(value)

    def ratio(self, table: dict[str, Any], key: str, entry: str, upper: Decimal | None = None) -> Decimal:
        value = self.get(table, key, (Decimal, int), entry)
        value = Decimal(value)
        if value <= 0 or (upper is not None and value > upper):
            raise self.fail(f"{entry}.{key}", f"must be > 0{f' and <= {upper}' if upper else ''}, got {value}")
        return value

    def codes(self, table: dict[str, Any], key: str, entry: str, allowed: list[str] | None = None) -> list[str]:
        values = self.get(table, key, list, entry)
        for value in values:
            if not isinstance(value, str) or (allowed is not None and value not in allowed):
                raise self.fail(f"{entry}.{key}", f"unknown value {value!r} (allowed: {allowed})")
        return values


def _check_bands(check: _Checker, bands: list[Any], price_keys: list[str]) -> None:
    previous = -1
    for index, band in enumerate(bands):
        entry = f"revenue_bands[{index}]"
        up_to = check.money(band, "up_to", entry)
        if up_to <= previous:
            raise check.fail(entry, "bands must be in increasing order of up_to")
        previous = up_to
        for key in price_keys:
            check.money(band, key, entry)


def _check_factor_table(check: _Checker, tariff: dict[str, Any], table: str, key: str, options: list[int]) -> None:
    rows = check.get(tariff, table, list, "")
    seen = set()
    for index, row in enumerate(rows):
        entry = f"{table}[{index}]"
        seen.add(check.money(row, key, entry))
        check.ratio(row, "factor", entry)
    missing = sorted(set(options) - seen)
    if missing:
        raise check.fail(table, f"no factor for option(s) {missing}")


def _load_definition(folder: Path, code: str) -> dict[str, Any]:
    check = _Checker(folder / code / "product.toml")
    data = check.data
    if check.get(data, "code", str, "") != code:
        raise check.fail("code", f"must be '{code}' (the folder name)")
    check.codes(data, "plans", "")
    check.codes(data, "riders", "")
    check.get(data, "mid_term_joiners", bool, "")
    parts = check.get(data, "parts", dict, "")
    for part in PARTS:
        spec = check.get(parts, part, dict, "parts")
        check.codes(spec, "limit_per", f"parts.{part}", list(GROUPS))
        if check.get(spec, "deductible_per", str, f"parts.{part}") not in GROUPS:
            raise check.fail(f"parts.{part}.deductible_per", f"must be one of {GROUPS}")
    if "fixed_terms" in data:
        terms = data["fixed_terms"]
        for key in ("liability_limit", "liability_deductible", "expense_limit", "expense_deductible"):
            check.money(terms, key, "fixed_terms")
        check.get(terms, "payment_method", str, "fixed_terms")
        check.get(terms, "premium_basis", str, "fixed_terms")
    else:
        options = check.get(data, "options", dict, "")
        for key in ("liability_limit", "liability_deductible", "expense_limit", "expense_deductible"):
            for value in check.get(options, key, list, "options"):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise check.fail(f"options.{key}", f"expected whole yen >= 0, got {value!r}")
        check.codes(options, "payment_method", "options", ["lump_sum", "installment", "large_installment"])
        check.codes(options, "premium_basis", "options", ["fixed", "adjustable"])
        rules = check.get(data, "option_rules", dict, "")
        check.ratio(rules, "expense_limit_max_share_of_liability_limit", "option_rules", Decimal(1))
        check.money(rules, "liability_limit_max_with_it_business", "option_rules")
        check.codes(rules, "leak_only_plans", "option_rules", data["plans"])
        check.money(rules, "large_installment_min_annual_premium", "option_rules")
    if "combined_cap" in data:
        check.money(data["combined_cap"], "amount", "combined_cap")
        if check.get(data["combined_cap"], "per", str, "combined_cap") != "policy":
            raise check.fail("combined_cap.per", "only 'policy' is supported")
    return data


def _load_tariff(folder: Path, code: str, definition: dict[str, Any]) -> dict[str, Any]:
    check = _Checker(folder / code / "tariff.toml")
    data = check.data
    basis = check.get(data, "basis", str, "")
    bands = check.get(data, "revenue_bands", list, "")
    if basis == "revenue_band":
        _check_bands(check, bands, ["annual_premium"])
    elif basis == "revenue_band_with_factors":
        _check_bands(check, bands, list(definition["plans"]))
        check.money(data, "minimum_annual_premium", "")
        options = definition.get("options", {})
        for key in ("liability_limit", "liability_deductible", "expense_limit", "expense_deductible"):
            _check_factor_table(check, data, f"{key}_factors", key, options.get(key, []))
        riders = check.get(data, "rider_factors", dict, "")
        for rider in definition["riders"]:
            check.ratio(riders, rider, "rider_factors")
        methods = check.get(data, "payment_method_factors", dict, "")
        for method in options.get("payment_method", []):
            check.ratio(methods, method, "payment_method_factors")
    else:
        raise check.fail("basis", "must be 'revenue_band' or 'revenue_band_with_factors'")
    return data


def _load_coverage(
    folder: Path, code: str, definition: dict[str, Any], common: dict[str, Any]
) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    check = _Checker(folder / code / "coverage.toml")
    data = check.data
    plans = list(definition["plans"])
    riders = list(definition["riders"])
    event_codes = [e["code"] for e in common["event_types"]]
    evidence_codes = [e["code"] for e in common["evidence_codes"]]
    caps = check.get(data, "condolence_caps", dict, "")
    for victim_type in ("individual", "corporate"):
        check.money(caps, victim_type, "condolence_caps")
    windows = check.get(data, "expense_window", dict, "")
    for plan, window in windows.items():
        if plan not in plans or not isinstance(window, dict) or set(window) - {"days", "years", "months"}:
            raise check.fail(f"expense_window.{plan}", "expected a plan of this product with days/months/years")
    check.codes(data, "sublimit_per", "", list(GROUPS))

    event_rows = []
    for index, event in enumerate(check.get(data, "events", list, "")):
        entry = f"events[{index}]"
        event_code = check.get(event, "code", str, entry)
        if event_code not in event_codes:
            raise check.fail(f"{entry}.code", f"unknown event type {event_code!r}")
        evidence = check.get(event, "evidence", dict, entry)
        for plan in evidence:
            if plan not in plans:
                raise check.fail(f"{entry}.evidence", f"unknown plan {plan!r}")
            check.codes(evidence, plan, f"{entry}.evidence", evidence_codes)
        event_rows.append(
            {
                "product": code,
                "event_type": event_code,
                "plans": tuple(check.codes(event, "plans", entry, plans)),
                "requires_riders": tuple(check.codes(event, "requires_riders", entry, riders)),
                "excluded_by_riders": tuple(check.codes(event, "excluded_by_riders", entry, riders)),
                "overseas_claim_plans": tuple(check.codes(event, "overseas_claim_plans", entry, plans)),
                "overseas_spending_plans": tuple(check.codes(event, "overseas_spending_plans", entry, plans)),
                "evidence": {plan: tuple(needed) for plan, needed in evidence.items()},
            }
        )

    item_rows = []
    for index, item in enumerate(check.get(data, "items", list, "")):
        entry = f"items[{index}]"
        part = check.get(item, "part", str, entry)
        if part not in PARTS:
            raise check.fail(f"{entry}.part", f"must be one of {PARTS}")
        sublimit = check.money(item, "sublimit", entry) if "sublimit" in item else None
        ratio = check.ratio(item, "reduction_ratio", entry, Decimal(1)) if "reduction_ratio" in item else None
        victim_cap = check.get(item, "victim_cap", bool, entry) if "victim_cap" in item else False
        item_rows.append(
            {
                "product": code,
                "item": check.get(item, "item", str, entry),
                "item_number": check.get(item, "number", int, entry),
                "name_ja": check.get(item, "name_ja", str, entry),
                "part": part,
                "plans": tuple(check.codes(item, "plans", entry, plans)),
                "events": tuple(check.codes(item, "events", entry, event_codes)),
                "consent": check.get(item, "consent", bool, entry),
                "deductible": check.get(item, "deductible", bool, entry),
                "sublimit": sublimit,
                "reduction_ratio": ratio,
                "victim_cap": victim_cap,
            }
        )
    numbers = [row["item_number"] for row in item_rows]
    if numbers != sorted(set(numbers)):
        raise check.fail("items", "item numbers must be unique and in increasing order")
    exclusions = check.get(data, "exclusions", dict, "")
    for exclusion in exclusions:
        check.codes(exclusions, exclusion, "exclusions", list(PARTS))

    items = pd.DataFrame(item_rows)
    items["sublimit"] = items["sublimit"].astype("Int64")
    return data, items, pd.DataFrame(event_rows)


def _load_reserving(folder: Path) -> dict[str, Any]:
    """``reserving.toml``: the BF a priori loss ratio (a decimal > 0), the months of development
    below which an accident month is ``immature`` (whole number >= 1) and Mack's sigma
    extrapolation (one of :data:`SIGMA_INTERPOLATIONS`)."""
    check = _Checker(folder / "reserving.toml")
    data = check.data
    check.ratio(data, "apriori_loss_ratio", "")
    months = check.get(data, "min_credible_development_months", int, "")
    if months < 1:
        raise check.fail("min_credible_development_months", f"must be a whole number >= 1, got {months}")
    if check.get(data, "sigma_interpolation", str, "") not in SIGMA_INTERPOLATIONS:
        raise check.fail(
            "sigma_interpolation", f"must be one of {SIGMA_INTERPOLATIONS}, got {data['sigma_interpolation']!r}"
        )
    return data


def load_products(folder: Path | str = DEFAULT_PRODUCTS_DIR) -> ProductBook:
    """Load and check every product, the treaty and the reserving assumptions from ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ProductDataError(f"{folder}: products folder missing")
    common_check = _Checker(folder / "common.toml")
    common = common_check.data
    for key in ("never_paid_items", "event_types", "evidence_codes"):
        check_list = common_check.get(common, key, list, "")
        for index, entry in enumerate(check_list):
            common_check.get(entry, "item" if key == "never_paid_items" else "code", str, f"{key}[{index}]")

    treaty, programme = _load_treaty(folder / "treaty.toml")
    codes = list(programme.products)

    products = {}
    for code in codes:
        definition = _load_definition(folder, code)
        tariff = _load_tariff(folder, code, definition)
        coverage, items, events = _load_coverage(folder, code, definition, common)
        products[code] = Product(code, definition, tariff, coverage, items, events)
    reserving = _load_reserving(folder)
    return ProductBook(
        folder=folder, common=common, treaty=treaty, products=products, programme=programme, reserving=reserving
    )


def _load_treaty(path: Path) -> tuple[dict[str, Any], Programme]:
    check = _Checker(path)
    codes = check.codes(check.data, "products", "")
    return check.data, programme_from(check.data, codes, check.fail)


def load_programme(path: Path | str) -> Programme:
    """The checked programme of one treaty file (e.g. ``data/treaty_plain.toml``)."""
    return _load_treaty(Path(path))[1]
