"""Round trip: every sheet of every workbook a run writes reads back (python-calamine) equal to the
frame the run held in memory (``RunResult.sheets``: file -> sheets written), cell by cell: numbers
as numbers, dates as dates, booleans as booleans, text as text — including text that looks like a
formula, an escape (``_x0041_``), control characters and text longer than a cell (cut visibly). The
run writes with the Rust-backed writer; the xlsxwriter fallback writes the same values."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from python_calamine import CalamineWorkbook

from pipeline.io.workbook import (
    NUMERIC_KINDS,
    WRITER_VARIABLE,
    Sheet,
    _unique_headers,
    column_kind,
    excel_text,
    write_workbook,
)
from pipeline.run import RunResult, run_month
from tests.commands import ROOT
from tests.helpers import sheets_made_here
from tests.hostile.corpus import LITE, MONTH, WIDE, table, write_xlsxwriter

SAMPLE = ROOT / "sample_data" / "tokyo-agency"  # one cover-holder: ids as sent


def expected_cells(series: pd.Series, kind: str) -> list[Any]:
    """What a column should read back as, from the frame alone (empty cell: '')."""
    out: list[Any] = []
    for value in series.astype(object).tolist():
        if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
            out.append("")
        elif kind in NUMERIC_KINDS:
            number = float(value)
            out.append(number if math.isfinite(number) else "")
        elif kind == "date":
            out.append(pd.Timestamp(value).date())
        elif kind == "bool":
            out.append(bool(value))
        else:
            text = str(pd.Series([value], dtype=object).astype("string").iloc[0])
            out.append(excel_text(text) if text else "")
    return out


def same(expected: Any, actual: Any) -> bool:
    """Equal; whole numbers (every yen amount and count) exactly, other floats to the 16 significant
    digits xlsxwriter writes (``%.16g``: the last binary digit of a ratio may differ)."""
    if isinstance(expected, float) and isinstance(actual, float) and not expected.is_integer():
        return math.isclose(expected, actual, rel_tol=1e-15, abs_tol=0.0)
    return type(expected) is type(actual) and expected == actual


def differing_cells(one: list[list[Any]], two: list[list[Any]]) -> list[tuple[int, int, Any, Any]]:
    """Cells (row, column, one, two) where two read-backs of a sheet differ (:func:`same`: a ratio
    may differ in its last binary digit, xlsxwriter writing 16 significant digits and the Rust writer
    the exact float); a different shape counts as a difference at its first row."""
    if len(one) != len(two) or any(len(a) != len(b) for a, b in zip(one, two, strict=True)):
        return [(0, 0, len(one), len(two))]
    return [
        (r, c, a, b)
        for r, (row_one, row_two) in enumerate(zip(one, two, strict=True))
        for c, (a, b) in enumerate(zip(row_one, row_two, strict=True))
        if not same(a, b)
    ]


def read_back(cell: Any) -> Any:
    return cell.date() if isinstance(cell, dt.datetime) else cell


def assert_sheet_round_trips(rows: list[list[Any]], sheet: Sheet, where: str) -> None:
    frame = sheet.frame
    columns = [c for c in frame.columns if c != sheet.row_kind]
    headers = _unique_headers([str((sheet.headers or {}).get(str(c), c)) for c in columns])
    assert rows[0][: len(columns)] == headers, where
    body = [row[: len(columns)] for row in rows[1:]]
    while body and len(body) > len(frame) and all(cell == "" for cell in body[-1]):
        body.pop()  # an empty table keeps one blank row
    assert len(body) == len(frame), where
    for number, column in enumerate(columns):
        kind = column_kind(str(column), frame[column], sheet.kinds)
        expected = expected_cells(frame[column], kind)
        actual = [read_back(row[number]) for row in body]
        mismatches = [(i + 2, e, a) for i, (e, a) in enumerate(zip(expected, actual, strict=True)) if not same(e, a)]
        assert not mismatches, f"{where} column {column!r} ({kind}): (excel row, expected, read) {mismatches[:5]}"


def assert_outputs_round_trip(result: RunResult) -> int:
    written = sorted(path.name for path in result.output_folder.glob("*.xlsx"))
    assert written == sorted(result.sheets), "every workbook written is in RunResult.sheets and vice versa"
    checked = 0
    for name in written:
        workbook = CalamineWorkbook.from_path(str(result.output_folder / name))
        sheets = sheets_made_here(result, name)
        assert workbook.sheet_names == [sheet.name for sheet in sheets], name
        for sheet in sheets:
            rows = workbook.get_sheet_by_name(sheet.name).to_python(skip_empty_area=False)
            assert_sheet_round_trips(rows, sheet, f"{name}/{sheet.name}")
            checked += 1
    return checked


def _openpyxl_values(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Cell values as openpyxl reads them; a whole number as an int (openpyxl gives the Rust writer's
    ``1234.0`` as a float and xlsxwriter's ``1234`` as an int: the same number)."""

    def whole(value: Any) -> Any:
        return int(value) if isinstance(value, float) and value.is_integer() else value

    book = openpyxl.load_workbook(path, read_only=True)
    try:
        return {ws.title: [tuple(map(whole, row)) for row in ws.iter_rows(values_only=True)] for ws in book.worksheets}
    finally:
        book.close()


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_sample_outputs_read_back_equal_to_the_run(tmp_path, lang, monkeypatch):
    monkeypatch.delenv(WRITER_VARIABLE, raising=False)  # the default: the Rust-backed writer
    result = run_month(SAMPLE, "2026-06", tmp_path / "out", lang=lang)
    assert not result.rejected.empty
    assert assert_outputs_round_trip(result) >= 5
    # The xlsxwriter fallback writes the same values, read by calamine and by openpyxl.
    fallback = tmp_path / "xlsxwriter"
    fallback.mkdir()
    for name, sheets in result.sheets.items():
        assert write_workbook(fallback / name, sheets, backend="xlsxwriter") == "xlsxwriter"
        written = result.output_folder / name
        one, two = CalamineWorkbook.from_path(str(written)), CalamineWorkbook.from_path(str(fallback / name))
        assert one.sheet_names == two.sheet_names, name
        for sheet in one.sheet_names:
            rows = one.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
            other = two.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
            assert not differing_cells(rows, other), f"{name}/{sheet}: {differing_cells(rows, other)[:5]}"
        by_openpyxl = _openpyxl_values(written), _openpyxl_values(fallback / name)
        assert by_openpyxl[0].keys() == by_openpyxl[1].keys(), name
        for sheet, rows in by_openpyxl[0].items():
            listed = [list(row) for row in rows], [list(row) for row in by_openpyxl[1][sheet]]
            assert not differing_cells(*listed), f"{name}/{sheet} (openpyxl): {differing_cells(*listed)[:5]}"


def test_awkward_text_reads_back_equal(tmp_path):
    awkward = ["=1+1", "_x0041_", "tab\there", "ctrl\x01char", "y" * 40_000, " ", "'quoted", "１２３", "TRUE", "1001"]
    policies = [
        {**WIDE, "policy_id": f"P{i}", "memo": text, "注記\x02": text} for i, text in enumerate(awkward, start=1)
    ]
    policies.append({**LITE, "policy_id": 1001, "insured_name": '=HYPERLINK("http://x")'})
    policies.append({**WIDE, "policy_id": "BAD", "revenue": "=SUM(A1)", "plan": "ctrl\x07"})
    columns = list(dict.fromkeys(key for row in policies for key in row))
    write_xlsxwriter(tmp_path / "in" / MONTH / "policies.xlsx", {"policies": table(columns, policies)})
    result = run_month(tmp_path / "in", MONTH, tmp_path / "out")
    assert set(result.rejected["row"]) == {len(policies) + 1}
    assert assert_outputs_round_trip(result) >= 5
    # a control character in a carried-through header once made the table XML invalid: strict readers
    # (openpyxl, Excel) refused or "repaired" the file
    for path in result.output_folder.glob("*.xlsx"):
        openpyxl.load_workbook(path, read_only=True).close()
