"""Columns every validated row carries: where it came from, so any figure traces back to a cell."""

from __future__ import annotations

import pandera.pandas as pa
from pandera.typing import Series

MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"


class Provenance(pa.DataFrameModel):
    """Where a row was read: bordereau month, file (relative to the input folder), sheet, Excel row."""

    bordereau_month: Series[str] = pa.Field(str_matches=MONTH_PATTERN)
    source_file: Series[str]
    source_sheet: Series[str]
    excel_row: Series[int] = pa.Field(ge=2)

    class Config:
        strict = False  # unknown input columns are carried through to the outputs
        coerce = True
