"""The tables that reading (``pipeline/io/``) and the stages (``pipeline/stages/``) both speak of, so
that neither layer imports the other for them: a sheet as read (``RawSheet``), a sheet after the
checks of one row at a time (``RowChecked``), one month's validated outcome (``MonthValidated``, what
the parse cache stores), and the column names the pipeline puts on rows (``EXCEL_ROW``,
``RESERVED_COLUMNS``, ``STAGE_COLUMNS``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.cell_columns import PackedFrame, packed_frame, unpacked_frame, unpacked_rows, unpacked_series
from schemas.claims import ClaimTotals
from schemas.lines import LineAdjudicated
from schemas.policies import PolicyAccounted

EXCEL_ROW = "excel_row"
# Names the pipeline adds to every row; an input column of the same name is renamed on reading.
RESERVED_COLUMNS = ("bordereau_month", "source_file", "source_sheet", EXCEL_ROW, "first_month", "coverholder")
# Columns the stages add (the computed schemas, and the context the claims stage puts on lines): an
# unknown input column of the same name would be overwritten, so it is carried as "<name> (input)".
STAGE_COLUMNS = frozenset(
    column
    for model in (PolicyAccounted, ClaimTotals, LineAdjudicated)
    for column in model.to_schema().columns
    if column not in RESERVED_COLUMNS
) | {"policy_id", "product", "plan", "series", "part", "item_number"}


@dataclass(frozen=True)
class RawSheet:
    """One sheet of one month as read: ``cells`` holds the canonical columns (in ``columns.toml``
    order), then the unknown ``extra_columns``, then ``excel_row``; cells are raw python values.
    A sheet sent from another process (a forked reader, a Dask worker) keeps its cells packed as
    Arrow columns (``pipeline.cell_columns``) until they are asked for: ``frame`` unpacks them all
    (once), ``rows_at`` only the rows it is given, so that the run's process, which needs the cells
    of the rows it rejects only, never holds a month's cells as Python objects."""

    month: str
    file: str  # relative to the input folder, e.g. "2026-04/claims.xlsx"
    sheet: str
    cells: pd.DataFrame | PackedFrame = field(repr=False)
    extra_columns: tuple[str, ...] = ()
    # the worksheet's name as the cover-holder named it, where it differs (a layout's sheet)
    sheet_as_named: str = ""
    # column -> the header as written in the file, where it differs (LAYOUTS.md: rejected.xlsx shows it)
    headers: tuple[tuple[str, str], ...] = ()
    # a cover-holder's extra date spellings and thousands separator (LAYOUTS.md [formats]), for parsing
    date_formats: tuple[str, ...] = ()
    thousands_separator: str = ","
    # a mapped column's cells as typed, before the layout's value map (rejected.xlsx shows them)
    typed: Mapping[str, pd.Series] = field(default_factory=dict, repr=False)
    # a Parquet sheet's columns as Arrow holds them, the rows of ``cells`` in their order, for
    # parsing without a Python object per cell (pipeline.parse.parsed_arrow) and for sending its cells
    # (pickled, they are its packed cells: pipeline.cell_columns.packed_frame); a sheet made from
    # another with other cells must not keep them
    arrow: Mapping[str, pa.ChunkedArray] = field(default_factory=dict, repr=False)

    @cached_property
    def frame(self) -> pd.DataFrame:
        """Every cell of the sheet, a frame (cells that came packed unpacked here, once)."""
        return self.cells if isinstance(self.cells, pd.DataFrame) else unpacked_frame(self.cells)

    @property
    def _unpacked(self) -> bool:
        """Whether every cell is a frame already (read in this process, or ``frame`` asked for)."""
        return isinstance(self.cells, pd.DataFrame) or "frame" in self.__dict__

    @property
    def index(self) -> pd.Index:
        """The sheet's row labels (the labels of its failures)."""
        return self.cells.index

    @property
    def columns(self) -> pd.Index:
        return self.cells.columns

    def rows_at(self, positions: np.ndarray) -> pd.DataFrame:
        """The rows at ``positions``, as ``frame.iloc[positions]`` gives them; of cells still packed
        only those rows are unpacked."""
        if self._unpacked:
            return self.frame.iloc[positions]
        assert isinstance(self.cells, PackedFrame)
        return unpacked_rows(self.cells, positions)

    def column(self, name: str) -> pd.Series:
        """One column's cells, as ``frame[name]`` gives them; of cells still packed only that column
        is unpacked."""
        if self._unpacked:
            return self.frame[name]
        assert isinstance(self.cells, PackedFrame)
        return unpacked_series(self.cells, name)

    @property
    def rows_read(self) -> int:
        return len(self.cells.index)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled with its cells packed as Arrow columns (``pipeline.cell_columns``): a forked
        reader or a Dask worker sends each sheet it read back several times faster, and the process
        that receives it keeps them packed (``frame``, ``rows_at``)."""
        others = {item.name: getattr(self, item.name) for item in fields(self) if item.name not in ("cells", "arrow")}
        packed = self.cells if isinstance(self.cells, PackedFrame) else packed_frame(self.cells, self.arrow)
        return (_raw_sheet_packed, (packed, others))


def _raw_sheet_packed(cells: PackedFrame, others: dict[str, Any]) -> RawSheet:
    return RawSheet(cells=cells, **others)


@dataclass(frozen=True)
class RowChecked:
    """One sheet after every check that looks at one row and the product data only
    (``pipeline.stages.validate.row_checked``, run where the sheet is read): the sheet as read
    (``raw``), its parsed ``frame`` (defaults applied), the ``parse_failures`` of its cells and the
    ``row_failures`` of the table's ``*Parsed`` model and row rules on the cells that parsed (frames
    of ``pipeline.stages.rejections.FAILURE_COLUMNS``, index = row label in ``raw.frame``)."""

    raw: RawSheet
    frame: pd.DataFrame = field(repr=False)
    parse_failures: pd.DataFrame = field(repr=False)
    row_failures: pd.DataFrame = field(repr=False)


@dataclass(frozen=True)
class MonthValidated:
    """One month's outcome, all that later months and the run need of it (and what the parse cache
    stores): the valid rows it added (PolicyValid, ClaimValid, LineValid), its rejected rows, its
    counts per sheet (records of COUNT_COLUMNS) and the policy and claim ids it rejected."""

    month: str
    policies: pd.DataFrame
    claims: pd.DataFrame
    lines: pd.DataFrame
    rejected: pd.DataFrame
    counts: list[dict[str, object]]
    rejected_policies: frozenset[str]
    rejected_claims: frozenset[str]
