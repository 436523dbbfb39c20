"""Eligibility of claim lines: CALCULATION.md § Waterfall, step 0.

A line is eligible unless one of ten reasons holds; the first that holds (in the order of the spec)
is its ``reason`` and its ``eligible_amount`` is 0. Each reason is one small function named for it
(``not_covered_item`` … ``no_consent``), in order of precedence below; the reasons that depend on the
claim and the line's part only (``CLAIM_REASONS``) are worked out once per claim, on the facts of
``pipeline.stages.claim_facts``, the others
(``LINE_REASONS``) per line, and ``first_reason`` keeps the first that holds. Every rule is read from
the product data through the integer tables of ``pipeline.stages.product_tables.lookups``: ids and codes
are turned into integer positions once (``pipeline.stages.codes``), and every rule is a vectorised
boolean array. No loop over lines, claims or policies, and no merge on text.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.arrow_text import arrow_strings, take_labels, take_text
from pipeline.products.load import PARTS, ProductBook
from pipeline.stages import product_tables
from pipeline.stages.claim_facts import (
    ClaimFacts,
    claim_facts,
    claim_policies_and_ranks,
    dates,
    known_line_claims,
    line_claims,
    series_codes,
)
from pipeline.stages.codes import codes, lookup, narrowest

CONTEXT_COLUMNS = ["policy_id", "product", "plan", "series", "part", "item_number"]
"""Columns added to every line so that a reader can redo its figures: the policy and product, the
plan whose rules apply (``leak_lite``: its single plan ``standard``), the series (``series_id``, or
the claim's own id when empty), the part (empty for never-paid items) and the item number."""

REASONS = [
    "",
    "not_covered_item",
    "event_not_covered",
    "item_not_covered",
    "outside_period",
    "excluded",
    "overseas_claim",
    "overseas_expense",
    "outside_window",
    "no_evidence",
    "no_consent",
]
"""Reason codes 0..10 in the order of step 0 (0: eligible). ``excluded`` is written
``excluded:<code>``: reason code ``len(REASONS) + exclusion code``."""
LIABILITY, EXPENSE = PARTS.index("liability"), PARTS.index("expense")


@dataclass(frozen=True)
class LineFacts:
    """What the engine knows of each line (arrays in the lines' input order), as integer codes.

    ``claim`` and ``policy`` are positions in the claims and policies frames; ``product``, ``row``
    (catalogue row, -1 if the product has no such item) and ``part`` (0 liability, 1 expense, -1
    neither) index ``product_tables.lookups``; ``claim_policy``, ``claim_rank``, ``claim_series`` and
    ``claim_plan`` are, per claim, the position of its policy, the rank of its id in text order, its
    series code within the policy (``series_codes``) and its policy's coverage plan (indexing
    ``product_tables.lookups().plans``); ``reason`` indexes ``reason_labels``. The per-line codes
    are each in the narrowest integer type that holds them (``codes.narrowest``).
    """

    index: pd.Index
    claim: np.ndarray
    policy: np.ndarray
    product: np.ndarray
    row: np.ndarray
    part: np.ndarray
    claim_policy: np.ndarray
    claim_rank: np.ndarray
    claim_series: np.ndarray
    claim_plan: np.ndarray
    reason: np.ndarray
    reason_labels: list[str]
    eligible_amount: np.ndarray


def _evidence_held(evidence: pd.Series, evidence_codes: list[str]) -> np.ndarray:
    """[claim, code]: the claim's ``evidence`` (``;``-separated, spaces ignored) lists the code."""
    listed = pc.fill_null(arrow_strings(evidence), "")
    separator = pa.scalar(";", pa.large_string())
    listed = pc.binary_join_element_wise(
        separator, pc.replace_substring(listed, " ", ""), separator, pa.scalar("", pa.large_string())
    )
    held = np.zeros((len(evidence), len(evidence_codes)), dtype=bool)
    for column, code in enumerate(evidence_codes):
        held[:, column] = np.asarray(pc.match_substring(listed, f";{code};").to_numpy(zero_copy_only=False))
    return held


@dataclass(frozen=True)
class LineContext:
    """Per line (arrays in the lines' input order): its claim's position, item code, catalogue row
    and part; with the lines frame, its claims' facts and the product data's tables."""

    lines: pd.DataFrame
    claim: np.ndarray
    item: np.ndarray
    row: np.ndarray
    part: np.ndarray
    claims: ClaimFacts
    table: product_tables.Lookups


NO_REASON = np.iinfo(np.int8).max


# Step 0's ten reasons, in order of precedence (CALCULATION.md § Waterfall, 0.1–0.10), one function
# each, returning where the reason holds. The reasons that depend on the claim (and the line's part)
# only are worked out per claim, as [claim, part] (column 2: a line in neither part); the others per
# line. Only the order of ``REASON_RULES`` decides which reason a line gets.


def _for_parts(holds: np.ndarray, parts: tuple[int, ...]) -> np.ndarray:
    """[claim, part]: ``holds`` (per claim) for lines of ``parts``, False for the others."""
    result = np.zeros((len(holds), len(PARTS) + 1), dtype=bool)
    for part in parts:
        result[:, part] = holds
    return result


def not_covered_item(line: LineContext) -> np.ndarray:
    """0.1 ``not_covered_item``: the item is one no product pays (``never_paid`` in common.toml)."""
    return np.asarray(np.take(line.table.never_paid, line.item), dtype=bool)


def event_not_covered(claim: ClaimFacts, table: product_tables.Lookups) -> np.ndarray:
    """0.2 ``event_not_covered``: the product/plan/riders do not cover the claim's event type (the plan
    lists no such event, a rider it requires is missing, or a rider the policy has excludes it)."""
    flags = table.event_flags
    uncovered = claim.event_row < 0
    for rider, attached in claim.riders.items():
        uncovered |= np.take(flags[f"requires_{rider}"], claim.event_row) & ~attached
        uncovered |= np.take(flags[f"excluded_by_{rider}"], claim.event_row) & attached
    return _for_parts(uncovered, (LIABILITY, EXPENSE, len(PARTS)))


def item_not_covered(line: LineContext) -> np.ndarray:
    """0.3 ``item_not_covered``: the item is not available for this plan and event type."""
    plan, event = np.take(line.claims.plan, line.claim), np.take(line.claims.event, line.claim)
    return ~lookup(line.table.offered, line.row, plan, event)


def outside_period(claim: ClaimFacts, table: product_tables.Lookups) -> np.ndarray:
    """0.4 ``outside_period``: liability line whose claim's ``claim_made_date`` is outside the cover
    period ``[cover_start, cover_end)``, or expense line whose claim's ``known_date`` is outside it."""
    result = np.zeros((len(claim.policy), len(PARTS) + 1), dtype=bool)
    for part, date in ((LIABILITY, claim.made_date), (EXPENSE, claim.known_date)):
        result[:, part] = ~((date >= claim.cover_start) & (date < claim.cover_end))
    return result


def excluded(claim: ClaimFacts, table: product_tables.Lookups) -> np.ndarray:
    """0.5 ``excluded:<code>``: the claim's ``exclusion_code`` removes this line's part."""
    result = np.zeros((len(claim.policy), len(PARTS) + 1), dtype=bool)
    for part in range(len(PARTS)):
        result[:, part] = lookup(table.excludes, claim.product, claim.exclusion, np.full(len(claim.policy), part))
    return result


def overseas_claim(claim: ClaimFacts, table: product_tables.Lookups) -> np.ndarray:
    """0.6 ``overseas_claim``: liability line, claim made overseas, not covered for its event."""
    covered = np.take(table.event_flags["overseas_claim_covered"], claim.event_row)
    return _for_parts(claim.made_overseas & ~covered, (LIABILITY,))


def overseas_expense(line: LineContext) -> np.ndarray:
    """0.7 ``overseas_expense``: expense line spent overseas, not covered for its claim's event."""
    covered = np.take(line.table.event_flags["overseas_spending_covered"], line.claims.event_row)
    spent_overseas = line.lines["spent_in"].eq("overseas").to_numpy(dtype=bool)
    return (line.part == EXPENSE) & spent_overseas & ~np.take(covered, line.claim)


def outside_window(line: LineContext) -> np.ndarray:
    """0.8 ``outside_window``: expense line spent outside the expense window, from ``known_date`` up
    to and including ``notice_date`` + the plan's window (a plan without a window: never)."""
    window = (line.part == EXPENSE) & np.take(line.claims.has_window, line.claim)
    at = np.flatnonzero(window)
    spent, claim = dates(line.lines["spent_date"].iloc[at]), line.claim[at]
    window[at] = (spent < np.take(line.claims.known_date, claim)) | (spent > np.take(line.claims.window_end, claim))
    return window


def no_evidence(claim: ClaimFacts, table: product_tables.Lookups) -> np.ndarray:
    """0.9 ``no_evidence``: expense line whose claim lacks the objective evidence its event needs (at
    least one of the codes its plan asks for, listed in the claim's ``evidence``)."""
    codes_needed = table.evidence_codes
    flags = table.event_flags
    needed = np.stack([np.take(flags[f"needs_evidence_{code}"], claim.event_row) for code in codes_needed], 1)
    lacks = np.asarray(needed.any(axis=1), dtype=bool)
    asking = np.flatnonzero(lacks)
    held = _evidence_held(claim.claims["evidence"].iloc[asking], codes_needed)
    lacks[asking] = ~(needed[asking] & held).any(axis=1)
    return _for_parts(lacks, (EXPENSE,))


def no_consent(line: LineContext) -> np.ndarray:
    """0.10 ``no_consent``: the item needs insurer consent and ``insurer_consent`` is false."""
    return np.take(line.table.item_consent, line.row) & ~line.lines["insurer_consent"].to_numpy(dtype=bool)


CLAIM_REASONS = {
    "event_not_covered": event_not_covered,
    "outside_period": outside_period,
    "excluded": excluded,
    "overseas_claim": overseas_claim,
    "no_evidence": no_evidence,
}
"""The reasons that hold for every line of a claim in the same part: ``(claim facts, tables) ->
[claim, part]``."""
LINE_REASONS = {
    "not_covered_item": not_covered_item,
    "item_not_covered": item_not_covered,
    "overseas_expense": overseas_expense,
    "outside_window": outside_window,
    "no_consent": no_consent,
}
"""The reasons that depend on the line itself: ``line context -> [line]``."""


def first_claim_reason(claim: ClaimFacts, table: product_tables.Lookups) -> np.ndarray:
    """[claim, part]: the code of the first reason of ``CLAIM_REASONS`` that holds (int8, ``NO_REASON``
    if none); part -1 (a line in neither part) reads column 2."""
    first = np.full((len(claim.policy), len(PARTS) + 1), NO_REASON, dtype=np.int8)
    for name, holds in CLAIM_REASONS.items():
        np.minimum(first, REASONS.index(name), out=first, where=holds(claim, table))
    return first


def first_reason(line: LineContext, claim_reasons: np.ndarray) -> np.ndarray:
    """Per line, the code of the first of the ten reasons that holds (``REASONS`` order; int8,
    ``NO_REASON`` if none), given its claim's (``first_claim_reason``)."""
    reason = lookup(claim_reasons, line.claim, line.part)
    for name, holds in LINE_REASONS.items():
        np.minimum(reason, REASONS.index(name), out=reason, where=holds(line))
    return reason


def line_facts(lines: pd.DataFrame, claims: pd.DataFrame, policies: pd.DataFrame, products: ProductBook) -> LineFacts:
    """Each line's claim, policy, product, catalogue row, part, reason and eligible amount.

    Raises ValueError if a line's claim or a claim's policy is missing (the stages before guarantee it).
    """
    table = product_tables.lookups(products)
    with ThreadPoolExecutor(max_workers=1) as beside:
        # Every line's claim looked up by its id's text on a second thread while this one works out
        # the claims' own facts: at 10M lines 0.7-1.0 s, hidden under about 2 s of the claims' work
        looked_up = beside.submit(line_claims, lines, claims)
        claim_policy, claim_rank = claim_policies_and_ranks(claims, policies)
        facts = claim_facts(claims, policies, claim_policy, products)
        claim_series = series_codes(claims, claim_policy)
        claim_reasons = first_claim_reason(facts, table)
        item = codes(lines["item"], table.items)
        claim = known_line_claims(lines, looked_up.result(), claim_policy)
    claim = claim.astype(narrowest(len(claims)))  # per line: codes in the fewest bytes (``narrowest``)
    product = np.take(facts.product.astype(narrowest(len(table.products))), claim)
    row = lookup(table.item_row, product, item)
    part = np.take(table.item_part, row)
    reason_labels = _reason_labels(table.exclusions)
    reason = first_reason(LineContext(lines, claim, item, row, part, facts, table), claim_reasons)
    reason = reason.astype(narrowest(len(reason_labels)))
    eligible = reason == NO_REASON
    reason[eligible] = 0
    excluded_rows = np.flatnonzero(reason == REASONS.index("excluded"))
    reason[excluded_rows] = len(REASONS) + np.take(facts.exclusion, claim[excluded_rows])
    amount = lines["amount"].to_numpy(dtype=np.int64)
    return LineFacts(
        index=lines.index,
        claim=claim,
        policy=np.take(claim_policy.astype(narrowest(len(policies))), claim),
        product=product,
        row=row,
        part=part,
        claim_policy=claim_policy,
        claim_rank=claim_rank,
        claim_series=claim_series,
        claim_plan=facts.plan,
        reason=reason,
        reason_labels=reason_labels,
        eligible_amount=np.where(eligible, amount, 0),
    )


def _reason_labels(exclusions: list[str]) -> list[str]:
    """The text of every reason code (``excluded`` once per exclusion code)."""
    return [*REASONS, *(f"excluded:{code}" for code in exclusions)]


def part_column(facts: LineFacts) -> pd.Series:
    """Each line's part (``liability``, ``expense``; empty text for a never-paid item, in neither), a
    categorical column indexed as the lines."""
    return take_labels([*PARTS, ""], np.where(facts.part < 0, len(PARTS), facts.part), facts.index)


def context_columns(facts: LineFacts, claims: pd.DataFrame, products: ProductBook) -> dict[str, pd.Series]:
    """The ``CONTEXT_COLUMNS`` of each line, indexed as the lines; ``product``, ``plan`` and ``part``
    categorical, of the book's products and plans (``take_labels``)."""
    table = product_tables.lookups(products)
    index = facts.index
    series = pc.coalesce(arrow_strings(claims["series_id"]), arrow_strings(claims["claim_id"]))
    number = np.take(table.item_number, facts.row)
    return {
        "policy_id": take_text(arrow_strings(claims["policy_id"]), facts.claim, index),
        "product": take_labels(table.products, facts.product, index),
        "plan": take_labels(table.plans, np.take(facts.claim_plan, facts.claim), index),
        "series": take_text(series, facts.claim, index),
        "part": part_column(facts),
        "item_number": pd.Series(pd.arrays.IntegerArray(number, facts.row < 0), index=index),
    }


def eligibility_columns(facts: LineFacts, claims: pd.DataFrame, products: ProductBook) -> dict[str, pd.Series]:
    """Context columns, ``reason`` (categorical) and ``eligible_amount`` of each line, indexed as the
    lines."""
    return {
        **context_columns(facts, claims, products),
        "reason": take_labels(facts.reason_labels, facts.reason, facts.index),
        "eligible_amount": pd.Series(facts.eligible_amount, index=facts.index, dtype="int64"),
    }


def eligible_lines(
    lines: pd.DataFrame, claims: pd.DataFrame, policies: pd.DataFrame, products: ProductBook
) -> pd.DataFrame:
    """``lines`` (same rows, same order, same index) with the context columns, ``reason`` ('' when
    eligible) and ``eligible_amount`` (0 when not): CALCULATION.md § Waterfall step 0."""
    facts = line_facts(lines, claims, policies, products)
    return lines.assign(**eligibility_columns(facts, claims, products))
