"""Sheets of ``policies_annotated.xlsx`` and ``claims_annotated.xlsx`` (DATA_CONTRACT.md § Output).

Column order: the input columns in the order of ``pipeline/io/columns.toml``, then unknown extra
input columns as they came, then context the stages added (``policy_id``, ``product``, ``part`` on
lines; ``product`` on claims), then the computed columns in the contract's order, then provenance
(``bordereau_month``, ``source_file``, ``source_sheet``, ``excel_row``).

Provenance is kept, last: with ``source_file`` and ``excel_row`` a reader can go from any figure
back to the cell it came from. Only internal helper columns (:data:`INTERNAL_COLUMNS`, and any name
starting with ``_``) are dropped. Without ``extra_columns`` every other unknown column is kept,
since the contract carries unknown input columns through; pass the reader's list of extra input
headers to keep exactly those.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from pipeline.io.workbook import Sheet
from pipeline.reports.labels import Labels, input_columns
from pipeline.stages.waterfall import STEP_COLUMNS

PROVENANCE = ("coverholder", "bordereau_month", "source_file", "source_sheet", "excel_row")
INTERNAL_COLUMNS = frozenset({"item_number", "cover_start", "cover_end", "sort_key", "order"})

POLICY_COMPUTED = (
    "status",
    "warnings",
    "annual_premium",
    "cover_months",
    "written_premium",
    "written_this_month",
    "earned_to_date",
    "earned_this_month",
    "upr",
    "adjustment_premium",
    "remaining_liability_limit",
    "remaining_expense_limit",
)
LINE_CONTEXT = ("policy_id", "product", "part")
LINE_COMPUTED = ("first_month", "reason", *STEP_COLUMNS, "payable_this_month", "adjustments")
CLAIM_CONTEXT = ("product",)
CLAIM_COMPUTED = ("payable_liability", "payable_expense", "payable_total", "payable_this_month")


def annotated_columns(
    frame: pd.DataFrame,
    inputs: Sequence[str],
    context: Sequence[str],
    computed: Sequence[str],
    extra_columns: Sequence[str] | None = None,
) -> list[str]:
    """The frame's columns in output order (see the module docstring)."""
    present = list(frame.columns)
    known = {*inputs, *context, *computed, *PROVENANCE}
    extras = [
        c
        for c in present
        if c not in known
        and c not in INTERNAL_COLUMNS
        and not str(c).startswith("_")
        and (extra_columns is None or c in extra_columns)
    ]
    ordered = [
        *[c for c in inputs if c in present],
        *extras,
        *[c for c in context if c in present and c not in inputs],
        *[c for c in computed if c in present],
        *[c for c in PROVENANCE if c in present],
    ]
    return list(dict.fromkeys(ordered))


def _sheet(name: str, frame: pd.DataFrame, columns: list[str], labels: Labels) -> Sheet:
    ordered = labels.localize(frame[columns])
    return Sheet(name=name, frame=ordered, headers=labels.headers(columns), freeze_columns=1)


def policies_annotated_sheets(
    policies: pd.DataFrame, labels: Labels, extra_columns: Sequence[str] | None = None
) -> list[Sheet]:
    """``policies_annotated.xlsx``: sheet ``policies`` (PolicyAccounted as at M)."""
    columns = annotated_columns(policies, input_columns()["policies"], (), POLICY_COMPUTED, extra_columns)
    return [_sheet("policies", policies, columns, labels)]


def claims_annotated_sheets(
    lines: pd.DataFrame,
    claims: pd.DataFrame,
    labels: Labels,
    extra_line_columns: Sequence[str] | None = None,
    extra_claim_columns: Sequence[str] | None = None,
) -> list[Sheet]:
    """``claims_annotated.xlsx``: sheets ``lines`` (LineAdjudicated) and ``claims`` (ClaimTotals)."""
    return [
        lines_annotated_sheet(lines, labels, extra_line_columns),
        claims_annotated_sheet(claims, labels, extra_claim_columns),
    ]


def lines_annotated_sheet(lines: pd.DataFrame, labels: Labels, extra_columns: Sequence[str] | None = None) -> Sheet:
    """The sheet ``lines`` of ``claims_annotated.xlsx`` (LineAdjudicated as at M); of any run of
    consecutive lines, the rows of their sheet (what the Dask engine's workers write part by part)."""
    columns = annotated_columns(lines, input_columns()["lines"], LINE_CONTEXT, LINE_COMPUTED, extra_columns)
    return _sheet("lines", lines, columns, labels)


def claims_annotated_sheet(claims: pd.DataFrame, labels: Labels, extra_columns: Sequence[str] | None = None) -> Sheet:
    """The sheet ``claims`` of ``claims_annotated.xlsx`` (ClaimTotals as at M)."""
    columns = annotated_columns(claims, input_columns()["claims"], CLAIM_CONTEXT, CLAIM_COMPUTED, extra_columns)
    return _sheet("claims", claims, columns, labels)
