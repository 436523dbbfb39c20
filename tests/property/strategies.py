"""Hypothesis strategies: random books of small portfolios for the waterfall property tests.

A portfolio is a few policies of both products (random plans, riders, options, cancellations,
mid-term joiners), claims on them (random events, series, dates, evidence, exclusions) and lines
(random items of the product's catalogue and never-paid items, amounts from 0 to 10^12, random
months). A book is several portfolios side by side with their ids prefixed: policies never share a
cap, so one engine call checks every portfolio of the book at once. And the property tests'
settings (``reproducible``: the same examples on every run).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from pipeline.products.load import load_products
from tests import factories

LARGE_BOOKS_ALLOWED = (HealthCheck.too_slow, HealthCheck.data_too_large)
"""The health checks the property tests of whole books suppress: slow examples and large data."""


def reproducible(examples: int, suppressed: tuple[HealthCheck, ...] = LARGE_BOOKS_ALLOWED) -> settings:
    """The property tests' settings: ``examples`` examples, the same ones every run (no database,
    derandomized), with the ``suppressed`` health checks (by default large books allowed; a test
    that draws small data suppresses fewer, so hypothesis still warns when its data grow)."""
    return settings(max_examples=examples, derandomize=True, database=None, suppress_health_check=list(suppressed))


PRODUCTS = load_products()
MONTHS = ["2026-05", "2026-06", "2026-07", "2026-08"]
START = dt.date(2026, 4, 1)
CYBER = PRODUCTS.products["cyber_security"].definition["options"]
EVENTS = PRODUCTS.event_types
EVIDENCE = PRODUCTS.evidence_codes
ITEMS = {code: [item["item"] for item in product.coverage["items"]] for code, product in PRODUCTS.products.items()}
CAPPED_ITEMS = {  # items that meet a victim cap, a reduction ratio or a sub-limit: drawn more often
    code: [i["item"] for i in product.coverage["items"] if i["item"] == "condolence" or "sublimit" in i]
    for code, product in PRODUCTS.products.items()
}
EXCLUSIONS = {code: sorted(product.exclusions) for code, product in PRODUCTS.products.items()}
AMOUNTS = st.one_of(
    st.sampled_from([0, 1, 60_000, 100_000, 1_000_000, 10_000_000, 20_000_000, 100_000_000]),
    st.integers(0, 300_000),
    st.integers(0, 40_000_000),
    st.integers(0, 10**12),
)


@dataclass
class Book:
    """Rows of the three input tables as override dicts for ``tests.factories``."""

    policies: list[dict[str, Any]]
    claims: list[dict[str, Any]]
    lines: list[dict[str, Any]]

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """(lines, claims, policies) in the dtypes the ``*Valid`` schemas give them, their checks
        not run on every example (``factories.typed``: validating a book was half of a property
        test's time); ``tests/property/test_strategies.py`` validates generated books in full and
        compares them with these frames."""
        return (
            factories.lines(*self.lines, checked=False),
            factories.claims(*self.claims, checked=False),
            factories.policies(*self.policies, checked=False),
        )

    def valid_frames(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """(lines, claims, policies) validated by their schemas, every check run."""
        lines = factories.lines(*self.lines) if self.lines else factories.lines({}).iloc[:0]
        return lines, factories.claims(*self.claims), factories.policies(*self.policies)


def _day(start: dt.date, offset: int) -> str:
    return (start + dt.timedelta(days=offset)).isoformat()


@st.composite
def policy(draw: st.DrawFn, policy_id: str) -> dict[str, Any]:
    start = START + dt.timedelta(days=draw(st.integers(0, 60)))
    row: dict[str, Any] = {"policy_id": policy_id, "period_start": start.isoformat()}
    if draw(st.integers(0, 9)) == 0:
        row["cancel_date"] = _day(start, draw(st.integers(1, 360)))
    if draw(st.booleans()):
        row["product"] = "leak_lite"
        if draw(st.integers(0, 3)) == 0:
            row["join_date"] = _day(start, draw(st.integers(0, 200)))
            row.pop("cancel_date", None)
        return row
    plan = draw(st.sampled_from(["basic", "wide"]))
    liability_limit = draw(st.sampled_from(CYBER["liability_limit"][:6]))
    expense_options = [e for e in CYBER["expense_limit"] if 2 * e <= liability_limit]
    return row | {
        "plan": plan,
        "leak_only": plan == "basic" and draw(st.booleans()),
        "it_business": draw(st.booleans()),
        "liability_limit": liability_limit,
        "liability_deductible": draw(st.sampled_from(CYBER["liability_deductible"])),
        "expense_limit": draw(st.sampled_from(expense_options)),
        "expense_deductible": draw(st.sampled_from(CYBER["expense_deductible"])),
    }


@st.composite
def claim(draw: st.DrawFn, claim_id: str, policy: dict[str, Any]) -> dict[str, Any]:
    start = dt.date.fromisoformat(policy["period_start"])
    known = start + dt.timedelta(days=draw(st.integers(-20, 380)))
    product = policy.get("product", "cyber_security")
    return {
        "claim_id": claim_id,
        "policy_id": policy["policy_id"],
        "event_type": draw(st.sampled_from(EVENTS)) if draw(st.integers(0, 3)) == 0 else "leak",
        "series_id": draw(st.sampled_from([None, f"{policy['policy_id']}-S1", f"{policy['policy_id']}-S1"])),
        "known_date": known.isoformat(),
        "notice_date": _day(known, draw(st.integers(0, 40))),
        "claim_made_date": _day(known, draw(st.integers(-10, 60))),
        "claim_jurisdiction": draw(st.sampled_from(["domestic", "domestic", "overseas"])),
        "evidence": ";".join(draw(st.lists(st.sampled_from(EVIDENCE), max_size=2, unique=True)))
        if draw(st.integers(0, 2)) == 0
        else "media;soc_report",
        "exclusion_code": draw(st.sampled_from(EXCLUSIONS[product])) if draw(st.integers(0, 11)) == 0 else None,
    }


@st.composite
def line(draw: st.DrawFn, line_id: str, claim: dict[str, Any], product: str) -> dict[str, Any]:
    pool = draw(st.sampled_from(["catalogue"] * 6 + ["capped"] * 3 + ["never_paid"]))
    items = {"catalogue": ITEMS[product], "capped": CAPPED_ITEMS[product], "never_paid": PRODUCTS.never_paid_items}
    item = draw(st.sampled_from(items[pool]))
    condolence = item == "condolence"
    return {
        "line_id": line_id,
        "claim_id": claim["claim_id"],
        "item": item,
        "amount": draw(AMOUNTS),
        "spent_date": _day(  # ties on the same day are common, so item number and line_id order matter
            dt.date.fromisoformat(claim["known_date"]), draw(st.one_of(st.sampled_from([0, 9]), st.integers(-5, 420)))
        ),
        "spent_in": draw(st.sampled_from(["domestic", "domestic", "overseas"])),
        "insurer_consent": draw(st.integers(0, 5)) > 0,
        "victims": draw(st.one_of(st.integers(1, 200), st.integers(1, 50_000))) if condolence else None,
        "victim_type": draw(st.sampled_from(["individual", "corporate"])) if condolence else None,
        "first_month": draw(st.sampled_from(MONTHS)),
    }


@st.composite
def portfolio(draw: st.DrawFn, prefix: str, max_lines: int = 10) -> Book:
    policies = [draw(policy(f"{prefix}P{i}")) for i in range(draw(st.integers(1, 3)))]
    claims = []
    for i in range(draw(st.integers(1, 5))):
        claims.append(draw(claim(f"{prefix}C{i}", draw(st.sampled_from(policies)))))
    product_of = {p["policy_id"]: p.get("product", "cyber_security") for p in policies}
    lines = []
    for i in range(draw(st.integers(0, max_lines))):
        parent = draw(st.sampled_from(claims))
        lines.append(draw(line(f"{prefix}L{i:02d}", parent, product_of[parent["policy_id"]])))
    return Book(policies, claims, lines)


@st.composite
def books(draw: st.DrawFn, max_portfolios: int = 6) -> Book:
    """Several independent portfolios in one book (ids prefixed ``B<n>``)."""
    parts = [draw(portfolio(f"B{n}")) for n in range(draw(st.integers(1, max_portfolios)))]
    return Book(
        [row for part in parts for row in part.policies],
        [row for part in parts for row in part.claims],
        [row for part in parts for row in part.lines],
    )
