"""Write bordereau workbooks the way a cedent's system would: xlsxwriter in ``constant_memory`` mode,
rows written one by one, yen as numbers formatted ``#,##0``, dates as real Excel dates, and fixed
document properties so that the same cells always give the same bytes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import xlsxwriter

YEN_FORMAT = "#,##0"
DATE_FORMAT = "yyyy/mm/dd"


class Raw(float):
    """A number written with no number format (an Excel serial typed into a General cell)."""

    __slots__ = ()


@dataclass
class SheetCells:
    """One sheet: header texts, per-column kinds (``yen``, ``date``, others plain) and cell columns.

    A cell is ``None`` (empty), ``str``, ``bool``, ``int``/``float`` (a number in the column's format)
    or :class:`Raw`. Date columns hold Excel serials."""

    name: str
    headers: list[str]
    kinds: list[str]
    columns: list[list[object]]
    title: str | None = None  # a title row above the headers (a cover-holder's layout, LAYOUTS.md)

    @property
    def rows(self) -> int:
        return len(self.columns[0]) if self.columns else 0


def write_workbook(path: Path, sheets: Sequence[SheetCells], created: dt.datetime) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = xlsxwriter.Workbook(
        str(path),
        {"constant_memory": True, "strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False},
    )
    workbook.set_properties(
        {"title": path.stem, "author": "cyber-bordereaux sample generator", "company": "", "created": created}
    )
    header_format = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    formats = {
        "yen": workbook.add_format({"num_format": YEN_FORMAT}),
        "date": workbook.add_format({"num_format": DATE_FORMAT}),
    }
    for sheet in sheets:
        worksheet = workbook.add_worksheet(sheet.name)
        cell_formats = [formats.get(kind) for kind in sheet.kinds]
        for col, header in enumerate(sheet.headers):
            worksheet.set_column(col, col, max(12, 2 * len(header.strip()) + 2))
        top = 0
        if sheet.title is not None:
            worksheet.write_string(0, 0, sheet.title, workbook.add_format({"bold": True, "font_size": 14}))
            top = 1
        worksheet.freeze_panes(top + 1, 0)
        for col, header in enumerate(sheet.headers):
            worksheet.write_string(top, col, header, header_format)
        _write_rows(worksheet, sheet, cell_formats, top + 1)
    workbook.close()


def _write_rows(worksheet: object, sheet: SheetCells, cell_formats: list[object], first_row: int = 1) -> None:
    write_string = worksheet.write_string  # type: ignore[attr-defined]
    write_number = worksheet.write_number  # type: ignore[attr-defined]
    write_boolean = worksheet.write_boolean  # type: ignore[attr-defined]
    columns = list(enumerate(zip(sheet.columns, cell_formats, strict=True)))
    for row in range(sheet.rows):
        excel_row = row + first_row
        for col, (values, cell_format) in columns:
            value = values[row]
            if value is None:
                continue
            kind = type(value)
            if kind is str:
                write_string(excel_row, col, value)
            elif kind is int or kind is float:
                write_number(excel_row, col, value, cell_format)
            elif kind is bool:
                write_boolean(excel_row, col, value)
            elif kind is Raw:
                write_number(excel_row, col, float(value))  # type: ignore[arg-type]
            else:
                raise TypeError(f"cannot write {value!r} to {sheet.name} row {excel_row}")
