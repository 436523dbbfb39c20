"""Coverage rules of every product as flat tables, and the same rules as small numpy arrays indexed
by integer codes (``lookups``), which the engine reads by position instead of merging.

Everything comes from the product data (``pipeline/products/data/<product>/coverage.toml`` and
``product.toml``, loaded into a ``ProductBook``); nothing here names a plan, event, item or rider.
The loops below run over the product data (a few dozen rows), never over claim lines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from pipeline.money import ratio_parts
from pipeline.products.load import PARTS, ProductBook

Table = TypeVar("Table")
_BUILT: dict[tuple[str, int], tuple[ProductBook, Any]] = {}


def per_book(build: Callable[[ProductBook], Table]) -> Callable[[ProductBook], Table]:
    """Build a table once per loaded ``ProductBook`` (the book is immutable; callers never mutate
    the tables they get)."""

    @wraps(build)
    def cached(products: ProductBook) -> Table:
        key = (build.__name__, id(products))
        entry = _BUILT.get(key)
        if entry is None or entry[0] is not products:
            entry = (products, build(products))
            _BUILT[key] = entry
        table: Table = entry[1]
        return table

    return cached


def coverage_plan(policies: pd.DataFrame, products: ProductBook) -> pd.Series:
    """The plan whose rules apply to each policy: its ``plan``, or, where that is empty, the product's
    only plan (``leak_lite`` has no plan on the policy and uses ``standard`` in its data)."""
    only_plan = {code: p.plans[0] for code, p in products.products.items() if len(p.plans) == 1}
    default = policies["product"].map(only_plan)
    plan = policies["plan"].astype("str").where(policies["plan"].notna(), default)
    return plan.astype("str")


@per_book
def all_riders(products: ProductBook) -> list[str]:
    """Every rider of every product (each is a boolean column of the policies)."""
    return sorted({rider for product in products.products.values() for rider in product.riders})


@per_book
def item_terms(products: ProductBook) -> pd.DataFrame:
    """One row per (product, item): ``item_number``, ``part``, ``consent``, ``deductible`` (the part's
    deductible applies), ``sublimit`` (Int64, empty if none) and the reduction ratio as an exact
    fraction ``ratio_numerator / ratio_denominator`` (1/1 when the item has none), and ``victim_cap``
    (its lines are capped at victims × the product's condolence cap, step 1)."""
    items = products.items()
    fractions = [ratio_parts(r) if r is not None else (1, 1) for r in items["reduction_ratio"]]
    return pd.DataFrame(
        {
            "product": items["product"].astype("str"),
            "item": items["item"].astype("str"),
            "item_number": items["item_number"].astype("Int64"),
            "part": items["part"].astype("str"),
            "consent": items["consent"].astype("bool"),
            "deductible": items["deductible"].astype("bool"),
            "sublimit": items["sublimit"].astype("Int64"),
            "ratio_numerator": pd.Series([n for n, _ in fractions], dtype="int64"),
            "ratio_denominator": pd.Series([d for _, d in fractions], dtype="int64"),
            "victim_cap": items["victim_cap"].astype("bool"),
        }
    )


@per_book
def item_availability(products: ProductBook) -> pd.DataFrame:
    """(product, item, plan, event_type) for every combination the catalogue offers: a line whose
    combination is absent is ``item_not_covered`` (CALCULATION.md step 0.3)."""
    items = products.items()[["product", "item", "plans", "events"]]
    rows = items.explode("plans").explode("events").dropna(subset=["plans", "events"])
    return pd.DataFrame(
        {
            "product": rows["product"].astype("str"),
            "item": rows["item"].astype("str"),
            "plan": rows["plans"].astype("str"),
            "event_type": rows["events"].astype("str"),
        }
    ).drop_duplicates(ignore_index=True)


@per_book
def event_terms(products: ProductBook) -> pd.DataFrame:
    """One row per (product, event_type, plan) that the plan covers, with booleans
    ``requires_<rider>`` / ``excluded_by_<rider>``, ``overseas_claim_covered``,
    ``overseas_spending_covered`` and ``needs_evidence_<code>`` (at least one of the needed codes)."""
    riders = all_riders(products)
    rows: list[dict[str, Any]] = []
    for event in products.events().to_dict("records"):
        for plan in event["plans"]:
            needed = event["evidence"].get(plan, ())
            row = {
                "product": event["product"],
                "event_type": event["event_type"],
                "plan": plan,
                "overseas_claim_covered": plan in event["overseas_claim_plans"],
                "overseas_spending_covered": plan in event["overseas_spending_plans"],
            }
            row |= {f"requires_{rider}": rider in event["requires_riders"] for rider in riders}
            row |= {f"excluded_by_{rider}": rider in event["excluded_by_riders"] for rider in riders}
            row |= {f"needs_evidence_{code}": code in needed for code in products.evidence_codes}
            rows.append(row)
    terms = pd.DataFrame(rows)
    for column in ("product", "event_type", "plan"):
        terms[column] = terms[column].astype("str")
    return terms


@per_book
def exclusion_parts(products: ProductBook) -> pd.DataFrame:
    """(product, exclusion_code, part) for every part an exclusion removes (step 0.5)."""
    rows = [
        {"product": code, "exclusion_code": exclusion, "part": part}
        for code, product in products.products.items()
        for exclusion, parts in product.exclusions.items()
        for part in parts
    ]
    return pd.DataFrame(rows, columns=["product", "exclusion_code", "part"]).astype("str")


@per_book
def expense_windows(products: ProductBook) -> list[tuple[str, str, pd.DateOffset]]:
    """(product, plan, length) of every expense window: a cost counts if spent from ``known_date`` up
    to and including ``notice_date`` + length. ``years``/``months`` keep the calendar date, clamped
    to the month's end (29 Feb + 1 year = 28 Feb). A plan not listed has no window."""
    return [
        (
            code,
            plan,
            pd.DateOffset(
                years=int(window.get("years", 0)), months=int(window.get("months", 0)), days=int(window.get("days", 0))
            ),
        )
        for code, product in products.products.items()
        for plan, window in product.coverage["expense_window"].items()
    ]


@per_book
def part_levels(products: ProductBook) -> dict[str, dict[str, list[str]]]:
    """For ``limit_per`` and ``deductible_per``: ``"<product>|<part>"`` -> the group levels of
    ``parts.<part>.<setting>`` in product.toml, innermost first (a single level as a one-item list)."""
    levels: dict[str, dict[str, list[str]]] = {"limit_per": {}, "deductible_per": {}}
    for code, product in products.products.items():
        for part in PARTS:
            for setting, per in levels.items():
                value = product.definition["parts"][part][setting]
                per[f"{code}|{part}"] = [value] if isinstance(value, str) else list(value)
    return levels


@per_book
def sublimit_levels(products: ProductBook) -> dict[str, list[str]]:
    """Per product, the groups a sub-limit caps cumulatively, innermost first (``sublimit_per``)."""
    return {code: list(p.coverage["sublimit_per"]) for code, p in products.products.items()}


@per_book
def combined_caps(products: ProductBook) -> dict[str, int]:
    """Per product that has one, the combined cap on liability + expense per policy (step 6)."""
    return {
        code: int(p.definition["combined_cap"]["amount"])
        for code, p in products.products.items()
        if "combined_cap" in p.definition
    }


@per_book
def condolence_caps(products: ProductBook) -> pd.DataFrame:
    """(product, victim_type, cap_per_victim) for the victim cap of step 1."""
    rows = [
        {"product": code, "victim_type": victim_type, "cap_per_victim": int(cap)}
        for code, p in products.products.items()
        for victim_type, cap in p.coverage["condolence_caps"].items()
    ]
    caps = pd.DataFrame(rows)
    caps["cap_per_victim"] = caps["cap_per_victim"].astype(np.int64)
    return caps


LEVELS = ("claim", "series", "policy")
"""Group levels as codes 0, 1, 2 (``Lookups`` level tables; -1: no group at that depth)."""


@dataclass(frozen=True)
class Lookups:
    """Every rule of the product data as small numpy tables indexed by integer codes, so that the
    engine tests membership and reads terms by indexing (``table[codes]``), never by merging.

    Codes index the name lists (``products``, ``plans``, ``events``, ``items``, ``exclusions``,
    ``victim_types``; ``evidence_codes`` names the ``needs_evidence_<code>`` flags); every table has
    one sentinel entry at its end along each coded axis, read by
    the code -1 (absent), holding the default: False, -1 or 0.
    """

    products: list[str]
    plans: list[str]
    events: list[str]
    items: list[str]
    exclusions: list[str]
    victim_types: list[str]
    evidence_codes: list[str]
    never_paid: np.ndarray  # [item] bool
    item_row: np.ndarray  # [product, item] -> catalogue row, -1 if the product has no such item
    item_number: np.ndarray  # [row] int64 (-1 sentinel)
    item_product: np.ndarray  # [row] product code (-1 sentinel)
    item_part: np.ndarray  # [row] 0 liability, 1 expense, -1 none
    item_consent: np.ndarray  # [row] bool
    item_deductible: np.ndarray  # [row] bool
    item_sublimit: np.ndarray  # [row] int64, -1 none
    item_victim_cap: np.ndarray  # [row] bool
    ratio_numerator: np.ndarray  # [row] int64
    ratio_denominator: np.ndarray  # [row] int64
    offered: np.ndarray  # [row, plan, event] bool
    event_row: np.ndarray  # [product, event, plan] -> event_terms row, -1 if not covered
    event_flags: dict[str, np.ndarray]  # column of event_terms -> [row] bool (sentinel False)
    excludes: np.ndarray  # [product, exclusion, part] bool
    windows: list[tuple[int, int, pd.DateOffset]]  # (product, plan, length)
    victim_caps: np.ndarray  # [product, victim_type] int64, -1 none
    deductible_level: np.ndarray  # [product, part] level code
    limit_levels: np.ndarray  # [product, part, depth] level code or -1
    sublimit_levels: np.ndarray  # [product, depth] level code or -1
    combined_cap: np.ndarray  # [product] int64, -1 none
    row_terms: dict[str, np.ndarray]  # [row] the terms above that follow from a catalogue row (its
    # product and part): number_key (item number rank, no item: last), deductible_level,
    # limit_level_<depth>, sublimit_level_<depth>, combined_cap


def _index(names: list[str]) -> dict[str, int]:
    return {name: code for code, name in enumerate(names)}


@per_book
def lookups(products: ProductBook) -> Lookups:
    """The ``Lookups`` of a book (built once per book; a few dozen rows of product data)."""
    product_names = list(products.products)
    plan_names = sorted({plan for p in products.products.values() for plan in p.plans})
    items = item_terms(products)
    catalogue = products.items()
    events_table = event_terms(products)
    event_names = list(
        dict.fromkeys([*products.event_types, *events_table["event_type"], *catalogue["events"].explode().dropna()])
    )
    item_names = list(dict.fromkeys([*items["item"], *products.never_paid_items]))
    exclusion_names = sorted({code for p in products.products.values() for code in p.exclusions})
    victim_names = sorted({v for p in products.products.values() for v in p.coverage["condolence_caps"]})
    product_of, plan_of, event_of = _index(product_names), _index(plan_names), _index(event_names)
    item_of, exclusion_of, victim_of = _index(item_names), _index(exclusion_names), _index(victim_names)
    n_products, n_plans, n_events, n_items = len(product_names), len(plan_names), len(event_names), len(item_names)
    rows = len(items)

    never_paid = np.zeros(n_items + 1, dtype=bool)
    never_paid[[item_of[name] for name in products.never_paid_items]] = True
    item_row = np.full((n_products + 1, n_items + 1), -1, dtype=np.int64)
    item_row[[product_of[p] for p in items["product"]], [item_of[i] for i in items["item"]]] = np.arange(rows)

    def per_row(values: Any, sentinel: Any, dtype: Any) -> np.ndarray:
        return np.append(np.asarray(values, dtype=dtype), np.asarray([sentinel], dtype=dtype))

    offered = np.zeros((rows + 1, n_plans + 1, n_events + 1), dtype=bool)
    row_of = {(p, i): r for r, (p, i) in enumerate(zip(items["product"], items["item"], strict=True))}
    available = item_availability(products)
    for product, item, plan, event in zip(*(available[c] for c in available.columns), strict=True):
        offered[row_of[product, item], plan_of[plan], event_of[event]] = True

    event_row = np.full((n_products + 1, n_events + 1, n_plans + 1), -1, dtype=np.int64)
    event_row[
        [product_of[p] for p in events_table["product"]],
        [event_of[e] for e in events_table["event_type"]],
        [plan_of[p] for p in events_table["plan"]],
    ] = np.arange(len(events_table))
    flags = [column for column in events_table.columns if column not in ("product", "event_type", "plan")]
    event_flags = {flag: per_row(events_table[flag].eq(True), False, bool) for flag in flags}

    excludes = np.zeros((n_products + 1, len(exclusion_names) + 1, len(PARTS) + 1), dtype=bool)
    removed = exclusion_parts(products)
    for product, exclusion, part in zip(removed["product"], removed["exclusion_code"], removed["part"], strict=True):
        excludes[product_of[product], exclusion_of[exclusion], PARTS.index(part)] = True

    victim_caps = np.full((n_products + 1, len(victim_names) + 1), -1, dtype=np.int64)
    caps_table = condolence_caps(products)
    for product, victim, cap in zip(*(caps_table[c] for c in caps_table.columns), strict=True):
        victim_caps[product_of[product], victim_of[victim]] = cap

    levels = part_levels(products)
    depth = max(len(per) for per in levels["limit_per"].values())
    deductible_level = np.full((n_products + 1, len(PARTS) + 1), -1, dtype=np.int64)
    limit_levels = np.full((n_products + 1, len(PARTS) + 1, depth), -1, dtype=np.int64)
    for code in product_names:
        for part_code, part in enumerate(PARTS):
            deductible_level[product_of[code], part_code] = LEVELS.index(levels["deductible_per"][f"{code}|{part}"][0])
            for d, level in enumerate(levels["limit_per"][f"{code}|{part}"]):
                limit_levels[product_of[code], part_code, d] = LEVELS.index(level)
    sublimits = sublimit_levels(products)
    sublimit_level = np.full((n_products + 1, max(map(len, sublimits.values()), default=0)), -1, dtype=np.int64)
    for code, per in sublimits.items():
        sublimit_level[product_of[code], : len(per)] = [LEVELS.index(level) for level in per]
    caps = combined_caps(products)
    combined = np.array([caps.get(code, -1) for code in product_names] + [-1], dtype=np.int64)

    row_product = per_row([product_of[p] for p in items["product"]], -1, np.int64)
    row_part = per_row([PARTS.index(part) for part in items["part"]], -1, np.int64)
    numbers = items["item_number"].to_numpy(dtype=np.int64)
    number_key = np.searchsorted(np.unique(numbers), numbers)
    row_terms = {
        "number_key": per_row(number_key, len(np.unique(numbers)), np.int64),
        "deductible_level": deductible_level[row_product, row_part],
        "combined_cap": combined[row_product],
    }
    row_terms |= {f"limit_level_{d}": limit_levels[row_product, row_part, d] for d in range(depth)}
    row_terms |= {f"sublimit_level_{d}": sublimit_level[row_product, d] for d in range(sublimit_level.shape[1])}
    return Lookups(
        products=product_names,
        plans=plan_names,
        events=event_names,
        items=item_names,
        exclusions=exclusion_names,
        victim_types=victim_names,
        evidence_codes=list(products.evidence_codes),
        never_paid=never_paid,
        item_row=item_row,
        item_number=per_row(items["item_number"], -1, np.int64),
        item_product=row_product,
        item_part=row_part,
        item_consent=per_row(items["consent"], False, bool),
        item_deductible=per_row(items["deductible"], False, bool),
        item_sublimit=per_row(items["sublimit"].fillna(-1), -1, np.int64),
        item_victim_cap=per_row(items["victim_cap"], False, bool),
        ratio_numerator=per_row(items["ratio_numerator"], 1, np.int64),
        ratio_denominator=per_row(items["ratio_denominator"], 1, np.int64),
        offered=offered,
        event_row=event_row,
        event_flags=event_flags,
        excludes=excludes,
        windows=[(product_of[code], plan_of[plan], length) for code, plan, length in expense_windows(products)],
        victim_caps=victim_caps,
        deductible_level=deductible_level,
        limit_levels=limit_levels,
        sublimit_levels=sublimit_level,
        combined_cap=combined,
        row_terms=row_terms,
    )
