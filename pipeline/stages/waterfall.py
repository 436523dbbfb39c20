"""The claims waterfall: CALCULATION.md § Waterfall, steps 1–6, after the eligibility of step 0.

Every line goes through the steps in turn; each step is one function named for the output column it
returns, and its docstring quotes the rule it implements::

    eligible_amount -> after_victim_cap -> after_deductible -> after_reduction -> after_sublimit
                    -> after_limit -> payable

``adjudicated_lines`` asks eligibility once (``eligibility.line_facts``: reason, eligible amount and
the integer codes of each line), hands those results to ``waterfall_steps``, and writes the columns.
The lines are put once into the global order ``(first_month, spent_date, claim_id, item number,
line_id)`` by sorting integer keys (``caps.global_order``, held by ``InGlobalOrder``); each
cumulative step (deductible, sub-limits, part limits, combined cap) is then one
``caps.capped_at_level`` per group level, read from the product data (``parts.<part>.deductible_per``,
``sublimit_per``, ``parts.<part>.limit_per``, ``combined_cap``). A group is one int64 code: the
claim, the (policy, series) pair or the policy, combined with the part or the item. A line's limits
are its policy's ``liability_limit`` / ``expense_limit`` at every level of its part. Money stays
int64 throughout; the reduction ratio is ``money.floor_times_fraction``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from pipeline.arrow_text import take_labels
from pipeline.memory import freed_memory_kept
from pipeline.money import floor_times_fraction
from pipeline.products.load import PARTS, ProductBook
from pipeline.stages import coverage, product_tables
from pipeline.stages.caps import capped_at_level, global_order
from pipeline.stages.codes import codes, lookup, narrowest, text_order_codes
from pipeline.stages.eligibility import LineFacts, eligibility_columns, line_facts, part_column

STEP_COLUMNS = [
    "eligible_amount",
    "after_victim_cap",
    "after_deductible",
    "after_reduction",
    "after_sublimit",
    "after_limit",
    "payable",
]
ADJUSTMENT_CODES = ["victim_cap", "deductible", "reduction_ratio", "sublimit", "limit", "combined_limit"]
"""The code each step after eligibility adds to ``adjustments`` when it changes the amount, in order."""
DAY_NS = 86_400 * 10**9


def _ascending(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Keys >= 0 that sort as ``values`` (int64), with ``missing`` rows after every value."""
    if not missing.any():
        return values - values.min() if len(values) else values.astype(np.int64)
    key = np.zeros(len(values), dtype=np.int64)
    present = values[~missing]
    if len(present):
        low = int(present.min())
        key[~missing] = present - low
        key[missing] = int(present.max()) - low + 1
    return key


def _spent_key(spent: np.ndarray) -> np.ndarray:
    """Keys >= 0 that sort as the spent dates (days when every date is at midnight), NaT last."""
    nanoseconds = spent.view(np.int64)
    missing = np.isnat(spent)
    present = nanoseconds[~missing] if missing.any() else nanoseconds
    if (present % DAY_NS == 0).all():
        return _ascending(nanoseconds // DAY_NS, missing)
    values = np.zeros(len(spent), dtype=np.int64)
    values[~missing] = np.unique(present, return_inverse=True)[1]
    return _ascending(values, missing)


def _part_terms(policies: pd.DataFrame, name: str) -> np.ndarray:
    """[policy, part] the policy's ``liability_<name>`` / ``expense_<name>`` (int64, -1 where empty;
    part -1 reads the last column: -1)."""
    values = np.full((len(policies), len(PARTS) + 1), -1, dtype=np.int64)
    for code, part in enumerate(PARTS):
        column = policies[f"{part}_{name}"]
        values[:, code] = column.fillna(-1).to_numpy(dtype=np.int64)
    return values


@dataclass(frozen=True)
class InGlobalOrder:
    """What the cumulative steps read of each line, every array in the global order.

    ``order`` holds the lines' input positions in global order; ``row`` and ``part`` are the line's
    catalogue row and part; ``groups[line, level]`` its group code at each ``product_tables.LEVELS`` level
    (claim, series within the policy, policy: codes that never collide across levels), the policy
    level's code being ``first_policy_code`` + the policy's position; ``policy_terms`` each
    policy's ``deductible`` and ``limit`` per part (``[policy, part]``, read by ``part_term``);
    ``table`` the product data as integer tables.
    """

    order: np.ndarray
    row: np.ndarray
    part: np.ndarray
    groups: np.ndarray
    first_policy_code: int
    policy_terms: dict[str, np.ndarray]
    table: product_tables.Lookups

    def policy(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The position of each line's policy (of every line or of the lines at ``rows``), read from
        its policy-level group code rather than kept beside it."""
        codes = self.groups[:, product_tables.LEVELS.index("policy")]
        return (codes if rows is None else np.take(codes, rows)) - self.first_policy_code

    def part_term(self, name: str, rows: np.ndarray) -> np.ndarray:
        """The policy's ``liability_<name>`` / ``expense_<name>`` for the line's part (-1 where empty
        or in neither part) of the lines at ``rows``: looked up for the lines its step caps, when it
        caps them, not kept for every line and step."""
        return lookup(self.policy_terms[name], self.policy(rows), np.take(self.part, rows))

    def has_part_term(self, name: str) -> np.ndarray:
        """Whether each line's policy has a ``part_term`` (>= 0): a byte per line where the term
        itself takes eight."""
        return lookup(self.policy_terms[name] >= 0, self.policy(), self.part)


def lines_in_global_order(
    facts: LineFacts, lines: pd.DataFrame, policies: pd.DataFrame, products: ProductBook
) -> InGlobalOrder:
    """The lines' terms in the global order (CALCULATION.md § Order: "Every cumulative step below
    walks the lines in one global order: ``(first_month, spent_date, claim_id, item number,
    line_id)``").

    What the cumulative steps need of each line is worked out in input order, then moved into global
    order with ``np.take`` (several times faster than fancy indexing on millions of rows), where
    every access of the steps is sequential.
    """
    table = product_tables.lookups(products)
    n, n_claims = len(lines), len(facts.claim_policy)
    order = global_order(
        text_order_codes(lines["first_month"]),
        _spent_key(np.asarray(lines["spent_date"].to_numpy(dtype="datetime64[ns]"))),
        np.take(facts.claim_rank.astype(narrowest(n_claims)), facts.claim),
        np.take(table.row_terms["number_key"], facts.row),
        lines["line_id"],
    )
    row = np.take(facts.row, order)
    groups = np.empty((n, len(product_tables.LEVELS)), dtype=np.int32 if 3 * n_claims < 2**31 else np.int64)
    groups[:, 0] = np.take(facts.claim, order)
    groups[:, 1] = np.take(np.take(facts.claim_series + n_claims, facts.claim), order)
    first_policy_code = 2 * n_claims
    groups[:, 2] = np.take(facts.policy, order)
    groups[:, 2] += first_policy_code
    return InGlobalOrder(
        order=order,
        row=row,
        part=np.take(table.item_part, row),
        groups=groups,
        first_policy_code=first_policy_code,
        policy_terms={name: _part_terms(policies, name) for name in ("deductible", "limit")},
        table=table,
    )


def after_victim_cap(facts: LineFacts, lines: pd.DataFrame, products: ProductBook) -> np.ndarray:
    """Step 1, in input order. CALCULATION.md: "**Victim cap**: ``condolence`` lines are capped at
    ``victims × cap(victim_type)``."

    The items capped are those with ``victim_cap`` (coverage.toml: ``condolence``), the cap per
    victim ``condolence_caps[victim_type]``; a line without victims or victim type is not capped.
    """
    table = product_tables.lookups(products)
    amount = facts.eligible_amount.copy()
    rows = np.flatnonzero(table.item_victim_cap[facts.row])
    per_victim = table.victim_caps[facts.product[rows], codes(lines["victim_type"].iloc[rows], table.victim_types)]
    victims = lines["victims"].iloc[rows]
    applies = (per_victim >= 0) & victims.notna().to_numpy(dtype=bool)
    rows, cap = rows[applies], per_victim[applies] * victims[applies].to_numpy(dtype=np.int64)
    amount[rows] = np.minimum(amount[rows], cap)
    return amount


def after_deductible(amount: np.ndarray, lines: InGlobalOrder) -> np.ndarray:
    """Step 2, in global order. CALCULATION.md: "**Deductible**: the liability deductible is shared by
    the claim's lines of items it applies to; the expense deductible by the series' expense lines. In
    global order, each line absorbs what is left of the deductible, up to its own amount."

    What a line absorbs is its cumulative-capped share of the deductible within its group
    (``parts.<part>.deductible_per``), subtracted from its amount.
    """
    table, row = lines.table, lines.row
    applies = np.take(table.item_deductible, row) & lines.has_part_term("deductible")
    level = np.take(table.row_terms["deductible_level"], row)
    deductibles = partial(lines.part_term, "deductible")  # of the lines capped, when capped
    # what each line absorbs where the deductible applies, the line's own amount elsewhere
    result, rows = capped_at_level(amount, applies, level, deductibles, lines.groups, (lines.part, len(PARTS)))
    result[rows] = np.take(amount, rows) - np.take(result, rows)
    return result


def after_reduction(amount: np.ndarray, lines: InGlobalOrder) -> np.ndarray:
    """Step 3. CALCULATION.md: "**Reduction ratio**: ``floor(amount × ratio)`` for items that have
    one." (An item without a ratio reads 1/1.)"""
    table, row = lines.table, lines.row
    return floor_times_fraction(amount, np.take(table.ratio_numerator, row), np.take(table.ratio_denominator, row))


def after_sublimit(amount: np.ndarray, lines: InGlobalOrder) -> np.ndarray:
    """Step 4, in global order. CALCULATION.md: "**Sub-limits**: an item with a sub-limit is capped
    cumulatively per (claim, item), then per (policy, item), in global order." (The levels are the
    product's ``sublimit_per``, innermost first.)"""
    table, row = lines.table, lines.row
    sublimit = np.take(table.item_sublimit, row)
    for depth in range(table.sublimit_levels.shape[1]):
        level = np.take(table.row_terms[f"sublimit_level_{depth}"], row)
        within = (row, len(table.item_number))
        # the step's own intermediate from the second level on: written over, not copied
        amount, _ = capped_at_level(amount, sublimit >= 0, level, sublimit, lines.groups, within, depth > 0)
    return amount


def after_limit(amount: np.ndarray, lines: InGlobalOrder) -> np.ndarray:
    """Step 5, in global order. CALCULATION.md: "**Part limits**: liability lines capped cumulatively
    per claim, then per policy (``leak_lite``: per policy only); expense lines per series, then per
    policy (``leak_lite``: per claim only)." (The levels are ``parts.<part>.limit_per``, innermost
    first; the limit is the policy's ``liability_limit`` / ``expense_limit``.)"""
    table, row, applies = lines.table, lines.row, lines.has_part_term("limit")
    limits = partial(lines.part_term, "limit")  # of the lines capped, when capped
    for depth in range(table.limit_levels.shape[2]):
        level = np.take(table.row_terms[f"limit_level_{depth}"], row)
        within = (lines.part, len(PARTS))
        amount, _ = capped_at_level(amount, applies, level, limits, lines.groups, within, depth > 0)  # as above
    return amount


def payable(amount: np.ndarray, lines: InGlobalOrder) -> np.ndarray:
    """Step 6, in global order. CALCULATION.md: "**Combined cap** (``leak_lite``): liability + expense
    per policy capped at 100,000,000." (The cap is the product's ``combined_cap``.)"""
    combined_cap = lines.table.row_terms["combined_cap"]
    applies = np.take(combined_cap >= 0, lines.row)
    policy_level = np.where(applies, np.int8(product_tables.LEVELS.index("policy")), np.int8(-1))

    def caps(rows: np.ndarray) -> np.ndarray:
        return np.take(combined_cap, np.take(lines.row, rows))

    result, _ = capped_at_level(amount, applies, policy_level, caps, lines.groups)
    return result


def waterfall_steps(
    facts: LineFacts, lines: pd.DataFrame, policies: pd.DataFrame, products: ProductBook
) -> dict[str, np.ndarray]:
    """Every ``STEP_COLUMNS`` figure of each line (arrays in the lines' input order), given the
    eligibility results ``facts`` of step 0.

    Step 1 runs in input order; steps 2–6 run in global order and their results come back by the
    inverse permutation.
    """
    victim_capped = after_victim_cap(facts, lines, products)
    ordered = lines_in_global_order(facts, lines, policies, products)
    steps = {"after_deductible": after_deductible(np.take(victim_capped, ordered.order), ordered)}
    steps["after_reduction"] = after_reduction(steps["after_deductible"], ordered)
    steps["after_sublimit"] = after_sublimit(steps["after_reduction"], ordered)
    steps["after_limit"] = after_limit(steps["after_sublimit"], ordered)
    steps["payable"] = payable(steps["after_limit"], ordered)
    order = ordered.order
    del ordered  # its group codes are let go before the inverse permutation is made
    inverse = np.empty(len(lines), dtype=np.int64)
    inverse[order] = np.arange(len(lines), dtype=np.int64)
    del order
    back = {name: np.take(steps.pop(name), inverse) for name in list(steps)}  # each let go once moved
    return {"eligible_amount": facts.eligible_amount, "after_victim_cap": victim_capped, **back}


def adjustments(steps: dict[str, np.ndarray], index: pd.Index) -> pd.Series:
    """The ``;``-joined codes of the steps that changed the line's amount, in step order (a
    categorical column)."""
    changed = np.zeros(len(index), dtype=np.int64)
    for bit, (before, after) in enumerate(itertools.pairwise(STEP_COLUMNS)):
        changed |= (steps[before] != steps[after]).astype(np.int64) << bit
    labels = [
        ";".join(code for bit, code in enumerate(ADJUSTMENT_CODES) if mask >> bit & 1)
        for mask in range(1 << len(ADJUSTMENT_CODES))
    ]
    return take_labels(labels, changed, index)


def adjudicated_lines(
    lines: pd.DataFrame, claims: pd.DataFrame, policies: pd.DataFrame, products: ProductBook
) -> pd.DataFrame:
    """``lines`` (same rows, order and index) with the context columns, ``reason``, every waterfall
    step and ``adjustments``: a ``LineAdjudicated`` frame without ``payable_this_month`` (added by
    ``pipeline.stages.claims.lines_with_movements``). CALCULATION.md § Claims.

    Eligibility (step 0) is worked out once; the waterfall and the output columns read its results.
    On a large book glibc keeps the memory of its temporary columns for reuse meanwhile
    (``pipeline.memory.freed_memory_kept``).
    """
    with freed_memory_kept(len(lines)):
        facts = line_facts(lines, claims, policies, products)
        steps = waterfall_steps(facts, lines, policies, products)  # its scratch arrays are freed first
        columns = eligibility_columns(facts, claims, products)
        for column in STEP_COLUMNS:
            columns[column] = pd.Series(steps[column], index=lines.index, dtype="int64", copy=False)
        columns["adjustments"] = adjustments(steps, lines.index)
        del facts, steps
        return lines.assign(**columns)


LINE_COLUMNS_READ = [
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
CLAIM_COLUMNS_READ = [
    "claim_id",
    "policy_id",
    "series_id",
    "event_type",
    "evidence",
    "exclusion_code",
    "claim_made_date",
    "known_date",
    "notice_date",
    "claim_jurisdiction",
]
POLICY_COLUMNS_READ = ["policy_id", "product", "plan", "period_start", "period_end", "join_date", "cancel_date"]


def columns_read(
    lines: pd.DataFrame, claims: pd.DataFrame, policies: pd.DataFrame, products: ProductBook
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The lines, claims and policies with only the columns that ``adjudicated_lines`` and
    ``line_payables`` read (eligibility and every step), the policies' with each part's deductible
    and limit and a column per rider of the product data (a column a frame lacks stays missing):
    the same stage on these gives the same columns it adds (tests), so an engine that sends the
    frames elsewhere sends only these."""
    lines, claims, policies = (
        frame[[column for column in wanted if column in frame.columns]]
        for frame, wanted in zip((lines, claims, policies), column_names_read(products), strict=True)
    )
    return lines, claims, policies


def column_names_read(products: ProductBook) -> tuple[list[str], list[str], list[str]]:
    """The names of the lines', claims' and policies' columns that ``columns_read`` keeps: what
    ``adjudicated_lines`` and ``line_payables`` read, the policies' each part's deductible and limit
    and a column per rider of the product data."""
    terms = [f"{part}_{term}" for part in PARTS for term in ("deductible", "limit")]
    return LINE_COLUMNS_READ, CLAIM_COLUMNS_READ, [*POLICY_COLUMNS_READ, *terms, *coverage.all_riders(products)]


PAYABLE_COLUMNS = ["line_id", "claim_id", "part", "payable"]
"""What the run reads of the lines as at an earlier month (``line_payables``): as at M−1 each
line's payable for the month's movements and the claims' totals, as at every earlier month the
claims' totals for the development triangle."""


def line_payables(
    lines: pd.DataFrame, claims: pd.DataFrame, policies: pd.DataFrame, products: ProductBook
) -> pd.DataFrame:
    """Each line's ``line_id``, ``claim_id``, ``part`` and ``payable`` (``PAYABLE_COLUMNS``; same
    rows, order and index as ``lines``): ``adjudicated_lines`` without the context, reason, step and
    adjustment columns, which nobody reads of the valuations before M (the month's movements take
    each line's payable as at M−1, the claim totals and the triangle sum it by claim and part). The
    same ``line_facts`` and ``waterfall_steps``: no rule is written twice; building the text columns
    of every line is about a fifth of ``adjudicated_lines``' time."""
    with freed_memory_kept(len(lines)):
        facts = line_facts(lines, claims, policies, products)
        steps = waterfall_steps(facts, lines, policies, products)
        return pd.DataFrame(
            {
                "line_id": lines["line_id"],
                "claim_id": lines["claim_id"],
                "part": part_column(facts),
                "payable": pd.Series(steps["payable"], index=lines.index, dtype="int64", copy=False),
            },
            index=lines.index,
        )
