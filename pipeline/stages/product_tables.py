"""The product data as small numpy tables indexed by integer codes (``Lookups``, built once per book by
``lookups``), which the engine reads by position instead of merging: built from the flat tables of
``pipeline.stages.coverage``. Nothing here names a plan, event, item or rider; the loops run over the
product data (a few dozen rows), never over claim lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.products.load import PARTS, ProductBook
from pipeline.stages.codes import narrowest
from pipeline.stages.coverage import (
    combined_caps,
    condolence_caps,
    event_terms,
    exclusion_parts,
    expense_windows,
    item_availability,
    item_terms,
    part_levels,
    per_book,
    sublimit_levels,
)

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
    item_part: np.ndarray  # [row] 0 liability, 1 expense, -1 none (int8)
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


def _per_row(values: Any, sentinel: Any, dtype: Any) -> np.ndarray:
    """One value per catalogue row, then the sentinel read by row -1."""
    return np.append(np.asarray(values, dtype=dtype), np.asarray([sentinel], dtype=dtype))


@dataclass(frozen=True)
class _Names:
    """The code lists of a book and, for each, name -> code."""

    products: list[str]
    plans: list[str]
    events: list[str]
    items: list[str]
    exclusions: list[str]
    victim_types: list[str]

    def of(self, kind: str) -> dict[str, int]:
        return _index(getattr(self, kind))


def _names(products: ProductBook) -> _Names:
    """Every code of the book, in the order its tables are indexed."""
    catalogue = products.items()
    return _Names(
        products=list(products.products),
        plans=sorted({plan for p in products.products.values() for plan in p.plans}),
        events=list(
            dict.fromkeys(
                [*products.event_types, *event_terms(products)["event_type"], *catalogue["events"].explode().dropna()]
            )
        ),
        items=list(dict.fromkeys([*item_terms(products)["item"], *products.never_paid_items])),
        exclusions=sorted({code for p in products.products.values() for code in p.exclusions}),
        victim_types=sorted({v for p in products.products.values() for v in p.coverage["condolence_caps"]}),
    )


def _item_tables(products: ProductBook, names: _Names) -> dict[str, np.ndarray]:
    """``never_paid`` [item], ``item_row`` [product, item] and ``offered`` [row, plan, event]."""
    items = item_terms(products)
    product_of, plan_of, event_of, item_of = (
        names.of("products"),
        names.of("plans"),
        names.of("events"),
        names.of("items"),
    )
    never_paid = np.zeros(len(names.items) + 1, dtype=bool)
    never_paid[[item_of[name] for name in products.never_paid_items]] = True
    item_row = np.full((len(names.products) + 1, len(names.items) + 1), -1, dtype=np.int32)  # 4 bytes per line taken
    item_row[[product_of[p] for p in items["product"]], [item_of[i] for i in items["item"]]] = np.arange(len(items))
    offered = np.zeros((len(items) + 1, len(names.plans) + 1, len(names.events) + 1), dtype=bool)
    row_of = {(p, i): r for r, (p, i) in enumerate(zip(items["product"], items["item"], strict=True))}
    available = item_availability(products)
    for product, item, plan, event in zip(*(available[c] for c in available.columns), strict=True):
        offered[row_of[product, item], plan_of[plan], event_of[event]] = True
    return {"never_paid": never_paid, "item_row": item_row, "offered": offered}


def _event_tables(products: ProductBook, names: _Names) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``event_row`` [product, event, plan] -> row of ``event_terms`` (-1: not covered) and the
    boolean flags of those rows."""
    events_table = event_terms(products)
    product_of, plan_of, event_of = names.of("products"), names.of("plans"), names.of("events")
    event_row = np.full((len(names.products) + 1, len(names.events) + 1, len(names.plans) + 1), -1, dtype=np.int64)
    event_row[
        [product_of[p] for p in events_table["product"]],
        [event_of[e] for e in events_table["event_type"]],
        [plan_of[p] for p in events_table["plan"]],
    ] = np.arange(len(events_table))
    flags = [column for column in events_table.columns if column not in ("product", "event_type", "plan")]
    return event_row, {flag: _per_row(events_table[flag].eq(True), False, bool) for flag in flags}


def _claim_term_tables(products: ProductBook, names: _Names) -> dict[str, np.ndarray]:
    """``excludes`` [product, exclusion, part] and ``victim_caps`` [product, victim_type]."""
    product_of, exclusion_of, victim_of = names.of("products"), names.of("exclusions"), names.of("victim_types")
    excludes = np.zeros((len(names.products) + 1, len(names.exclusions) + 1, len(PARTS) + 1), dtype=bool)
    removed = exclusion_parts(products)
    for product, exclusion, part in zip(removed["product"], removed["exclusion_code"], removed["part"], strict=True):
        excludes[product_of[product], exclusion_of[exclusion], PARTS.index(part)] = True
    victim_caps = np.full((len(names.products) + 1, len(names.victim_types) + 1), -1, dtype=np.int64)
    caps_table = condolence_caps(products)
    for product, victim, cap in zip(*(caps_table[c] for c in caps_table.columns), strict=True):
        victim_caps[product_of[product], victim_of[victim]] = cap
    return {"excludes": excludes, "victim_caps": victim_caps}


def _level_tables(products: ProductBook, names: _Names) -> dict[str, np.ndarray]:
    """The group levels of every cumulative step as ``LEVELS`` codes: ``deductible_level``
    [product, part], ``limit_levels`` [product, part, depth], ``sublimit_levels`` [product, depth],
    and ``combined_cap`` [product] (-1: none)."""
    product_of = names.of("products")
    n_products = len(names.products)
    levels = part_levels(products)
    depth = max(len(per) for per in levels["limit_per"].values())
    deductible_level = np.full((n_products + 1, len(PARTS) + 1), -1, dtype=np.int8)  # a byte per line taken
    limit_levels = np.full((n_products + 1, len(PARTS) + 1, depth), -1, dtype=np.int8)
    for code in names.products:
        for part_code, part in enumerate(PARTS):
            deductible_level[product_of[code], part_code] = LEVELS.index(levels["deductible_per"][f"{code}|{part}"][0])
            for d, level in enumerate(levels["limit_per"][f"{code}|{part}"]):
                limit_levels[product_of[code], part_code, d] = LEVELS.index(level)
    sublimits = sublimit_levels(products)
    sublimit_level = np.full((n_products + 1, max(map(len, sublimits.values()), default=0)), -1, dtype=np.int8)
    for code, per in sublimits.items():
        sublimit_level[product_of[code], : len(per)] = [LEVELS.index(level) for level in per]
    caps = combined_caps(products)
    combined = np.array([caps.get(code, -1) for code in names.products] + [-1], dtype=np.int64)
    return {
        "deductible_level": deductible_level,
        "limit_levels": limit_levels,
        "sublimit_levels": sublimit_level,
        "combined_cap": combined,
    }


def _row_terms(
    items: pd.DataFrame, row_product: np.ndarray, row_part: np.ndarray, levels: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The terms that follow from a catalogue row (its product and part), read per row."""
    numbers = items["item_number"].to_numpy(dtype=np.int64)
    number_key = np.searchsorted(np.unique(numbers), numbers)
    limit_levels, sublimit_level = levels["limit_levels"], levels["sublimit_levels"]
    row_terms = {
        "number_key": _per_row(number_key, len(np.unique(numbers)), narrowest(len(np.unique(numbers)))),
        "deductible_level": levels["deductible_level"][row_product, row_part],
        "combined_cap": levels["combined_cap"][row_product],
    }
    row_terms |= {f"limit_level_{d}": limit_levels[row_product, row_part, d] for d in range(limit_levels.shape[2])}
    row_terms |= {f"sublimit_level_{d}": sublimit_level[row_product, d] for d in range(sublimit_level.shape[1])}
    return row_terms


@per_book
def lookups(products: ProductBook) -> Lookups:
    """The ``Lookups`` of a book (built once per book; a few dozen rows of product data)."""
    names = _names(products)
    items = item_terms(products)
    product_of, plan_of = names.of("products"), names.of("plans")
    row_product = _per_row([product_of[p] for p in items["product"]], -1, np.int64)
    row_part = _per_row([PARTS.index(part) for part in items["part"]], -1, np.int8)  # a byte per line taken
    event_row, event_flags = _event_tables(products, names)
    levels = _level_tables(products, names)
    return Lookups(
        products=names.products,
        plans=names.plans,
        events=names.events,
        items=names.items,
        exclusions=names.exclusions,
        victim_types=names.victim_types,
        evidence_codes=list(products.evidence_codes),
        **_item_tables(products, names),
        item_number=_per_row(items["item_number"], -1, np.int64),
        item_product=row_product,
        item_part=row_part,
        item_consent=_per_row(items["consent"], False, bool),
        item_deductible=_per_row(items["deductible"], False, bool),
        item_sublimit=_per_row(items["sublimit"].fillna(-1), -1, np.int64),
        item_victim_cap=_per_row(items["victim_cap"], False, bool),
        ratio_numerator=_per_row(items["ratio_numerator"], 1, np.int64),
        ratio_denominator=_per_row(items["ratio_denominator"], 1, np.int64),
        event_row=event_row,
        event_flags=event_flags,
        **_claim_term_tables(products, names),
        windows=[(product_of[code], plan_of[plan], length) for code, plan, length in expense_windows(products)],
        **levels,
        row_terms=_row_terms(items, row_product, row_part, levels),
    )
