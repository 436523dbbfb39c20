"""The claims waterfall: CALCULATION.md § Waterfall, steps 1–6, after the eligibility of step 0.

Every line goes through the steps in turn; each step's result is an output column::

    eligible_amount -> after_victim_cap -> after_deductible -> after_reduction -> after_sublimit
                    -> after_limit -> payable

The lines are put once into the global order ``(first_month, spent_date, claim_id, item number,
line_id)`` by sorting integer keys (``caps.global_order``); each cumulative step (deductible,
sub-limits, part limits, combined cap) is then one ``caps.capped_shares`` per group level, read from
the product data (``parts.<part>.deductible_per``, ``sublimit_per``, ``parts.<part>.limit_per``,
``combined_cap``). A group is one int64 code: the claim, the (policy, series) pair or the policy,
combined with the part or the item. A line's limits are its policy's ``liability_limit`` /
``expense_limit`` at every level of its part. Money stays int64 throughout.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from pipeline.money import INT64_MAX
from pipeline.products.load import PARTS, ProductBook
from pipeline.stages import coverage
from pipeline.stages.caps import capped_rows, global_order
from pipeline.stages.codes import codes, lookup, take_text, text_order_codes
from pipeline.stages.eligibility import LineFacts, eligibility_columns, line_facts, series_codes

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


def victim_capped(facts: LineFacts, lines: pd.DataFrame, products: ProductBook) -> np.ndarray:
    """Step 1: a line of an item with ``victim_cap`` (coverage.toml: ``condolence``) is capped at
    ``victims × condolence_caps[victim_type]``; a line without victims or victim type is not capped."""
    table = coverage.lookups(products)
    amount = facts.eligible_amount.copy()
    rows = np.flatnonzero(table.item_victim_cap[facts.row])
    per_victim = table.victim_caps[facts.product[rows], codes(lines["victim_type"].iloc[rows], table.victim_types)]
    victims = lines["victims"].iloc[rows]
    applies = (per_victim >= 0) & victims.notna().to_numpy(dtype=bool)
    rows, cap = rows[applies], per_victim[applies] * victims[applies].to_numpy(dtype=np.int64)
    amount[rows] = np.minimum(amount[rows], cap)
    return amount


def floor_times_ratio(amount: np.ndarray, numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``floor(amount × numerator / denominator)`` exactly in int64 (OverflowError if it cannot)."""
    peak_amount = int(np.abs(amount).max()) if len(amount) else 0
    peak_numerator = int(np.abs(numerator).max()) if len(numerator) else 0
    if peak_amount and peak_numerator and peak_amount > INT64_MAX // peak_numerator:
        raise OverflowError("amount × ratio numerator exceeds int64; use object arithmetic")
    result: np.ndarray = (amount * numerator) // denominator
    return result


def step_amounts(
    facts: LineFacts, lines: pd.DataFrame, claims: pd.DataFrame, policies: pd.DataFrame, products: ProductBook
) -> dict[str, np.ndarray]:
    """Every ``STEP_COLUMNS`` figure of each line (arrays in the lines' input order).

    What the cumulative steps need of each line (amount, group codes, catalogue row, the policy's
    limit and deductible for the part) is worked out in input order, then moved into global order
    with ``np.take`` (several times faster than fancy indexing on millions of rows); the steps run
    in global order, where every access is sequential, and their results come back by the inverse
    permutation. Every term that follows from the product and part is read by catalogue row.
    """
    table = coverage.lookups(products)
    terms = table.row_terms
    n, n_claims = len(lines), len(claims)
    order = global_order(
        text_order_codes(lines["first_month"]),
        _spent_key(np.asarray(lines["spent_date"].to_numpy(dtype="datetime64[ns]"))),
        np.take(facts.claim_rank, facts.claim),
        np.take(terms["number_key"], facts.row),
        lines["line_id"],
    )
    in_input_order = {
        "amount": victim_capped(facts, lines, products),
        "row": facts.row,
        "deductible": lookup(_part_terms(policies, "deductible"), facts.policy, facts.part),
        "limit": lookup(_part_terms(policies, "limit"), facts.policy, facts.part),
    }
    line = {name: np.take(values, order) for name, values in in_input_order.items()}
    row = line["row"]
    part = np.take(table.item_part, row)
    # Each line's group at each level, side by side: claim, series (within the policy), policy.
    groups = np.empty((n, len(coverage.LEVELS)), dtype=np.int32 if 3 * n_claims < 2**31 else np.int64)
    groups[:, 0] = np.take(facts.claim, order)
    groups[:, 1] = np.take(np.take(series_codes(claims, facts.claim_policy) + n_claims, facts.claim), order)
    groups[:, 2] = np.take(facts.policy + 2 * n_claims, order)
    flat_groups = groups.reshape(-1)

    def cap(
        amount: np.ndarray,
        applies: np.ndarray,
        level: np.ndarray,
        limit: np.ndarray,
        within: tuple[np.ndarray, int] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """``amount`` with the lines where ``applies`` capped cumulatively at ``limit`` per group
        (the group at ``level``, subdivided by ``within``: codes and their bound), and the rows
        capped."""
        rows = np.flatnonzero(applies & (level >= 0) & (amount > 0))
        key = np.take(flat_groups, rows * len(coverage.LEVELS) + np.take(level, rows)).astype(np.int64)
        if within is not None:
            key *= within[1]
            key += np.take(within[0], rows)
        return capped_rows(amount, rows, key, np.take(limit, rows)), rows

    # Step 2: the part's deductible, absorbed in global order by the lines of its group.
    amount, deductible = line["amount"], line["deductible"]
    applies = np.take(table.item_deductible, row) & (deductible >= 0)
    level = np.take(terms["deductible_level"], row)
    absorbed, rows = cap(amount, applies, level, deductible, (part, len(PARTS)))
    amount = amount.copy()
    amount[rows] -= np.take(absorbed, rows)
    steps = {"after_deductible": amount}

    # Step 3: the reduction ratio, exact and floored.
    amount = floor_times_ratio(amount, np.take(table.ratio_numerator, row), np.take(table.ratio_denominator, row))

    # Step 4: sub-limits per (claim, item), then per (policy, item).
    sublimit = np.take(table.item_sublimit, row)
    for depth in range(table.sublimit_levels.shape[1]):
        level = np.take(terms[f"sublimit_level_{depth}"], row)
        amount, _ = cap(amount, sublimit >= 0, level, sublimit, (row, len(table.item_number)))
    steps["after_sublimit"] = amount

    # Step 5: part limits per each group of parts.<part>.limit_per, innermost first.
    limit = line["limit"]
    for depth in range(table.limit_levels.shape[2]):
        level = np.take(terms[f"limit_level_{depth}"], row)
        amount, _ = cap(amount, limit >= 0, level, limit, (part, len(PARTS)))
    steps["after_limit"] = amount

    # Step 6: the combined cap on liability + expense per policy.
    combined = np.take(terms["combined_cap"], row)
    policy_level = np.where(combined >= 0, coverage.LEVELS.index("policy"), -1)
    steps["payable"], _ = cap(amount, combined >= 0, policy_level, combined)

    del line, row, part, applies, level, absorbed, rows, sublimit, limit, combined, policy_level
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n, dtype=np.int64)
    del order
    back = {name: np.take(values, inverse) for name, values in steps.items()}
    after_reduction = floor_times_ratio(
        back["after_deductible"], np.take(table.ratio_numerator, facts.row), np.take(table.ratio_denominator, facts.row)
    )
    return {
        "eligible_amount": facts.eligible_amount,
        "after_victim_cap": in_input_order["amount"],
        "after_deductible": back["after_deductible"],
        "after_reduction": after_reduction,
        "after_sublimit": back["after_sublimit"],
        "after_limit": back["after_limit"],
        "payable": back["payable"],
    }


def adjustments(steps: dict[str, np.ndarray], index: pd.Index) -> pd.Series:
    """The ``;``-joined codes of the steps that changed the line's amount, in step order."""
    changed = np.zeros(len(index), dtype=np.int64)
    for bit, (before, after) in enumerate(itertools.pairwise(STEP_COLUMNS)):
        changed |= (steps[before] != steps[after]).astype(np.int64) << bit
    labels = [
        ";".join(code for bit, code in enumerate(ADJUSTMENT_CODES) if mask >> bit & 1)
        for mask in range(1 << len(ADJUSTMENT_CODES))
    ]
    return take_text(labels, changed, index)


def adjudicated_lines(
    lines: pd.DataFrame, claims: pd.DataFrame, policies: pd.DataFrame, products: ProductBook
) -> pd.DataFrame:
    """``lines`` (same rows, order and index) with the context columns, ``reason``, every waterfall
    step and ``adjustments``: a ``LineAdjudicated`` frame without ``payable_this_month`` (added by
    ``pipeline.stages.claims.lines_with_movements``). CALCULATION.md § Claims."""
    facts = line_facts(lines, claims, policies, products)
    steps = step_amounts(facts, lines, claims, policies, products)  # its scratch arrays are freed first
    columns = eligibility_columns(facts, claims, policies, products)
    for column in STEP_COLUMNS:
        columns[column] = pd.Series(steps[column], index=lines.index, dtype="int64", copy=False)
    columns["adjustments"] = adjustments(steps, lines.index)
    return lines.assign(**columns)
