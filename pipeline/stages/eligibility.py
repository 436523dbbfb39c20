"""Eligibility of claim lines: CALCULATION.md § Waterfall, step 0.

A line is eligible unless one of ten reasons holds; the first that holds (in the order of the spec)
is its ``reason`` and its ``eligible_amount`` is 0. Every rule is read from the product data through
the integer tables of ``pipeline.stages.coverage.lookups``: ids and codes are turned into integer
positions once (``pipeline.stages.codes``), the facts of each claim are worked out on the claims
(not on their lines), and every rule is a vectorised boolean array. No loop over lines, claims or
policies, and no merge on text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.products.load import PARTS, ProductBook
from pipeline.stages import coverage
from pipeline.stages.codes import NONE, arrow_strings, codes, factorized, lookup, positions, take_text, text_rank

LINE_COLUMNS = [
    "line_id",
    "claim_id",
    "item",
    "amount",
    "spent_date",
    "spent_in",
    "insurer_consent",
    "victims",
    "victim_type",
    "first_month",
]
CLAIM_COLUMNS = [
    "claim_id",
    "policy_id",
    "event_type",
    "series_id",
    "known_date",
    "notice_date",
    "claim_made_date",
    "claim_jurisdiction",
    "evidence",
    "exclusion_code",
]
POLICY_COLUMNS = [
    "policy_id",
    "product",
    "liability_limit",
    "liability_deductible",
    "expense_limit",
    "expense_deductible",
]
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


def cover_period(policies: pd.DataFrame) -> pd.DataFrame:
    """``cover_start`` = join_date or period_start, ``cover_end`` = cancel_date or period_end: the
    cover period ``[cover_start, cover_end)`` of each policy (CALCULATION.md § Policies)."""
    return pd.DataFrame(
        {
            "cover_start": policies["join_date"].fillna(policies["period_start"]),
            "cover_end": policies["cancel_date"].fillna(policies["period_end"]),
        },
        index=policies.index,
    )


@dataclass(frozen=True)
class LineFacts:
    """What the engine knows of each line (arrays in the lines' input order), as integer codes.

    ``claim`` and ``policy`` are positions in the claims and policies frames; ``product``, ``row``
    (catalogue row, -1 if the product has no such item) and ``part`` (0 liability, 1 expense, -1
    neither) index ``coverage.lookups``; ``claim_policy``, ``claim_rank`` and ``claim_series`` are,
    per claim, the position of its policy, the rank of its id in text order and its series code within the policy
    (``series_codes``); ``reason`` indexes ``reason_labels``.
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
    reason: np.ndarray
    reason_labels: list[str]
    eligible_amount: np.ndarray


def _dates(values: pd.Series) -> np.ndarray:
    """A date column as numpy ``datetime64[ns]`` (NaT where empty)."""
    return np.asarray(values.to_numpy(dtype="datetime64[ns]"))


def _ranked_ids(frame: pd.DataFrame, column: str) -> np.ndarray:
    """The text rank of each id of ``frame[column]``; raises ValueError if an id repeats."""
    rank, repeated = text_rank(frame[column])
    if repeated:
        raise ValueError(f"{column} repeated: {', '.join(repeated)}")
    return rank


def claim_positions(
    lines: pd.DataFrame, claims: pd.DataFrame, policies: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per line, the position of its claim in ``claims``; per claim, the position of its policy in
    ``policies`` (-1 if unknown) and the rank of its id in text order.

    Raises ValueError if a line's claim or a claim's policy is missing (the stages before guarantee
    it), or if a claim or policy id repeats.
    """
    claim_rank = _ranked_ids(claims, "claim_id")
    _ranked_ids(policies, "policy_id")
    claim_policy = positions(claims["policy_id"], policies["policy_id"])
    claim = positions(lines["claim_id"], claims["claim_id"])
    known = claim >= 0
    known[known] = claim_policy[claim[known]] >= 0
    if not known.all():
        missing = ", ".join(lines["line_id"].iloc[np.flatnonzero(~known)[:5]].astype(str))
        raise ValueError(f"lines whose claim or policy is unknown: {missing}")
    return claim, claim_policy, claim_rank


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
class ClaimFacts:
    """Per claim (arrays in the claims' order): its policy's position, product and plan codes, its
    event code, exclusion code, dates, and ``first_reason[claim, part]``: the first of the reasons
    that depend on the claim and the line's part only (event_not_covered, outside_period,
    excluded, overseas_claim, no_evidence), ``NO_REASON`` if none (part -1 reads column 2)."""

    policy: np.ndarray
    product: np.ndarray
    plan: np.ndarray
    event: np.ndarray
    exclusion: np.ndarray
    known_date: np.ndarray
    window_end: np.ndarray
    has_window: np.ndarray
    overseas_spending_covered: np.ndarray
    first_reason: np.ndarray


NO_REASON = np.iinfo(np.int8).max


def claim_facts(
    claims: pd.DataFrame, policies: pd.DataFrame, claim_policy: np.ndarray, products: ProductBook
) -> ClaimFacts:
    """The facts of each claim that its lines share (worked out once per claim, not per line)."""
    table = coverage.lookups(products)
    on = np.maximum(claim_policy, 0)  # claims of unknown policies have no lines (checked before)
    n_claims = len(claims)
    if len(policies):
        product = np.take(codes(policies["product"], table.products), on)
        plan = np.take(codes(coverage.coverage_plan(policies, products), table.plans), on)
        period = cover_period(policies)
        cover_start, cover_end = np.take(_dates(period["cover_start"]), on), np.take(_dates(period["cover_end"]), on)
    else:
        product = plan = np.full(n_claims, NONE, dtype=np.int64)
        cover_start = cover_end = np.full(n_claims, np.datetime64("NaT"), dtype="datetime64[ns]")
    event = codes(claims["event_type"], table.events)
    event_row = lookup(table.event_row, product, event, plan)
    flags = table.event_flags
    uncovered = event_row < 0
    for rider in coverage.all_riders(products):
        attached = np.take(policies[rider].eq(True).to_numpy(dtype=bool), on) if len(policies) else uncovered & False
        uncovered |= np.take(flags[f"requires_{rider}"], event_row) & ~attached
        uncovered |= np.take(flags[f"excluded_by_{rider}"], event_row) & attached
    known_date, made_date = _dates(claims["known_date"]), _dates(claims["claim_made_date"])
    exclusion = codes(claims["exclusion_code"], table.exclusions)
    overseas_claim = claims["claim_jurisdiction"].eq("overseas").to_numpy(dtype=bool)
    overseas_claim = overseas_claim & ~np.take(flags["overseas_claim_covered"], event_row)
    window_end = np.full(n_claims, np.datetime64("NaT"), dtype="datetime64[ns]")
    has_window = np.zeros(n_claims, dtype=bool)
    for window_product, window_plan, length in table.windows:
        rows = np.flatnonzero((product == window_product) & (plan == window_plan))
        if len(rows):
            has_window[rows] = True
            window_end[rows] = _dates(claims["notice_date"].iloc[rows] + length)
    needed = np.stack([np.take(flags[f"needs_evidence_{code}"], event_row) for code in products.evidence_codes], 1)
    lacks_evidence = np.asarray(needed.any(axis=1), dtype=bool)
    asking = np.flatnonzero(lacks_evidence)
    held = _evidence_held(claims["evidence"].iloc[asking], products.evidence_codes)
    lacks_evidence[asking] = ~(needed[asking] & held).any(axis=1)

    # The first claim-level reason for a line of each part (column 2: a line in neither part).
    first_reason = np.full((n_claims, len(PARTS) + 1), NO_REASON, dtype=np.int8)
    inside = {
        LIABILITY: (made_date >= cover_start) & (made_date < cover_end),
        EXPENSE: (known_date >= cover_start) & (known_date < cover_end),
    }
    by_part = {
        LIABILITY: [("outside_period", ~inside[LIABILITY]), ("overseas_claim", overseas_claim)],
        EXPENSE: [("outside_period", ~inside[EXPENSE]), ("no_evidence", lacks_evidence)],
    }
    for part in range(len(PARTS) + 1):
        holds = [("event_not_covered", uncovered)]
        if part < len(PARTS):
            removed = lookup(table.excludes, product, exclusion, np.full(n_claims, part))
            holds += [*by_part[part], ("excluded", removed)]
        for name, where in holds:
            np.minimum(first_reason[:, part], REASONS.index(name), out=first_reason[:, part], where=where)
    return ClaimFacts(
        policy=claim_policy,
        product=product,
        plan=plan,
        event=event,
        exclusion=exclusion,
        known_date=known_date,
        window_end=window_end,
        has_window=has_window,
        overseas_spending_covered=np.take(flags["overseas_spending_covered"], event_row),
        first_reason=first_reason,
    )


def line_facts(lines: pd.DataFrame, claims: pd.DataFrame, policies: pd.DataFrame, products: ProductBook) -> LineFacts:
    """Each line's claim, policy, product, catalogue row, part, reason and eligible amount.

    Raises ValueError if a line's claim or a claim's policy is missing (the stages before guarantee it).
    """
    table = coverage.lookups(products)
    claim, claim_policy, claim_rank = claim_positions(lines, claims, policies)
    facts = claim_facts(claims, policies, claim_policy, products)

    # Per line: gather the claim's facts by position, read the item's terms from the catalogue.
    product = np.take(facts.product, claim)
    item = codes(lines["item"], table.items)
    row = lookup(table.item_row, product, item)
    part = np.take(table.item_part, row)
    expense = part == EXPENSE
    reason = lookup(facts.first_reason, claim, part)

    def first(name: str, holds: np.ndarray) -> None:
        np.minimum(reason, REASONS.index(name), out=reason, where=holds)

    first("not_covered_item", np.take(table.never_paid, item))
    first("item_not_covered", ~lookup(table.offered, row, np.take(facts.plan, claim), np.take(facts.event, claim)))
    spent_overseas = lines["spent_in"].eq("overseas").to_numpy(dtype=bool)
    first("overseas_expense", expense & spent_overseas & ~np.take(facts.overseas_spending_covered, claim))
    window = expense & np.take(facts.has_window, claim)
    at = np.flatnonzero(window)
    spent = _dates(lines["spent_date"].iloc[at])
    window[at] = (spent < np.take(facts.known_date, claim[at])) | (spent > np.take(facts.window_end, claim[at]))
    first("outside_window", window)
    first("no_consent", np.take(table.item_consent, row) & ~lines["insurer_consent"].to_numpy(dtype=bool))
    reason = reason.astype(np.int64)
    eligible = reason == NO_REASON
    reason[eligible] = 0
    excluded = np.flatnonzero(reason == REASONS.index("excluded"))
    reason[excluded] = len(REASONS) + np.take(facts.exclusion, claim[excluded])
    amount = lines["amount"].to_numpy(dtype=np.int64)
    return LineFacts(
        index=lines.index,
        claim=claim,
        policy=np.take(claim_policy, claim),
        product=product,
        row=row,
        part=part,
        claim_policy=claim_policy,
        claim_rank=claim_rank,
        claim_series=series_codes(claims, claim_policy),
        reason=reason,
        reason_labels=_reason_labels(table.exclusions),
        eligible_amount=np.where(eligible, amount, 0),
    )


def series_codes(claims: pd.DataFrame, claim_policy: np.ndarray) -> np.ndarray:
    """Per claim, a code of its series within its policy (``series_id``, or the claim itself when
    empty): claims share a code when they share the policy and the series."""
    series_text = pc.coalesce(arrow_strings(claims["series_id"]), arrow_strings(claims["claim_id"]))
    series_code, _ = factorized(pd.Series(series_text, dtype="str"))
    return np.asarray(pd.factorize(claim_policy * (len(claims) + 1) + series_code)[0], dtype=np.int64)


def _reason_labels(exclusions: list[str]) -> list[str]:
    """The text of every reason code (``excluded`` once per exclusion code)."""
    return [*REASONS, *(f"excluded:{code}" for code in exclusions)]


def context_columns(
    facts: LineFacts, claims: pd.DataFrame, policies: pd.DataFrame, products: ProductBook
) -> dict[str, pd.Series]:
    """The ``CONTEXT_COLUMNS`` of each line, indexed as the lines."""
    table = coverage.lookups(products)
    index = facts.index
    product_code, product_names = factorized(policies["product"])
    plan_code, plan_names = factorized(coverage.coverage_plan(policies, products))
    series = pc.coalesce(arrow_strings(claims["series_id"]), arrow_strings(claims["claim_id"]))
    number = table.item_number[facts.row]
    return {
        "policy_id": take_text(arrow_strings(claims["policy_id"]), facts.claim, index),
        "product": take_text(product_names, product_code[facts.policy], index),
        "plan": take_text(plan_names, plan_code[facts.policy], index),
        "series": take_text(series, facts.claim, index),
        "part": take_text([*PARTS, ""], np.where(facts.part < 0, len(PARTS), facts.part), index),
        "item_number": pd.Series(pd.array(number, dtype="Int64"), index=index).mask(facts.row < 0),
    }


def eligibility_columns(
    facts: LineFacts, claims: pd.DataFrame, policies: pd.DataFrame, products: ProductBook
) -> dict[str, pd.Series]:
    """Context columns, ``reason`` and ``eligible_amount`` of each line, indexed as the lines."""
    return {
        **context_columns(facts, claims, policies, products),
        "reason": take_text(facts.reason_labels, facts.reason, facts.index),
        "eligible_amount": pd.Series(facts.eligible_amount, index=facts.index, dtype="int64"),
    }


def eligible_lines(
    lines: pd.DataFrame, claims: pd.DataFrame, policies: pd.DataFrame, products: ProductBook
) -> pd.DataFrame:
    """``lines`` (same rows, same order, same index) with the context columns, ``reason`` ('' when
    eligible) and ``eligible_amount`` (0 when not): CALCULATION.md § Waterfall step 0."""
    facts = line_facts(lines, claims, policies, products)
    return lines.assign(**eligibility_columns(facts, claims, policies, products))
