"""The claims waterfall: CALCULATION.md § Waterfall, steps 1–6, after the eligibility of step 0.

Every line goes through the steps in turn; each step's result is an output column::

    eligible_amount -> after_victim_cap -> after_deductible -> after_reduction -> after_sublimit
                    -> after_limit -> payable

The lines are sorted once into the global order ``(first_month, spent_date, claim_id, item number,
line_id)``; each cumulative step (deductible, sub-limits, part limits, combined cap) is then one
``cumulative_cap`` per group level, read from the product data (``parts.<part>.deductible_per``,
``sublimit_per``, ``parts.<part>.limit_per``, ``combined_cap``). A line's limits are its policy's
``liability_limit`` / ``expense_limit`` at every level of its part.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.money import INT64_MAX, floor_times_fraction
from pipeline.products.load import ProductBook
from pipeline.stages import coverage
from pipeline.stages.caps import cumulative_cap, in_global_order
from pipeline.stages.eligibility import CONTEXT_COLUMNS, eligibility_columns, line_terms

VICTIM_CAPPED_ITEM = "condolence"
"""The item whose lines carry ``victims`` / ``victim_type`` (DATA_CONTRACT.md § lines)."""

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


def group_keys(terms: pd.DataFrame) -> pd.DataFrame:
    """The id of each line's claim, series and policy as group keys (``claim|C1``, ``series|P1|S1``,
    ``policy|P1``). A series is ``series_id`` or, when empty, the claim itself, within its policy."""
    return pd.DataFrame(
        {
            "claim": "claim|" + terms["claim_id"].astype("str"),
            "series": "series|" + terms["policy_id"].astype("str") + "|" + terms["series"].astype("str"),
            "policy": "policy|" + terms["policy_id"].astype("str"),
        },
        index=terms.index,
    )


def group_key(terms: pd.DataFrame, level: pd.Series) -> pd.Series:
    """The id of each line's group at ``level`` (``claim``, ``series`` or ``policy``; empty: none),
    read from the ``group_keys`` columns ``key_claim``, ``key_series``, ``key_policy`` of ``terms``."""
    names = ["claim", "series", "policy"]
    conditions = [level.eq(name).to_numpy(dtype=bool) for name in names]
    choices = [terms[f"key_{name}"].to_numpy(dtype=object) for name in names]
    return pd.Series(np.select(conditions, choices, default=""), index=terms.index, dtype="str")


def part_limit(terms: pd.DataFrame) -> pd.Series:
    """The policy's limit for the line's part (``liability_limit`` / ``expense_limit``), Int64,
    empty for lines in neither part (never-paid items)."""
    limit = pd.Series(pd.NA, index=terms.index, dtype="Int64")
    limit = limit.mask(terms["part"].eq("liability"), terms["liability_limit"].astype("Int64"))
    return limit.mask(terms["part"].eq("expense"), terms["expense_limit"].astype("Int64"))


def part_deductible(terms: pd.DataFrame) -> pd.Series:
    """The policy's deductible for the line's part, Int64, empty where the item's part deductible does
    not apply (``deductible = false`` in the catalogue, e.g. ``litigation_response``)."""
    deductible = pd.Series(pd.NA, index=terms.index, dtype="Int64")
    deductible = deductible.mask(terms["part"].eq("liability"), terms["liability_deductible"].astype("Int64"))
    deductible = deductible.mask(terms["part"].eq("expense"), terms["expense_deductible"].astype("Int64"))
    return deductible.where(terms["deductible"].eq(True))


def _level_of_part(terms: pd.DataFrame, products: ProductBook, setting: str, depth: int) -> pd.Series:
    """The ``depth``-th group level of ``parts.<part>.<setting>`` for each line (empty if none)."""
    levels = coverage.part_levels(products)[setting]
    at_depth = {key: per[depth] for key, per in levels.items() if len(per) > depth}
    return (terms["product"].astype("str") + "|" + terms["part"].astype("str")).map(at_depth)


def after_victim_cap(terms: pd.DataFrame, products: ProductBook) -> pd.Series:
    """Step 1: a ``condolence`` line is capped at ``victims × cap(victim_type)`` (coverage.toml
    ``condolence_caps``); a line without victims or victim type is not capped."""
    caps = terms[["product", "victim_type"]].merge(
        coverage.condolence_caps(products), on=["product", "victim_type"], how="left"
    )["cap_per_victim"]
    cap = pd.Series(caps.to_numpy(), index=terms.index).astype("Int64") * terms["victims"].astype("Int64")
    cap = cap.where(terms["item"].eq(VICTIM_CAPPED_ITEM))
    amount = terms["eligible_amount"].astype("int64")
    return amount.clip(upper=cap.fillna(INT64_MAX).astype("int64")).astype("int64")


def after_deductible(terms: pd.DataFrame, products: ProductBook) -> pd.Series:
    """Step 2: the part's deductible is shared by the lines of its group (``deductible_per``:
    liability per claim, expense per series); in global order each line absorbs what is left of it,
    up to its own amount."""
    amount = terms["after_victim_cap"]
    level = _level_of_part(terms, products, "deductible_per", 0)
    deductible = part_deductible(terms).where(level.notna())
    absorbed = cumulative_cap(amount, [terms["part"], group_key(terms, level)], deductible)
    return (amount - absorbed.where(deductible.notna(), 0)).astype("int64")


def after_reduction(terms: pd.DataFrame) -> pd.Series:
    """Step 3: ``floor(amount × reduction ratio)`` for items that have one (exact integer fraction)."""
    numerator = terms["ratio_numerator"].fillna(1).astype("int64")
    denominator = terms["ratio_denominator"].fillna(1).astype("int64")
    return floor_times_fraction(terms["after_deductible"], numerator, denominator).astype("int64")


def after_sublimit(terms: pd.DataFrame, products: ProductBook) -> pd.Series:
    """Step 4: an item's sub-limit caps cumulatively per (claim, item), then per (policy, item)
    (coverage.toml ``sublimit_per``, innermost first)."""
    amount = terms["after_reduction"]
    levels = coverage.sublimit_levels(products)
    for depth in range(max(map(len, levels.values()), default=0)):
        level = terms["product"].map({code: per[depth] for code, per in levels.items() if len(per) > depth})
        limit = terms["sublimit"].astype("Int64").where(level.notna())
        amount = cumulative_cap(amount, [group_key(terms, level), terms["item"]], limit)
    return amount.astype("int64")


def after_limit(terms: pd.DataFrame, products: ProductBook) -> pd.Series:
    """Step 5: the part limit caps cumulatively per each group of ``parts.<part>.limit_per``, innermost
    first (cyber_security: liability per claim then policy, expense per series then policy;
    leak_lite: liability per policy, expense per claim)."""
    amount = terms["after_sublimit"]
    limit = part_limit(terms)
    for depth in range(max(map(len, coverage.part_levels(products)["limit_per"].values()))):
        level = _level_of_part(terms, products, "limit_per", depth)
        amount = cumulative_cap(amount, [terms["part"], group_key(terms, level)], limit.where(level.notna()))
    return amount.astype("int64")


def payable(terms: pd.DataFrame, products: ProductBook) -> pd.Series:
    """Step 6: liability + expense per policy capped at the product's ``combined_cap`` (leak_lite:
    100,000,000); products without one pass through."""
    cap = terms["product"].map(coverage.combined_caps(products)).astype("Int64")
    cap = cap.where(terms["part"].isin(["liability", "expense"]))
    return cumulative_cap(terms["after_limit"], [terms["policy_id"]], cap).astype("int64")


def adjustments(terms: pd.DataFrame) -> pd.Series:
    """The ``;``-joined codes of the steps that changed the line's amount, in step order."""
    joined = pd.Series("", index=terms.index, dtype="str")
    for before, after, code in zip(STEP_COLUMNS[:-1], STEP_COLUMNS[1:], ADJUSTMENT_CODES, strict=True):
        joined = joined.where(terms[before].eq(terms[after]), joined + ";" + code)
    return joined.str.removeprefix(";")


def waterfall_columns(terms: pd.DataFrame, products: ProductBook) -> pd.DataFrame:
    """Context, ``reason`` and every step column of the lines of ``terms`` (same index and order)."""
    steps = terms.assign(**eligibility_columns(terms, products)[["reason", "eligible_amount"]])
    steps = in_global_order(steps.join(group_keys(steps).add_prefix("key_")))
    steps = steps.assign(after_victim_cap=after_victim_cap(steps, products))
    steps = steps.assign(after_deductible=after_deductible(steps, products))
    steps = steps.assign(after_reduction=after_reduction(steps))
    steps = steps.assign(after_sublimit=after_sublimit(steps, products))
    steps = steps.assign(after_limit=after_limit(steps, products))
    steps = steps.assign(payable=payable(steps, products))
    steps = steps.assign(adjustments=adjustments(steps))
    columns = steps.sort_index()[[*CONTEXT_COLUMNS, "reason", *STEP_COLUMNS, "adjustments"]]
    return columns.astype({**dict.fromkeys(STEP_COLUMNS, "int64"), "item_number": "Int64"})


def adjudicated_lines(
    lines: pd.DataFrame, claims: pd.DataFrame, policies: pd.DataFrame, products: ProductBook
) -> pd.DataFrame:
    """``lines`` (same rows, order and index) with the context columns, ``reason``, every waterfall
    step and ``adjustments``: a ``LineAdjudicated`` frame without ``payable_this_month`` (added by
    ``pipeline.stages.claims.lines_with_movements``). CALCULATION.md § Claims."""
    added = waterfall_columns(line_terms(lines, claims, policies, products), products).set_axis(lines.index)
    return lines.assign(**{column: added[column] for column in added.columns})
