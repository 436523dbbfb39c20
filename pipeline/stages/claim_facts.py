"""The facts of each claim that its lines share, as integer codes, worked out once per claim (not per
line): its policy's position, product and plan, event and its row of the product data, exclusion,
dates and cover period, riders, expense window (``claim_facts``); the positions that tie lines to
claims and claims to policies (``line_claims``, ``claim_policies_and_ranks``); each claim's series within its policy
(``series_codes``). Eligibility (``pipeline.stages.eligibility``) reads its reasons from these.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from pipeline.arrow_text import NONE, arrow_strings, positions
from pipeline.products.load import ProductBook
from pipeline.stages import coverage, product_tables
from pipeline.stages.codes import codes, factorized, lookup, text_rank


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


def dates(values: pd.Series) -> np.ndarray:
    """A date column as numpy ``datetime64[ns]`` (NaT where empty)."""
    return np.asarray(values.to_numpy(dtype="datetime64[ns]"))


def _ranked_ids(frame: pd.DataFrame, column: str) -> np.ndarray:
    """The text rank of each id of ``frame[column]``; raises ValueError if an id repeats."""
    rank, repeated = text_rank(frame[column])
    if repeated:
        raise ValueError(f"{column} repeated: {', '.join(repeated)}")
    return rank


def claim_policies_and_ranks(claims: pd.DataFrame, policies: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per claim, the position of its policy in ``policies`` (-1 if unknown) and the rank of its id in
    text order. Raises ValueError if a claim or policy id repeats."""
    claim_rank = _ranked_ids(claims, "claim_id")
    _ranked_ids(policies, "policy_id")
    return positions(claims["policy_id"], policies["policy_id"]), claim_rank


def line_claims(lines: pd.DataFrame, claims: pd.DataFrame) -> np.ndarray:
    """Per line, the position of its claim in ``claims`` (-1 if unknown): every line's claim id looked
    up by its text, the engine's largest lookup (``line_facts`` runs it on a second thread beside the
    claims' own facts; pyarrow releases the GIL)."""
    return positions(lines["claim_id"], claims["claim_id"])


def known_line_claims(lines: pd.DataFrame, claim: np.ndarray, claim_policy: np.ndarray) -> np.ndarray:
    """``claim`` (``line_claims``) once every line's claim and every such claim's policy is known.
    Raises ValueError naming up to five lines whose claim or policy is unknown (the stages before
    guarantee there are none)."""
    known = claim >= 0
    known[known] = claim_policy[claim[known]] >= 0
    if not known.all():
        missing = ", ".join(lines["line_id"].iloc[np.flatnonzero(~known)[:5]].astype(str))
        raise ValueError(f"lines whose claim or policy is unknown: {missing}")
    return claim


@dataclass(frozen=True)
class ClaimFacts:
    """Per claim (arrays in the claims' order): its policy's position, product and plan codes, its
    event code and catalogue row (``event_row``, -1 if the plan does not cover it), exclusion code,
    dates and cover period, whether it was made overseas, the riders its policy has, its expense
    window; ``claims`` is the claims frame itself (for the evidence listed)."""

    claims: pd.DataFrame
    policy: np.ndarray
    product: np.ndarray
    plan: np.ndarray
    event: np.ndarray
    event_row: np.ndarray
    exclusion: np.ndarray
    known_date: np.ndarray
    made_date: np.ndarray
    cover_start: np.ndarray
    cover_end: np.ndarray
    made_overseas: np.ndarray
    riders: dict[str, np.ndarray]
    window_end: np.ndarray
    has_window: np.ndarray


def claim_facts(
    claims: pd.DataFrame, policies: pd.DataFrame, claim_policy: np.ndarray, products: ProductBook
) -> ClaimFacts:
    """The facts of each claim that its lines share (worked out once per claim, not per line)."""
    table = product_tables.lookups(products)
    on = np.maximum(claim_policy, 0)  # claims of unknown policies have no lines (checked before)
    n_claims = len(claims)
    if len(policies):
        product = np.take(codes(policies["product"], table.products), on)
        plan = np.take(codes(coverage.coverage_plan(policies, products), table.plans), on)
        period = cover_period(policies)
        cover_start, cover_end = np.take(dates(period["cover_start"]), on), np.take(dates(period["cover_end"]), on)
    else:
        product = plan = np.full(n_claims, NONE, dtype=np.int64)
        cover_start = cover_end = np.full(n_claims, np.datetime64("NaT"), dtype="datetime64[ns]")
    event = codes(claims["event_type"], table.events)
    riders = {
        rider: np.take(policies[rider].eq(True).to_numpy(dtype=bool), on) if len(policies) else np.zeros(n_claims, bool)
        for rider in coverage.all_riders(products)
    }
    window_end = np.full(n_claims, np.datetime64("NaT"), dtype="datetime64[ns]")
    has_window = np.zeros(n_claims, dtype=bool)
    for window_product, window_plan, length in table.windows:
        rows = np.flatnonzero((product == window_product) & (plan == window_plan))
        if len(rows):
            has_window[rows] = True
            window_end[rows] = dates(claims["notice_date"].iloc[rows] + length)
    return ClaimFacts(
        claims=claims,
        policy=claim_policy,
        product=product,
        plan=plan,
        event=event,
        event_row=lookup(table.event_row, product, event, plan),
        exclusion=codes(claims["exclusion_code"], table.exclusions),
        known_date=dates(claims["known_date"]),
        made_date=dates(claims["claim_made_date"]),
        cover_start=cover_start,
        cover_end=cover_end,
        made_overseas=claims["claim_jurisdiction"].eq("overseas").to_numpy(dtype=bool),
        riders=riders,
        window_end=window_end,
        has_window=has_window,
    )


def series_codes(claims: pd.DataFrame, claim_policy: np.ndarray) -> np.ndarray:
    """Per claim, a code of its series within its policy (``series_id``, or the claim itself when
    empty): claims share a code when they share the policy and the series."""
    series_text = pc.coalesce(arrow_strings(claims["series_id"]), arrow_strings(claims["claim_id"]))
    series_code, _ = factorized(pd.Series(series_text, dtype="str"))
    return np.asarray(pd.factorize(claim_policy * (len(claims) + 1) + series_code)[0], dtype=np.int64)
