"""The Excel I/O floor of a run: the time the fastest reader available needs to read the run's input
workbooks and the fastest writer available needs to write the run's output cells.

Reader: python-calamine, ``CalamineWorkbook.from_path(p).get_sheet_by_name(s).to_python()``.
Writer: xlsxwriter in ``constant_memory`` mode, one ``write_row`` per row, writing the very values the
run wrote (read back with calamine beforehand, outside the timing), sheet by sheet, same shapes.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import xlsxwriter
from python_calamine import CalamineWorkbook

MONTH_FOLDER = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def input_workbooks(book: Path, month: str) -> list[Path]:
    """The workbooks a run as at ``month`` reads: every ``*.xlsx`` of every month folder up to it."""
    folders = sorted(p for p in Path(book).iterdir() if p.is_dir() and MONTH_FOLDER.match(p.name))
    return [path for folder in folders if folder.name <= month for path in sorted(folder.glob("*.xlsx"))]


def _shape(rows: list[list[Any]]) -> tuple[int, int]:
    return len(rows), max((len(row) for row in rows), default=0)


def read_floor(paths: Iterable[Path]) -> dict[str, Any]:
    """Read every sheet of every workbook with calamine; seconds and cells (rows × columns)."""
    sheets: list[dict[str, Any]] = []
    started = time.perf_counter()
    for path in paths:
        workbook = CalamineWorkbook.from_path(str(path))
        for name in workbook.sheet_names:
            rows, columns = _shape(workbook.get_sheet_by_name(name).to_python())
            sheets.append({"file": str(path), "sheet": name, "rows": rows, "columns": columns})
    return _measured("python-calamine to_python", time.perf_counter() - started, sheets)


def _measured(method: str, seconds: float, sheets: list[dict[str, Any]]) -> dict[str, Any]:
    """How a floor part was measured: method, seconds, files, cells (rows × columns) and its sheets."""
    return {
        "method": method,
        "seconds": round(seconds, 3),
        "files": len({sheet["file"] for sheet in sheets}),
        "cells": sum(sheet["rows"] * sheet["columns"] for sheet in sheets),
        "sheets": sheets,
    }


def write_floor(outputs: Iterable[Path], scratch: Path) -> dict[str, Any]:
    """Write the cells of every sheet of every workbook in ``outputs`` again with xlsxwriter
    (``constant_memory``, ``write_row``) into ``scratch``. Only the writing (adding the sheet, the
    rows and closing the workbook) is timed; reading the values back is not."""
    scratch = Path(scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    sheets: list[dict[str, Any]] = []
    seconds = 0.0
    for number, path in enumerate(outputs):
        source = CalamineWorkbook.from_path(str(path))
        target = scratch / f"{number:02d}-{Path(path).name}"
        started = time.perf_counter()
        workbook = xlsxwriter.Workbook(
            str(target),
            {
                "constant_memory": True,
                "strings_to_numbers": False,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "default_date_format": "yyyy-mm-dd",
            },
        )
        seconds += time.perf_counter() - started
        for name in source.sheet_names:
            rows = source.get_sheet_by_name(name).to_python()
            rows = [[_cell(value) for value in row] for row in rows]
            started = time.perf_counter()
            worksheet = workbook.add_worksheet(name[:31])
            write_row = worksheet.write_row
            for index, row in enumerate(rows):
                write_row(index, 0, row)
            seconds += time.perf_counter() - started
            count, columns = _shape(rows)
            sheets.append({"file": str(path), "sheet": name, "rows": count, "columns": columns})
            del rows
        started = time.perf_counter()
        workbook.close()
        seconds += time.perf_counter() - started
    return _measured("xlsxwriter constant_memory write_row", seconds, sheets)


def _cell(value: Any) -> Any:
    """A value read by calamine as xlsxwriter writes it: times of day and durations as text (they
    are rare in the outputs and xlsxwriter's ``write_row`` needs a format for them)."""
    if isinstance(value, dt.time | dt.timedelta):
        return str(value)
    return value


def floor(inputs: list[Path], outputs: list[Path], scratch: Path) -> dict[str, Any]:
    """Read floor + write floor of one run (seconds add up: a run must both read and write)."""
    read = read_floor(inputs)
    write = write_floor(outputs, scratch)
    return {"seconds": round(read["seconds"] + write["seconds"], 3), "read": read, "write": write}
