"""The Excel I/O floor of a run: the time the fastest reader available needs to read the run's input
workbooks and a writer needs to write the run's output cells, measured for two writers.

Reader: the faster of python-calamine (``CalamineWorkbook.from_path(p).get_sheet_by_name(s).to_python()``)
and fastexcel (``read_excel(p).load_sheet(s, header_row=None).to_arrow()``, when installed), both timed.
Writers, writing the very values the run wrote (read back with calamine beforehand, outside the
timing), sheet by sheet, same shapes:

- xlsxwriter in ``constant_memory`` mode, one ``write_row`` per row (the pure-Python floor);
- the Rust-backed writer (rvgsrust-xlsxwriter) in ``constant_memory`` mode, the header with
  ``write_row`` and the body with one ``write_dataframe`` of an Arrow table (a column of numbers as
  float64, of dates as date32, of booleans as bool, anything else as text; building the table is
  not timed). This is the floor of the format itself: no Python per cell.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import time
from collections.abc import Iterable, Iterator
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
    """Read every sheet of every workbook with calamine and with fastexcel (when installed); the
    faster one's record (seconds and cells, rows × columns), the other under ``alternatives``."""
    paths = list(paths)
    measured = [_read_calamine(paths)]
    with contextlib.suppress(ImportError):  # fastexcel is optional
        measured.append(_read_fastexcel(paths))
    fastest = min(measured, key=lambda record: record["seconds"])
    others = [{k: v for k, v in record.items() if k != "sheets"} for record in measured if record is not fastest]
    return {**fastest, "alternatives": others}


def _read_calamine(paths: list[Path]) -> dict[str, Any]:
    sheets: list[dict[str, Any]] = []
    clock = Clock()
    with clock.timing():
        for path in paths:
            workbook = CalamineWorkbook.from_path(str(path))
            for name in workbook.sheet_names:
                rows, columns = _shape(workbook.get_sheet_by_name(name).to_python())
                sheets.append({"file": str(path), "sheet": name, "rows": rows, "columns": columns})
    return _measured("python-calamine to_python", clock, sheets)


def _read_fastexcel(paths: list[Path]) -> dict[str, Any]:
    import fastexcel

    sheets: list[dict[str, Any]] = []
    clock = Clock()
    with clock.timing():
        for path in paths:
            reader = fastexcel.read_excel(str(path))
            for name in reader.sheet_names:
                batch = reader.load_sheet(name, header_row=None).to_arrow()
                shape = {"rows": batch.num_rows, "columns": batch.num_columns}
                sheets.append({"file": str(path), "sheet": name, **shape})
    return _measured("fastexcel to_arrow", clock, sheets)


class Clock:
    """Wall seconds and CPU seconds (this process, all its threads) of the blocks it times; on a
    shared machine the CPU seconds say what the work costs, the wall seconds what it took."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.cpu_seconds = 0.0

    @contextlib.contextmanager
    def timing(self) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - wall
            self.cpu_seconds += time.process_time() - cpu


def _measured(method: str, clock: Clock, sheets: list[dict[str, Any]]) -> dict[str, Any]:
    """How a floor part was measured: method, seconds (wall and CPU), files, cells (rows × columns)
    and its sheets."""
    return {
        "method": method,
        "seconds": round(clock.seconds, 3),
        "cpu_seconds": round(clock.cpu_seconds, 3),
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
    clock = Clock()
    for number, path in enumerate(outputs):
        source = CalamineWorkbook.from_path(str(path))
        target = scratch / f"{number:02d}-{Path(path).name}"
        with clock.timing():
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
        for name in source.sheet_names:
            rows = source.get_sheet_by_name(name).to_python()
            rows = [[_cell(value) for value in row] for row in rows]
            with clock.timing():
                worksheet = workbook.add_worksheet(name[:31])
                write_row = worksheet.write_row
                for index, row in enumerate(rows):
                    write_row(index, 0, row)
            count, columns = _shape(rows)
            sheets.append({"file": str(path), "sheet": name, "rows": count, "columns": columns})
            del rows
        with clock.timing():
            workbook.close()
    return _measured("xlsxwriter constant_memory write_row", clock, sheets)


def _cell(value: Any) -> Any:
    """A value read by calamine as xlsxwriter writes it: times of day and durations as text (they
    are rare in the outputs and xlsxwriter's ``write_row`` needs a format for them)."""
    if isinstance(value, dt.time | dt.timedelta):
        return str(value)
    return value


def rust_write_floor(outputs: Iterable[Path], scratch: Path) -> dict[str, Any]:
    """Write the cells of every sheet of every workbook in ``outputs`` again with the Rust-backed
    writer (``constant_memory``, the body as one Arrow table) into ``scratch``. Only the writing
    (adding the sheet, the header, the body and saving) is timed."""
    import pyarrow as pa
    import rvgsrust_xlsxwriter as rust

    scratch = Path(scratch)
    scratch.mkdir(parents=True, exist_ok=True)
    sheets: list[dict[str, Any]] = []
    clock = Clock()
    for number, path in enumerate(outputs):
        source = CalamineWorkbook.from_path(str(path))
        target = scratch / f"rust-{number:02d}-{Path(path).name}"
        with clock.timing():
            workbook = rust.Workbook()
        for name in source.sheet_names:
            rows = source.get_sheet_by_name(name).to_python()
            count, columns = _shape(rows)
            header = [str(_cell(value)) for value in rows[0]] if rows else []
            body = _arrow_body(rows[1:], columns, pa)
            del rows
            with clock.timing():
                worksheet = workbook.add_worksheet(name[:31], constant_memory=True)
                worksheet.write_row(0, 0, header)
                if body.num_rows:
                    worksheet.write_dataframe(1, 0, body, write_header=False)
            sheets.append({"file": str(path), "sheet": name, "rows": count, "columns": columns})
            del body
        with clock.timing():
            workbook.close(str(target))
    return _measured("rvgsrust-xlsxwriter constant_memory write_dataframe", clock, sheets)


def _arrow_body(rows: list[list[Any]], columns: int, pa: Any) -> Any:
    """The rows under the header as an Arrow table, one typed column per sheet column."""
    arrays = []
    for index in range(columns):
        values = [row[index] if index < len(row) else "" for row in rows]
        present = [value for value in values if value != ""]
        cells = [None if value == "" else value for value in values]
        if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
            arrays.append(pa.array(cells, type=pa.float64()))
        elif present and all(isinstance(v, bool) for v in present):
            arrays.append(pa.array(cells, type=pa.bool_()))
        elif present and all(isinstance(v, dt.date) for v in present):
            arrays.append(pa.array([v.date() if isinstance(v, dt.datetime) else v for v in cells], pa.date32()))
        else:
            arrays.append(pa.array([None if v is None else str(_cell(v)) for v in cells], type=pa.string()))
    return pa.table(arrays, names=[f"c{index}" for index in range(columns)])


def floor(inputs: list[Path], outputs: list[Path], scratch: Path) -> dict[str, Any]:
    """Read floor + write floors of one run (seconds add up: a run must both read and write):
    ``seconds`` with the xlsxwriter write floor, ``rust_seconds`` with the Rust-backed one."""
    read = read_floor(inputs)
    write = write_floor(outputs, scratch)
    rust_write: dict[str, Any]
    try:
        rust_write = rust_write_floor(outputs, scratch)
    except ImportError as error:
        rust_write = {"method": "rvgsrust-xlsxwriter", "error": f"not installed: {error}"}
    measured = "seconds" in rust_write
    return {
        "seconds": round(read["seconds"] + write["seconds"], 3),
        "cpu_seconds": round(read["cpu_seconds"] + write["cpu_seconds"], 3),
        "rust_seconds": round(read["seconds"] + rust_write["seconds"], 3) if measured else None,
        "rust_cpu_seconds": round(read["cpu_seconds"] + rust_write["cpu_seconds"], 3) if measured else None,
        "read": read,
        "write": write,
        "rust_write": rust_write,
    }
