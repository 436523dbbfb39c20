"""Write contract-format bordereau workbooks with openpyxl, for tests and golden cases.

``write_bordereau(tmp_path, "2026-04", policies=[{...}], claims=[...], lines=[...])`` writes
``<folder>/2026-04/policies.xlsx`` (sheet ``policies``) and ``<folder>/2026-04/claims.xlsx`` (sheets
``claims`` and ``lines``). Each row is a dict of column -> cell value (str, int, float, bool,
``datetime.date``, None for an empty cell); the header is the canonical columns used by any row, in
``columns.toml`` order, then any other keys (carried-through columns). Strings are written as text
cells, never as formulas or error values, so ``"#N/A"`` or ``"=1+1"`` arrive as typed.
``write_parquet_bordereau`` writes the same rows as Parquet sheets (README § Cache and Parquet).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq

COLUMNS_FILE = Path(__file__).resolve().parents[1] / "pipeline" / "io" / "columns.toml"


def _labels() -> dict[str, dict[str, str]]:
    with COLUMNS_FILE.open("rb") as handle:
        data = tomllib.load(handle)
    return {sheet: {name: spec["ja"] for name, spec in columns.items()} for sheet, columns in data.items()}


def _headers(sheet: str, rows: list[dict[str, Any]]) -> list[str]:
    canonical = list(_labels()[sheet])
    used = {key for row in rows for key in row}
    required = [name for name in canonical if name in used or _required(sheet, name)]
    extra = list(dict.fromkeys(key for row in rows for key in row if key not in canonical))
    return required + extra


def _required(sheet: str, name: str) -> bool:
    with COLUMNS_FILE.open("rb") as handle:
        return bool(tomllib.load(handle)[sheet][name].get("required", False))


def _write_sheet(workbook: openpyxl.Workbook, sheet: str, rows: list[dict[str, Any]], japanese_headers: bool) -> None:
    worksheet = workbook.create_sheet(sheet)
    headers = _headers(sheet, rows)
    labels = _labels()[sheet]
    worksheet.append([labels.get(name, name) if japanese_headers else name for name in headers])
    for row_number, row in enumerate(rows, start=2):
        for column_number, name in enumerate(headers, start=1):
            value = row.get(name)
            if value is None:
                continue
            cell = worksheet.cell(row=row_number, column=column_number)
            cell.value = value
            if isinstance(value, str):
                cell.data_type = "s"


def write_bordereau(
    folder: Path,
    month: str,
    policies: list[dict[str, Any]] | None = None,
    claims: list[dict[str, Any]] | None = None,
    lines: list[dict[str, Any]] | None = None,
    japanese_headers: bool = False,
) -> Path:
    """Write the month's workbooks under ``folder/month`` and return that month folder.

    ``policies=None`` writes no policies.xlsx; ``claims=None`` and ``lines=None`` write no claims.xlsx
    (if only one of them is given, the other sheet is written with its header only).
    """
    month_folder = Path(folder) / month
    month_folder.mkdir(parents=True, exist_ok=True)
    if policies is not None:
        workbook = openpyxl.Workbook()
        workbook.remove(workbook.active)
        _write_sheet(workbook, "policies", policies, japanese_headers)
        workbook.save(month_folder / "policies.xlsx")
    if claims is not None or lines is not None:
        workbook = openpyxl.Workbook()
        workbook.remove(workbook.active)
        _write_sheet(workbook, "claims", claims or [], japanese_headers)
        _write_sheet(workbook, "lines", lines or [], japanese_headers)
        workbook.save(month_folder / "claims.xlsx")
    return month_folder


def write_parquet_bordereau(
    folder: Path,
    month: str,
    policies: list[dict[str, Any]] | None = None,
    claims: list[dict[str, Any]] | None = None,
    lines: list[dict[str, Any]] | None = None,
) -> Path:
    """The same rows as :func:`write_bordereau`, as ``policies.parquet``, ``claims.parquet`` and
    ``lines.parquet`` (one file per sheet given), under the same headers. A column whose cells are of
    one type keeps it; a column mixing types becomes text (Parquet columns have one type)."""
    month_folder = Path(folder) / month
    month_folder.mkdir(parents=True, exist_ok=True)
    for sheet, rows in (("policies", policies), ("claims", claims), ("lines", lines)):
        if rows is None:
            continue
        columns = {}
        for name in _headers(sheet, rows):
            values = [row.get(name) for row in rows]
            kinds = {type(value) for value in values if value is not None}
            columns[name] = [None if v is None else str(v) for v in values] if len(kinds) > 1 else values
        pq.write_table(pa.table(columns), month_folder / f"{sheet}.parquet")
    return month_folder
