"""Write formatted xlsx workbooks for people: numbers as numbers, yen as ``#,##0``, dates as dates,
frozen header row, filters. The one place that turns frames into Excel files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import xlsxwriter

YEN_FORMAT = "#,##0"
DATE_FORMAT = "yyyy-mm-dd"


@dataclass(frozen=True)
class Sheet:
    """One sheet to write: its name and frame, in column order."""

    name: str
    frame: pd.DataFrame


def _cell(value: object) -> object:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and value != value:
        return None
    return value


def write_workbook(path: Path, sheets: Sequence[Sheet]) -> None:
    """Write ``sheets`` to ``path``. Integer columns get ``#,##0``, datetime columns a date format."""
    workbook = xlsxwriter.Workbook(str(path), {"remove_timezone": True})
    header = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    yen = workbook.add_format({"num_format": YEN_FORMAT})
    date = workbook.add_format({"num_format": DATE_FORMAT})
    for sheet in sheets:
        worksheet = workbook.add_worksheet(sheet.name)
        frame = sheet.frame
        for col, name in enumerate(frame.columns):
            worksheet.write_string(0, col, str(name), header)
            series = frame[name]
            if pd.api.types.is_bool_dtype(series):
                cell_format = None
            elif pd.api.types.is_integer_dtype(series):
                cell_format = yen
            elif pd.api.types.is_datetime64_any_dtype(series):
                cell_format = date
            else:
                cell_format = None
            width = max(len(str(name)) + 2, 10)
            worksheet.set_column(col, col, width, cell_format)
            for row, value in enumerate(series.tolist(), start=1):
                value = _cell(value)
                if value is None:
                    continue
                if isinstance(value, pd.Timestamp):
                    worksheet.write_datetime(row, col, value.to_pydatetime(), date)
                else:
                    worksheet.write(row, col, value)
        worksheet.freeze_panes(1, 0)
        if len(frame.columns):
            worksheet.autofilter(0, 0, max(len(frame), 1), len(frame.columns) - 1)
    workbook.close()
