"""Coverage rules of every product as flat tables (the same rules as small numpy arrays indexed by
integer codes, which the engine reads by position instead of merging: ``pipeline.stages.product_tables``).

Everything comes from the product data (``pipeline/products/data/<product>/coverage.toml`` and
``product.toml``, loaded into a ``ProductBook``); nothing here names a plan, event, item or rider.
The loops below run over the product data (a few dozen rows), never over claim lines.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from pipeline.money import ratio_parts
from pipeline.products.load import PARTS, ProductBook
from pipeline.stages.codes import mapped_once_each

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
    default = mapped_once_each(policies["product"], only_plan)
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
