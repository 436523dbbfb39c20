"""Write formatted xlsx workbooks for people: the one place that turns frames into Excel files.

Every cell is typed: yen and counts are numbers (``#,##0``), dates are dates (``yyyy-mm-dd``),
shares are percentages (``0.0%``), codes and ids are text (a policy id ``1001`` stays text, a value
starting with ``=`` is never a formula). Each sheet is an Excel table (filter buttons, banded rows)
with a frozen header row and column widths from the header and the content, capped. A sheet may
ask for native Excel charts over its own columns.

A column's kind is decided in one place, :func:`column_kind`: an explicit ``Sheet.kinds`` entry,
else the name registry :data:`COLUMN_KINDS` and its suffix rules, else the dtype (integers are yen,
the project's most common integer). Formats are set once per column (``set_column``), so no cell
carries its own format object.

Two back ends apply these rules, decided once per sheet in a :class:`SheetPlan` (columns, kinds,
headers, widths, header height, table name, print fit) with the cell values of
:func:`typed_column`: the Rust-backed writer (:mod:`pipeline.io.workbook_rust`, the default: each
sheet goes to Rust as Arrow columns in one call) and xlsxwriter (here; the fallback, chosen with
``PIPELINE_XLSX_WRITER=xlsxwriter`` or ``backend=``). Both give the same values, formats, layout
and charts (tests/unit/test_workbook.py compares them).

Speed (xlsxwriter is pure Python, ~200k cells/s on this machine; the Rust writer 4–6 × faster):
values are converted column by column with pandas, then written with the typed
``write_number``/``write_string``/... methods. A workbook beyond ``constant_memory_cells`` cells is
written in ``constant_memory`` mode (rows in order, memory flat instead of ~250 bytes per cell);
that mode cannot make Excel tables, so its sheets get an autofilter, a styled header and banding by
conditional format instead. Measured on 100,000 lines × 27 columns with xlsxwriter: table mode
22.3 s and 875 MB, constant_memory 14.4 s and 315 MB; the threshold (1,000,000 cells) keeps tables
for the summary and for small books.

Every workbook says what it is (:class:`Document`): title, subject, keywords and author in the
document properties, and on every printed page a header (workbook, sheet, as-at month) and a
footer (page n of N). Every sheet prints A4 landscape, one page wide, its header row repeated.

Widths are display widths (:func:`display_width`: a full-width or wide character counts two, as
``unicodedata.east_asian_width`` says), so Japanese headers fit; a text column whose content is
wider than the cap wraps instead of running under its neighbour.

Reproducible: the same frames give the same bytes. The document's created date is the
``Document.created`` given (the as-at date of a run; :data:`DOCUMENT_CREATED` without one), never
the clock (both writers would stamp the current time); zip members carry the writers' fixed 1980
timestamps, and sheets and rows are written in
the order given. Text longer than an Excel cell holds (32,767 characters) is cut visibly, by
:func:`excel_text`, never silently.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
import xlsxwriter
from xlsxwriter.worksheet import Worksheet

from pipeline.errors import FatalInputError

YEN_FORMAT = "#,##0"
DATE_FORMAT = "yyyy-mm-dd"
PERCENT_FORMAT = "0.0%"
MONTH_FORMAT = "yyyy-mm"

Kind = Literal["money", "count", "integer", "percent", "decimal", "factor", "date", "bool", "text"]
NUMBER_FORMATS: dict[str, str] = {
    "money": YEN_FORMAT,
    "count": YEN_FORMAT,
    "integer": "0",
    "percent": PERCENT_FORMAT,
    "decimal": "#,##0.00",
    "factor": "0.0000",  # development factors (reserves, #13)
    "date": DATE_FORMAT,
}
NUMERIC_KINDS = frozenset({"money", "count", "integer", "percent", "decimal", "factor"})

#: Columns whose kind the dtype alone would get wrong (integers that are not yen, shares).
COLUMN_KINDS: dict[str, Kind] = {
    "excel_row": "integer",
    "row": "integer",
    "item_number": "integer",
    "cover_months": "integer",
    "development_age": "integer",
    "rank": "integer",
    "victims": "count",
    "policies": "count",
    "policies_in_force": "count",
    "claims": "count",
    "lines": "count",
    "referrals": "count",
    "rows_read": "count",
    "rows_processed": "count",
    "rows_rejected": "count",
    "loss_ratio": "percent",
    "layer_used_share": "percent",
    "cdf": "factor",
    "age_to_age_factor": "factor",
    "cumulative_factor": "factor",
    "link_ratios": "count",
}
_SUFFIX_KINDS: tuple[tuple[str, Kind], ...] = (
    ("_count", "count"),
    ("_share", "percent"),
    ("_ratio", "percent"),
)

TABLE_STYLE = "Table Style Medium 2"
HEADER_STYLE = {"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True, "valign": "top"}
WRAP_STYLE = {"text_wrap": True, "valign": "top"}
TOP_STYLE = {"valign": "top"}
"""The other cells of a sheet with rows made taller by wrapped text sit at the top of their row, level
with the first line of the wrapped text (not at the bottom, Excel's default)."""
MAX_WIDTH = 48
MIN_WIDTH = 6
ROW_HEIGHT = 15  # points of one line of text
MAX_WRAPPED_LINES = 12  # a wrapped cell shows at most this many lines (the rest stays in the cell)
PAPER_A4 = 9
WIDTH_SAMPLE = 20_000
DEFAULT_CONSTANT_MEMORY_CELLS = 1_000_000  # 100k x 27 cells: table 22.3 s / 875 MB, constant_memory 14.4 s / 315 MB
BAND_FILL = "#EEF3FA"
BAND_RULE = "=MOD(ROW(),2)=0"  # banding without a table: every other row
_EXCEL_EPOCH = pd.Timestamp("1899-12-30")
DOCUMENT_CREATED = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # fixed, so that reruns give identical bytes
MAX_CELL_CHARS = 32_767  # Excel's limit for the text of one cell
MAX_HEADER_CHARS = 255  # Excel's limit for a table column name
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NARROW = re.compile(r"[\x00-\u10ff]*")  # below U+1100 nothing is east-asian wide or full-width


@dataclass(frozen=True)
class Document:
    """What a workbook says about itself: its document properties and the header and footer of
    every printed page.

    ``created`` is the document's created date (a run gives its as-at date, so that reruns give the
    same bytes). ``header`` holds the left, centre and right texts of the page header; a ``{sheet}``
    in them is the sheet's name. ``footer`` likewise, with ``{page}`` and ``{pages}``.
    """

    title: str
    subject: str = ""
    keywords: str = ""
    author: str = ""
    comments: str = ""
    created: dt.datetime = DOCUMENT_CREATED
    header: tuple[str, str, str] = ("", "{sheet}", "")
    footer: tuple[str, str, str] = ("", "{page} / {pages}", "")


def _page_text(parts: tuple[str, str, str]) -> str:
    """An Excel page header/footer: ``&L…&C…&R…`` with ``&`` escaped and the fields as codes."""
    codes = {"sheet": "&A", "page": "&P", "pages": "&N"}
    shown = []
    for section, text in zip(("&L", "&C", "&R"), parts, strict=True):
        if text:
            escaped = text.replace("&", "&&").replace("{", "{{").replace("}", "}}")
            escaped = re.sub(r"\{\{(sheet|page|pages)\}\}", r"{\1}", escaped)
            shown.append(section + escaped.format(**codes))
    return "".join(shown)


@dataclass(frozen=True)
class Chart:
    """A native Excel chart over columns of its sheet: one series per ``values`` column.

    ``categories`` is one column, or adjacent columns for a two-level axis (product, band).
    ``kind`` is an xlsxwriter chart type (``column``, ``bar``, ``line``, ``pie``). ``anchor`` is the
    top-left cell; by default the chart sits below the table, on a new printed page. ``rows`` limits
    the chart to the frame's rows ``first`` to ``last`` (0-based, inclusive), e.g. one product's.
    ``number_format`` formats the value axis (``#,##0,,`` shows millions). Axis labels are never
    rotated: long category names belong on a bar chart's vertical axis.
    """

    title: str
    categories: str | tuple[str, ...]
    values: tuple[str, ...]
    kind: str = "column"
    category_title: str = ""
    value_title: str = ""
    anchor: str | None = None
    width: int = 720
    height: int = 400
    number_format: str = YEN_FORMAT
    rows: tuple[int, int] | None = None


@dataclass(frozen=True)
class Sheet:
    """One sheet to write: its name and frame (canonical column names, in column order).

    ``headers`` gives display names (e.g. Japanese) by column, ``kinds`` overrides the kind of a
    column, ``row_kind`` names a column holding each row's kind for its numeric cells (for a
    figure list mixing yen, counts and shares; that column is not written). ``freeze_columns``
    freezes id columns on the left as well as the header row.
    """

    name: str
    frame: pd.DataFrame
    headers: Mapping[str, str] | None = None
    kinds: Mapping[str, str] | None = None
    row_kind: str | None = None
    charts: tuple[Chart, ...] = ()
    freeze_columns: int = 0
    widths: Mapping[str, float] = field(default_factory=dict)


def column_kind(name: str, series: pd.Series, kinds: Mapping[str, str] | None = None) -> str:
    """The kind of a column: explicit, else by name (registry, then suffix), else by dtype."""
    if kinds and name in kinds:
        return kinds[name]
    if name in COLUMN_KINDS:
        return COLUMN_KINDS[name]
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "date"
    for suffix, kind in _SUFFIX_KINDS:
        if name.endswith(suffix):
            return kind
    if pd.api.types.is_integer_dtype(dtype):
        return "money"
    if pd.api.types.is_float_dtype(dtype):
        return "decimal"
    if pd.api.types.is_object_dtype(dtype):
        sample = series.dropna()
        if (
            len(sample)
            and sample.map(lambda v: isinstance(v, int | float | np.number) and not isinstance(v, bool)).all()
        ):
            return "money" if sample.map(lambda v: float(v).is_integer()).all() else "decimal"
    return "text"


def typed_column(series: pd.Series, kind: str) -> pd.Series:
    """A column as written, for either back end: dates as Excel serial numbers (float, NaN for an
    empty cell), numbers with non-finite values emptied, booleans as ``boolean``, text as ``string``
    with ``""`` emptied and over-long text cut (:func:`excel_text`)."""
    if kind == "date":
        dates = pd.to_datetime(series, errors="coerce")
        return (dates - _EXCEL_EPOCH) / pd.Timedelta(days=1)
    if kind in NUMERIC_KINDS:
        numbers = series if pd.api.types.is_numeric_dtype(series.dtype) else pd.to_numeric(series, errors="coerce")
        if pd.api.types.is_float_dtype(numbers.dtype):
            numbers = numbers.where(np.isfinite(numbers.astype("float64")))
        return numbers
    if kind == "bool":
        return series.astype("boolean")
    text = series.astype("string")
    text = text.mask(text == "")
    long = (text.str.len() > MAX_CELL_CHARS).fillna(False)
    if long.any():
        text = text.where(~long, text[long].map(excel_text))
    return text


def _values(series: pd.Series, kind: str) -> list[Any]:
    """Python values ready for xlsxwriter, ``None`` for an empty cell."""
    return _objects(typed_column(series, kind))


def excel_text(text: str) -> str:
    """``text`` as written to a cell: as is, or cut to Excel's cell limit with a visible note."""
    if len(text) <= MAX_CELL_CHARS:
        return text
    note = f"… [cut: {len(text):,} characters]"
    return text[: MAX_CELL_CHARS - len(note)] + note


def _objects(series: pd.Series) -> list[Any]:
    """Python objects, ``None`` for an empty cell."""
    return list(series.to_numpy(dtype=object, na_value=None))  # type: ignore[call-overload]


@lru_cache(maxsize=4096)
def _wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def display_width(text: str) -> int:
    """Columns ``text`` takes on screen: a wide or full-width character (``unicodedata.east_asian_width``
    W or F: kanji, kana, full-width letters) counts two, any other one."""
    narrow = _NARROW.match(text)
    if narrow is not None and narrow.end() == len(text):
        return len(text)
    return len(text) + sum(1 for char in text if _wide(char))


def _content_width(values: list[Any], kind: str) -> int:
    """Display width of the widest cell of a column (its first cells, for a long column)."""
    present = [v for v in values[:WIDTH_SAMPLE] if v is not None]
    if kind == "date":
        return 10
    if kind == "bool":
        return 5
    if kind in NUMERIC_KINDS:
        peak = max((abs(float(v)) for v in present), default=0.0)
        digits = len(f"{peak:,.0f}") + (1 if any(float(v) < 0 for v in present) else 0)
        return {"percent": max(digits + 4, 6), "decimal": digits + 3, "factor": digits + 5}.get(kind, digits)
    return max((display_width(str(v)) for v in dict.fromkeys(present)), default=0)


def _width(header: str, values: list[Any], kind: str) -> float:
    """Width in characters: the longer of header (plus the filter button) and content, capped."""
    header_width = display_width(header) + 3
    content = _content_width(values, kind)
    return float(min(max(content + 2, header_width, MIN_WIDTH), MAX_WIDTH))


def _wrapped_heights(wrapped: list[tuple[list[Any], float]], rows: int) -> dict[int, float]:
    """Row heights (points, by 1-based sheet row) of the rows whose wrapped text needs more than
    one line: Excel and LibreOffice do not grow a row for wrapped text written by a program."""
    heights: dict[int, float] = {}
    for column, width in wrapped:
        per_line = max(width - 1, 1)
        for r, value in enumerate(column[:rows], start=1):
            if value is not None:
                lines = min(math.ceil(display_width(str(value)) / per_line), MAX_WRAPPED_LINES)
                if lines > 1 and ROW_HEIGHT * lines > heights.get(r, 0):
                    heights[r] = ROW_HEIGHT * lines
    return heights


def excel_header(text: str) -> str:
    """A header as written: control characters (invalid in a table's XML) shown as U+FFFD, and at
    most Excel's 255 characters for a table column name."""
    text = _CONTROL.sub("\ufffd", text.strip())
    return text if len(text) <= MAX_HEADER_CHARS else text[: MAX_HEADER_CHARS - 1] + "…"


def _unique_headers(headers: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for header in headers:
        text = excel_header(header) or "column"
        count = seen.get(text.lower(), 0)
        seen[text.lower()] = count + 1
        out.append(text if count == 0 else f"{text} ({count + 1})")
    return out


@dataclass(frozen=True)
class SheetPlan:
    """How a sheet is laid out, decided once for every back end: the columns written (``row_kind``
    left out), their kinds, headers (unique, cleaned), widths and the header row's height, which
    text columns wrap (content wider than the column) and the rows their text makes taller (1-based
    sheet row -> points), and the table's name."""

    sheet: Sheet
    columns: list[Any]
    kinds: list[str]
    headers: list[str]
    widths: list[float]
    header_height: float
    wrapped: list[bool]
    row_heights: dict[int, float]
    table_name: str

    @property
    def rows(self) -> int:
        return len(self.sheet.frame)


def _table_name(sheet_name: str, taken: set[str]) -> str:
    """An Excel table name for a sheet: ``t_`` and the name's word characters, unique in ``taken``
    (lower-case names, updated)."""
    base = "t_" + (re.sub(r"\W", "_", sheet_name, flags=re.ASCII) or "sheet")
    name, index = base, 1
    while name.lower() in taken:
        index += 1
        name = f"{base}_{index}"
    taken.add(name.lower())
    return name


def sheet_plans(sheets: Sequence[Sheet]) -> list[SheetPlan]:
    """The layout of every sheet of a workbook (see the module docstring for the rules). Widths are
    measured on the first :data:`WIDTH_SAMPLE` cells of a column."""
    plans, taken = [], set[str]()
    for sheet in sheets:
        frame = sheet.frame
        columns = [c for c in frame.columns if c != sheet.row_kind]
        # each column taken out of the frame once (a sheet may have 16,384 columns), and its first
        # cells, where widths are measured, cut only when there are more
        cells = [frame[c] for c in columns]
        samples = cells if len(frame) <= WIDTH_SAMPLE else [column.iloc[:WIDTH_SAMPLE] for column in cells]
        kinds = [column_kind(str(c), column, sheet.kinds) for c, column in zip(columns, cells, strict=True)]
        headers = _unique_headers([str((sheet.headers or {}).get(str(c), c)) for c in columns])
        widths, wrapped, lines = [], [], 1
        tall: list[tuple[list[Any], float]] = []
        for name, kind, header, column, first in zip(columns, kinds, headers, cells, samples, strict=True):
            sample = _values(first, kind)
            width = sheet.widths.get(str(name)) or _width(header, sample, kind)
            widths.append(width)
            wrapped.append(kind == "text" and _content_width(sample, kind) + 2 > width)
            if wrapped[-1]:
                tall.append((_values(column, kind), width))
            lines = max(lines, math.ceil((display_width(header) + 3) / width))
        plans.append(
            SheetPlan(
                sheet=sheet,
                columns=columns,
                kinds=kinds,
                headers=headers,
                widths=widths,
                header_height=ROW_HEIGHT * min(lines, 3),  # a capped long header wraps onto a second line
                wrapped=wrapped,
                row_heights=_wrapped_heights(tall, len(frame)),
                table_name=_table_name(sheet.name, taken) if columns else "",
            )
        )
    return plans


def chart_row(sheet: Sheet, rows: int, number: int) -> int:
    """The row where chart ``number`` of a sheet goes when it names no anchor: below the table and
    the charts before it, so that the sheet reads top-down on screen and prints one page wide."""
    return rows + 3 + sum(math.ceil(c.height / 20) + 2 for c in sheet.charts[:number])


class Formats(Protocol):
    """The formats a back end makes once per workbook (its own format objects)."""

    formats: dict[str, Any]  # by kind: its number format
    top: dict[str, Any]  # by kind: its number format, top-aligned
    top_plain: Any  # top-aligned, no number format
    wrap: Any  # wrapped text


def number_formats(made: Formats, tall: bool) -> dict[str, Any]:
    """Each kind's number format, for both back ends: top-aligned when the sheet has rows made
    taller by wrapped text."""
    return made.top if tall else made.formats


def column_format(made: Formats, kind: str, wrap: bool, tall: bool) -> Any:
    """A column's format, for both back ends: wrapped text, or its kind's number format
    (:func:`number_formats`; top-aligned with no number format for other kinds on a tall sheet,
    None on a sheet of one-line rows)."""
    if wrap:
        return made.wrap
    return number_formats(made, tall).get(kind, made.top_plain if tall else None)


class _Writer:
    def __init__(self, workbook: xlsxwriter.Workbook, constant_memory: bool, document: Document) -> None:
        self.workbook = workbook
        self.constant_memory = constant_memory
        self.document = document
        self.header = workbook.add_format(HEADER_STYLE)
        self.formats = {kind: workbook.add_format({"num_format": fmt}) for kind, fmt in NUMBER_FORMATS.items()}
        self.wrap = workbook.add_format(WRAP_STYLE)
        self.top = {kind: workbook.add_format({"num_format": fmt, **TOP_STYLE}) for kind, fmt in NUMBER_FORMATS.items()}
        self.top_plain = workbook.add_format(TOP_STYLE)
        self.band = workbook.add_format({"bg_color": BAND_FILL})

    def writer_for(self, worksheet: Worksheet, kind: str) -> Callable[..., Any]:
        if kind in NUMERIC_KINDS or kind == "date":
            return worksheet.write_number
        if kind == "bool":
            return worksheet.write_boolean
        return worksheet.write_string

    def sheet(self, plan: SheetPlan) -> None:
        sheet = plan.sheet
        worksheet = self.workbook.add_worksheet(sheet.name)
        frame = sheet.frame
        columns, kinds, headers = plan.columns, plan.kinds, plan.headers
        values = [_values(frame[c], k) for c, k in zip(columns, kinds, strict=True)]
        rows = len(frame)

        for index, (kind, width, wrap) in enumerate(zip(kinds, plan.widths, plan.wrapped, strict=True)):
            # long text wraps within its column instead of running on
            worksheet.set_column(index, index, width, column_format(self, kind, wrap, bool(plan.row_heights)))
        worksheet.set_row(0, plan.header_height)
        if self.constant_memory or not columns:
            for index, header in enumerate(headers):
                worksheet.write_string(0, index, header, self.header)
            if columns:
                worksheet.autofilter(0, 0, max(rows, 1), len(columns) - 1)
                if rows > 1:  # banded rows without a table: a light fill on every other row
                    worksheet.conditional_format(
                        1,
                        0,
                        rows,
                        len(columns) - 1,
                        {"type": "formula", "criteria": BAND_RULE, "format": self.band},
                    )
        else:
            worksheet.add_table(
                0,
                0,
                max(rows, 1),
                len(columns) - 1,
                {
                    "name": plan.table_name,
                    "style": TABLE_STYLE,
                    "columns": [{"header": h, "header_format": self.header} for h in headers],
                },
            )

        writers = [self.writer_for(worksheet, k) for k in kinds]
        heights = plan.row_heights
        if sheet.row_kind is not None:
            by_kind = number_formats(self, bool(heights))
            row_formats = [by_kind.get(str(k)) for k in frame[sheet.row_kind].tolist()]
            numeric = [k in NUMERIC_KINDS for k in kinds]
            for r, row in enumerate(zip(*values, strict=True)):
                if r + 1 in heights:
                    worksheet.set_row(r + 1, heights[r + 1])
                for c, value in enumerate(row):
                    if value is not None:
                        if numeric[c]:
                            writers[c](r + 1, c, value, row_formats[r])
                        else:
                            writers[c](r + 1, c, value)
        else:
            for r, row in enumerate(zip(*values, strict=True), start=1):
                if r in heights:
                    worksheet.set_row(r, heights[r])
                for c, value in enumerate(row):
                    if value is not None:
                        writers[c](r, c, value)

        worksheet.freeze_panes(1, sheet.freeze_columns)
        self.page_setup(worksheet)
        breaks = [
            self.chart(worksheet, sheet, columns, rows, chart, number) for number, chart in enumerate(sheet.charts)
        ]
        if any(breaks):
            worksheet.set_h_pagebreaks([row for row in breaks if row])  # each chart starts a printed page

    def page_setup(self, worksheet: Worksheet) -> None:
        """Printing / PDF: A4 landscape, one page wide, the header row repeated on every page,
        the document's page header and footer."""
        worksheet.set_landscape()
        worksheet.set_paper(PAPER_A4)
        worksheet.repeat_rows(0)
        worksheet.fit_to_pages(1, 0)
        worksheet.set_header(_page_text(self.document.header))
        worksheet.set_footer(_page_text(self.document.footer))

    def chart(
        self,
        worksheet: Worksheet,
        sheet: Sheet,
        columns: list[Any],
        rows: int,
        spec: Chart,
        number: int,
    ) -> int:
        """Insert the chart; the sheet row it starts at when it sits below the table (else 0)."""
        chart = self.workbook.add_chart({"type": spec.kind})
        if chart is None or rows == 0:
            return 0
        names = (spec.categories,) if isinstance(spec.categories, str) else spec.categories
        first, last = columns.index(names[0]), columns.index(names[-1])
        top, bottom = (1, rows) if spec.rows is None else (spec.rows[0] + 1, spec.rows[1] + 1)
        for value_name in spec.values:
            col = columns.index(value_name)
            series: dict[str, Any] = {
                "name": [sheet.name, 0, col],
                "categories": [sheet.name, top, first, bottom, last],
                "values": [sheet.name, top, col, bottom, col],
            }
            if spec.kind == "line":
                series["marker"] = {"type": "circle", "size": 5}
            chart.add_series(series)
        chart.set_title({"name": spec.title, "name_font": {"size": 12}})
        flat = {"rotation": 0}
        value_axis = {
            "name": spec.value_title,
            "num_format": spec.number_format,
            "num_font": flat,
            "major_gridlines": {"visible": True},
        }
        category_axis: dict[str, Any] = {"name": spec.category_title, "num_font": flat}
        if column_kind(str(names[0]), sheet.frame[names[0]], sheet.kinds) == "date":
            category_axis["num_format"] = MONTH_FORMAT  # date categories (accident months) read as months
        if spec.kind == "bar":
            chart.set_x_axis(value_axis)
            chart.set_y_axis({**category_axis, "reverse": True})
        else:
            chart.set_x_axis(category_axis)
            chart.set_y_axis(value_axis)
        if len(spec.values) == 1:
            chart.set_legend({"none": True})
        else:
            chart.set_legend({"position": "bottom"})
        chart.set_size({"width": spec.width, "height": spec.height})
        below = chart_row(sheet, rows, number)
        anchor = spec.anchor or xlsxwriter.utility.xl_rowcol_to_cell(below, 0)
        worksheet.insert_chart(anchor, chart)
        return 0 if spec.anchor else below


WRITER_VARIABLE = "PIPELINE_XLSX_WRITER"
Backend = Literal["rust", "xlsxwriter"]
BACKENDS: tuple[Backend, ...] = ("rust", "xlsxwriter")


def requested_backend(backend: str | None = None) -> Backend:
    """The back end asked for: ``backend``, else ``PIPELINE_XLSX_WRITER``, else ``rust``."""
    choice = (backend or os.environ.get(WRITER_VARIABLE, "") or "rust").strip().lower()
    if choice not in BACKENDS:
        raise FatalInputError(WRITER_VARIABLE, f"expected one of {', '.join(BACKENDS)}, got {choice!r}")
    return choice  # type: ignore[return-value]


def workbook_backend(sheets: Sequence[Sheet], backend: str | None = None) -> Backend:
    """The back end that writes ``sheets``: the one asked for (:func:`requested_backend`); xlsxwriter
    when the Rust binding is not installed."""
    choice = requested_backend(backend)
    if choice == "rust" and not rust_writer_available():
        return "xlsxwriter"
    return choice


def rust_writer_available() -> bool:
    try:
        import rvgsrust_xlsxwriter  # noqa: F401
    except ImportError:
        return False
    return True


def write_workbook(
    path: Path,
    sheets: Sequence[Sheet],
    *,
    document: Document | None = None,
    constant_memory_cells: int = DEFAULT_CONSTANT_MEMORY_CELLS,
    backend: str | None = None,
) -> Backend:
    """Write ``sheets`` to ``path`` in order, with ``document``'s properties and page header and
    footer (see the module docstring for the formatting rules), with the back end
    :func:`workbook_backend` picks; return that back end."""
    document = document or Document(title=Path(path).name)
    cells = sum(len(s.frame) * len(s.frame.columns) for s in sheets)
    constant_memory = cells > constant_memory_cells
    plans = sheet_plans(sheets)
    chosen = workbook_backend(sheets, backend)
    if chosen == "rust":
        from pipeline.io.workbook_rust import write_rust_workbook

        write_rust_workbook(Path(path), plans, constant_memory=constant_memory, document=document)
        return chosen
    workbook = xlsxwriter.Workbook(
        str(path),
        {"constant_memory": constant_memory, "remove_timezone": True, "strings_to_numbers": False},
    )
    workbook.set_properties(
        {
            "title": document.title,
            "subject": document.subject,
            "keywords": document.keywords,
            "author": document.author,
            "comments": document.comments,
            "created": document.created,
        }
    )
    try:
        writer = _Writer(workbook, constant_memory, document)
        for plan in plans:
            writer.sheet(plan)
    finally:
        workbook.close()
    return chosen
