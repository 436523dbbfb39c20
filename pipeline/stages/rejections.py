"""Failures and rejected rows: pandera's failures as reasons people read, and one rejected row per
failing cell (DATA_CONTRACT.md § Values people really type: every bad row goes to the rejected sheet
with file, sheet, Excel row, column, value and an actionable reason).

A failure is one (row index, column, reason) of a parsed sheet (``FAILURE_COLUMNS``): from parsing
(``pipeline.parse``), from the rules of ``schemas`` (which carry their own reasons) or from pandera's
built-in checks, translated by ``_reason``. ``rejected_rows`` turns a sheet's failures into
``REJECTED_COLUMNS`` rows, the cell shown as typed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

import numpy as np
import pandas as pd
import pandera.pandas as pa

from pipeline.parse import shown_cell
from pipeline.tables import EXCEL_ROW, RawSheet
from schemas.common import Rule

REJECTED_COLUMNS = ["month", "file", "sheet", "sheet_as_named", "row", "column", "column_as_written", "value", "reason"]
FAILURE_COLUMNS = ["index", "column", "reason"]


def failures_of(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The failures of every part (frames of ``FAILURE_COLUMNS``) one under the other."""
    parts = [part for part in parts if len(part)]
    if not parts:
        return pd.DataFrame({"index": pd.Series(dtype="int64"), "column": [], "reason": []}, dtype=object)
    return pd.concat(parts, ignore_index=True)


_BUILTIN_REASONS: list[tuple[re.Pattern[str], Callable[[str, re.Match[str]], str]]] = [
    (re.compile(r"not_nullable"), lambda column, m: f"{column} is required"),
    (re.compile(r"str_length\("), lambda column, m: f"{column} is required"),
    (re.compile(r"greater_than_or_equal_to\((.*)\)"), lambda column, m: f"{column} must be at least {m.group(1)}"),
    (re.compile(r"isin\((.*)\)"), lambda column, m: f"{column} must be one of {m.group(1)}"),
    (re.compile(r"str_matches\((.*)\)"), lambda column, m: f"{column} must match {m.group(1)}"),
    (re.compile(r"(coerce_)?dtype\((.*)\)"), lambda column, m: f"{column} could not be read as {m.group(2)}"),
]


def _reason(column: str, check: str) -> str:
    """A person's reason for a pandera failure: our rules carry it; built-in checks are translated."""
    for pattern, reason in _BUILTIN_REASONS:
        match = pattern.match(check)
        if match:
            return reason(column, match)
    return check


def _holds(rule: Rule) -> Callable[[pd.Series], pd.Series]:
    return lambda values: rule.holds.reindex(values.index, fill_value=True)


def _rules_schema(rules: list[Rule]) -> pa.DataFrameSchema:
    """The rules as checks of their columns, in the order given (no dtype: the model checks that)."""
    added: dict[str, list[pa.Check]] = {}
    for rule in rules:
        added.setdefault(rule.column, []).append(pa.Check(_holds(rule), error=rule.reason, ignore_na=False))
    return pa.DataFrameSchema(
        {column: pa.Column(checks=checks, nullable=True) for column, checks in added.items()}, strict=False
    )


def failure_frame(errors: pa.errors.SchemaErrors) -> pd.DataFrame:
    """pandera's failure cases as ``FAILURE_COLUMNS``: the row, the column and a person's reason."""
    cases = errors.failure_cases
    located = cases[cases["index"].notna() & cases["column"].notna()]
    if len(located) < len(cases):
        unlocated = cases[cases["index"].isna() | cases["column"].isna()].iloc[0]
        raise RuntimeError(f"validation failure without a row: {unlocated.to_dict()}") from None
    reasons = [_reason(str(c), str(k)) for c, k in zip(located["column"], located["check"], strict=True)]
    return pd.DataFrame(
        {
            "index": located["index"].astype("int64").to_numpy(),
            "column": located["column"].astype(str).to_numpy(),
            "reason": reasons,
        }
    ).drop_duplicates()


def rule_failures(frame: pd.DataFrame, model: type[pa.DataFrameModel] | None, rules: list[Rule]) -> pd.DataFrame:
    """Validate ``frame`` lazily against ``model``, then against ``rules``; one failure per (row,
    column, reason), a cell's reasons in the order of the model's checks, then the rules'. Two
    validations rather than one schema of both, so that the model's schema is never copied."""
    schemas = [model.to_schema()] if model is not None else []
    if rules:
        schemas.append(_rules_schema(rules))
    failures = []
    for schema in schemas:
        try:
            schema.validate(frame, lazy=True)
        except pa.errors.SchemaErrors as errors:
            failures.append(failure_frame(errors))
    return failures_of(failures)


MAX_SHOWN_VALUE = 1_000  # characters of a rejected cell shown in rejected.xlsx


def shown_value(text: str) -> str:
    """A rejected cell as shown: as typed, or its start and its length when it is very long."""
    if len(text) <= MAX_SHOWN_VALUE:
        return text
    return f"{text[:MAX_SHOWN_VALUE]}… ({len(text):,} characters)"


def rejected_rows(raw: RawSheet, failures: pd.DataFrame) -> pd.DataFrame:
    """One rejected row per failing (row, column): the cell as typed and every reason, joined."""
    if failures.empty:
        return rejected_rows_empty()
    unique = failures.drop_duplicates()
    grouped = unique.groupby(["index", "column"], sort=False)["reason"]
    joined = grouped.ngroups < len(unique)  # a cell failing several rules: one row, reasons joined
    cells = grouped.agg("; ".join).reset_index() if joined else unique.reset_index(drop=True)
    positions = raw.index.get_indexer(pd.Index(cells["index"]))
    failing = np.unique(positions)  # the sheet's failing rows, the only ones whose cells are unpacked
    failing_rows = raw.rows_at(failing)
    among_failing = np.searchsorted(failing, positions)
    written = dict(raw.headers)
    values = [""] * len(cells)
    for column, rows in cells.groupby("column", sort=False).indices.items():
        if column in raw.columns:
            typed = raw.typed.get(str(column))  # as typed, before a layout's value map
            shown = (
                typed.to_numpy()[positions[rows]]
                if typed is not None
                else failing_rows[column].to_numpy()[among_failing[rows]]
            )
            for row, cell in zip(rows, shown, strict=True):
                values[row] = shown_value(shown_cell(cell))
    rejected = pd.DataFrame(
        {
            "month": raw.month,
            "file": raw.file,
            "sheet": raw.sheet,
            "sheet_as_named": raw.sheet_as_named,
            "row": failing_rows[EXCEL_ROW].to_numpy(dtype="int64")[among_failing],
            "column": cells["column"].astype(str).to_numpy(),
            "column_as_written": cells["column"].astype(str).map(lambda c: written.get(c, "")).to_numpy(),
            "value": pd.Series(values, dtype="str").to_numpy(),
            "reason": cells["reason"].to_numpy(),
        }
    )
    column_order = {name: order for order, name in enumerate(raw.columns)}
    return (
        rejected.assign(_order=rejected["column"].map(column_order).fillna(len(column_order)))
        .sort_values(["row", "_order"], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )


@cache
def _no_rejected_rows() -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype="str") for column in REJECTED_COLUMNS}).astype({"row": "int64"})


def rejected_rows_empty() -> pd.DataFrame:
    """No rejected rows, with the columns and dtypes of rejected rows (a new frame each time)."""
    return _no_rejected_rows().copy()
