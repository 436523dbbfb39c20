"""The Rust-backed back end of :func:`pipeline.io.workbook.write_workbook`: the same sheets, laid out
by the same :class:`~pipeline.io.workbook.SheetPlan` (kinds, formats, headers, widths, table name,
printing), written by ``rvgsrust-xlsxwriter`` (a binding to the Rust crate ``rust_xlsxwriter``)
from Arrow columns in one call per sheet instead of one Python call per cell.

What it keeps of the xlsxwriter back end: every cell's value and type (numbers as numbers, dates as
date-formatted serial numbers, booleans, text never a formula), the column formats (``#,##0``,
``yyyy-mm-dd``, ``0.0%``, ...), the Excel table with filter buttons and banded rows (or, beyond the
constant-memory threshold, autofilter + styled header + banding by conditional format, as
xlsxwriter does), the frozen header, widths, header row height and the page setup. What differs in
the file, not in what a reader sees: numbers are stored as ``1234567.0`` (openpyxl reads a float,
Excel and calamine show the same number).

Dates are written as the Excel serial numbers of :func:`~pipeline.io.workbook.typed_column` with
the date format, not as Arrow dates: the binding gives a ``datetime64`` column a date-time format
whatever the column format says.

Reproducible: the binding stamps ``docProps/core.xml`` with the current time and offers no way to
fix it, so :func:`copy_with_member` replaces that one zip member (created = modified = the fixed date)
and copies every other member's compressed bytes unchanged (no recompression). Zip member
timestamps are the fixed 1980 date already.
"""

from __future__ import annotations

import datetime as dt
import re
import struct
import zlib
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd
import pyarrow as pa
from xlsxwriter.utility import quote_sheetname, xl_cell_to_rowcol, xl_range, xl_range_abs, xl_rowcol_to_cell

from pipeline.io.workbook import (
    BAND_FILL,
    BAND_RULE,
    HEADER_STYLE,
    MONTH_FORMAT,
    NUMBER_FORMATS,
    NUMERIC_KINDS,
    PAPER_A4,
    TABLE_STYLE,
    TOP_STYLE,
    WRAP_STYLE,
    Chart,
    Document,
    SheetPlan,
    _page_text,
    _values,
    chart_row,
    column_format,
    column_kind,
    number_formats,
    typed_column,
)

CORE_PROPERTIES = "docProps/core.xml"
DEFAULT_ROW_HEIGHT = 15
_STAMP = re.compile(r"(<dcterms:(created|modified) xsi:type=\"dcterms:W3CDTF\">)[^<]*(</dcterms:\2>)")


def _arrow_column(series: pd.Series, kind: str) -> pa.Array:
    """A column as the Arrow array the binding writes: float64 serials for dates, int64/float64 for
    numbers, bool, string; nulls for empty cells."""
    typed = typed_column(series, kind)
    if kind == "date":
        return pa.array(typed.to_numpy(dtype="float64", na_value=float("nan")), type=pa.float64(), from_pandas=True)
    if kind in NUMERIC_KINDS:
        if pd.api.types.is_integer_dtype(typed.dtype):
            whole = typed if typed.dtype == "Int64" else typed.astype("Int64")  # astype copies, even to its own dtype
            return pa.Array.from_pandas(whole)
        return pa.array(
            pd.to_numeric(typed, errors="coerce").astype("float64").to_numpy(na_value=float("nan")),
            type=pa.float64(),
            from_pandas=True,
        )
    if kind == "bool":
        return pa.Array.from_pandas(typed)
    return pa.Array.from_pandas(typed).cast(pa.large_string())


def _table_style(style: str) -> str:
    """xlsxwriter's ``Table Style Medium 2`` as the binding spells it: ``medium2``."""
    return style.lower().removeprefix("table style").replace(" ", "")


class _RustWriter:
    def __init__(self, workbook: Any, constant_memory: bool, document: Document) -> None:
        self.workbook = workbook
        self.constant_memory = constant_memory
        self.document = document
        self.header = self.format(HEADER_STYLE)
        self.wrap = self.format(WRAP_STYLE)
        self.formats = {kind: workbook.add_format().set_num_format(code) for kind, code in NUMBER_FORMATS.items()}
        self.top = {kind: self.format({"num_format": code, **TOP_STYLE}) for kind, code in NUMBER_FORMATS.items()}
        self.top_plain = self.format(TOP_STYLE)
        self.band = workbook.add_format().set_background_color(BAND_FILL)

    def format(self, style: dict[str, Any]) -> Any:
        """The binding's format for an xlsxwriter style dict (the keys the shared styles use)."""
        made = self.workbook.add_format()
        for key, value in style.items():
            if key == "bold" and value:
                made.set_bold()
            elif key == "bg_color":
                made.set_background_color(value)
            elif key == "border" and value:
                made.set_border("thin")
            elif key == "text_wrap" and value:
                made.set_text_wrap()
            elif key == "valign":
                made.set_vertical_align(value)
            elif key == "num_format":
                made.set_num_format(value)
            else:
                raise ValueError(f"style key {key!r} has no Rust-writer equivalent yet")
        return made

    def column_formats(self, plan: SheetPlan) -> list[Any]:
        """Each column's format: wrapped text, or its kind's number format (top-aligned when the
        sheet has rows made taller by wrapped text), as the xlsxwriter back end chooses them."""
        tall = bool(plan.row_heights)
        return [column_format(self, kind, wrap, tall) for kind, wrap in zip(plan.kinds, plan.wrapped, strict=True)]

    def sheet(self, plan: SheetPlan) -> None:
        import rvgsrust_xlsxwriter as rust

        sheet, columns, kinds, headers = plan.sheet, plan.columns, plan.kinds, plan.headers
        rows = plan.rows
        worksheet = self.workbook.add_worksheet(sheet.name, constant_memory=self.constant_memory)
        column_formats = self.column_formats(plan)
        for index, (width, chosen) in enumerate(zip(plan.widths, column_formats, strict=True)):
            worksheet.set_column_width(index, width)
            if chosen is not None:
                worksheet.set_column_format(index, chosen)
        if plan.header_height != DEFAULT_ROW_HEIGHT:  # as xlsxwriter: a default height is not written
            worksheet.set_row_height(0, plan.header_height)
        table = self.constant_memory is False and bool(columns)
        if not table:
            for index, header in enumerate(headers):
                worksheet.write(0, index, header, self.header)
            if columns and rows > 1:
                # The binding counts a conditional format's range as rows written, and in constant
                # memory refuses rows above the last one written: the rule is anchored on row 1 and
                # given its whole range as a "multi range".
                band = rust.ConditionalFormatFormula()
                band.set_rule(BAND_RULE)  # these setters return None, unlike the stubs say
                band.set_format(self.band)
                band.set_multi_range(xl_range(1, 0, rows, len(columns) - 1))
                worksheet.add_conditional_format(1, 0, 1, 0, band)
        if columns and rows and sheet.row_kind is not None:
            self.rows_by_kind(worksheet, plan)
        elif columns and rows:
            names = [f"c{index}" for index in range(len(columns))]
            data = pa.table(
                [_arrow_column(sheet.frame[c], k) for c, k in zip(columns, kinds, strict=True)], names=names
            )
            formats = {n: f for n, f in zip(names, column_formats, strict=True) if f is not None}
            # Rows made taller by wrapped text: in constant memory a row's height must be set before
            # the row is written, so the body is written in runs between those rows.
            start = 1
            for row in sorted(plan.row_heights) if self.constant_memory else []:
                if row > start:
                    part = data.slice(start - 1, row - start)
                    worksheet.write_dataframe(start, 0, part, write_header=False, column_formats=formats)
                worksheet.set_row_height(row, plan.row_heights[row])
                start = row
            rest = data.slice(start - 1)
            worksheet.write_dataframe(start, 0, rest, write_header=False, column_formats=formats)
            if not self.constant_memory:
                for row, height in plan.row_heights.items():
                    worksheet.set_row_height(row, height)
        if table:
            spec = (
                rust.Table()
                .set_name(plan.table_name)
                .set_style(_table_style(TABLE_STYLE))
                .set_columns([rust.TableColumn().set_header(h).set_header_format(self.header) for h in headers])
            )
            worksheet.add_table(0, 0, max(rows, 1), len(columns) - 1, spec)
        elif columns:
            worksheet.autofilter(0, 0, max(rows, 1), len(columns) - 1)
        worksheet.freeze_panes(1, sheet.freeze_columns)
        worksheet.set_landscape()
        worksheet.set_paper_size(PAPER_A4)
        worksheet.set_repeat_rows(0, 0)
        worksheet.set_print_fit_to_pages(1, 0)
        worksheet.set_header(_page_text(self.document.header))
        worksheet.set_footer(_page_text(self.document.footer))
        if rows:
            breaks = [self.chart(worksheet, plan, drawn, number) for number, drawn in enumerate(sheet.charts)]
            if any(breaks):
                worksheet.set_page_breaks([row for row in breaks if row])  # each chart starts a printed page

    def rows_by_kind(self, worksheet: Any, plan: SheetPlan) -> None:
        """A figure list (``row_kind``: each row's kind formats its numeric cells), cell by cell,
        row by row; such sheets are a few dozen rows."""
        sheet = plan.sheet
        values = [_values(sheet.frame[c], k) for c, k in zip(plan.columns, plan.kinds, strict=True)]
        by_kind = number_formats(self, bool(plan.row_heights))
        row_formats = [by_kind.get(str(kind)) for kind in sheet.frame[sheet.row_kind].tolist()]
        column_formats = self.column_formats(plan)
        numeric = [kind in NUMERIC_KINDS for kind in plan.kinds]
        for r, row in enumerate(zip(*values, strict=True)):
            if r + 1 in plan.row_heights:
                worksheet.set_row_height(r + 1, plan.row_heights[r + 1])
            for c, value in enumerate(row):
                if value is not None:
                    worksheet.write(r + 1, c, value, row_formats[r] if numeric[c] else column_formats[c])

    def chart(self, worksheet: Any, plan: SheetPlan, spec: Chart, number: int) -> int:
        """A native chart, as :meth:`pipeline.io.workbook._Writer.chart` draws it with xlsxwriter;
        the sheet row it starts at when it sits below the table (else 0)."""
        import rvgsrust_xlsxwriter as rust

        sheet, columns, rows = plan.sheet, plan.columns, plan.rows
        names = (spec.categories,) if isinstance(spec.categories, str) else spec.categories
        first, last = columns.index(names[0]), columns.index(names[-1])
        top, bottom = (1, rows) if spec.rows is None else (spec.rows[0] + 1, spec.rows[1] + 1)
        where = quote_sheetname(sheet.name)
        chart: Any = rust.Chart(spec.kind)  # type: ignore[arg-type]  # a kind xlsxwriter knows
        for value_name in spec.values:
            col = columns.index(value_name)
            series = rust.ChartSeries()
            series.set_name(f"={where}!{xl_rowcol_to_cell(0, col, True, True)}")
            series.set_categories(f"={where}!{xl_range_abs(top, first, bottom, last)}")
            series.set_values(f"={where}!{xl_range_abs(top, col, bottom, col)}")
            if spec.kind == "line":
                marker = rust.ChartMarker()
                marker.set_type("circle")
                marker.set_size(5)
                series.set_marker(marker)
            chart.push_series(series)
        chart.set_title_name(spec.title)
        font = rust.ChartFont()
        font.set_size(12)
        chart.set_title_font(font)
        value, category = ("x", "y") if spec.kind == "bar" else ("y", "x")
        getattr(chart, f"set_{value}_axis_name")(spec.value_title)
        getattr(chart, f"set_{value}_axis_num_format")(spec.number_format)
        getattr(chart, f"set_{value}_axis_major_gridlines")(True)
        getattr(chart, f"set_{category}_axis_name")(spec.category_title)
        if column_kind(str(names[0]), sheet.frame[names[0]], sheet.kinds) == "date":
            getattr(chart, f"set_{category}_axis_num_format")(MONTH_FORMAT)  # accident months read as months
        for axis in ("x", "y"):  # axis labels never rotated
            flat = rust.ChartFont()
            flat.set_rotation(0)
            getattr(chart, f"set_{axis}_axis_font")(flat)
        if spec.kind == "bar":
            chart.set_y_axis_reverse()
        if len(spec.values) == 1:
            chart.set_legend_hidden()
        else:
            chart.set_legend_position("bottom")
        chart.set_width(spec.width)
        chart.set_height(spec.height)
        if spec.anchor:
            row, col = xl_cell_to_rowcol(spec.anchor)
        else:
            row, col = chart_row(sheet, rows, number), 0
        worksheet.insert_chart(row, col, chart)
        return 0 if spec.anchor else row


def write_rust_workbook(path: Path, plans: list[SheetPlan], *, constant_memory: bool, document: Document) -> None:
    """Write the planned sheets to ``path`` with the Rust writer, with ``document``'s properties,
    page header and footer; the document's created and modified dates are ``document.created``.

    The binding writes the archive to a file beside ``path`` (``UNSTAMPED``), which is copied to
    ``path`` with its dates fixed (:func:`file_with_member`) and removed: neither the workbook nor
    its copy is ever held in memory (a 230 MB workbook was held three times over when it came back
    as bytes)."""
    import rvgsrust_xlsxwriter as rust

    workbook = rust.Workbook()
    workbook.set_properties(
        title=document.title,
        author=document.author,
        subject=document.subject,
        keywords=document.keywords,
        comments=document.comments,
    )
    writer = _RustWriter(workbook, constant_memory, document)
    for plan in plans:
        writer.sheet(plan)
    path = Path(path)
    unstamped = path.with_name(path.name + UNSTAMPED)
    try:
        workbook.close(str(unstamped))
        file_with_member(unstamped, path, CORE_PROPERTIES, partial(_stamped, created=document.created))
    finally:
        unstamped.unlink(missing_ok=True)


UNSTAMPED = ".unstamped"
"""The suffix of the file the binding writes before its dates are fixed."""


def _stamped(xml: bytes, created: dt.datetime) -> bytes:
    """``docProps/core.xml`` with its created and modified dates set to ``created`` (UTC)."""
    stamp = created.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return _STAMP.sub(rf"\g<1>{stamp}\g<3>", xml.decode()).encode()


_LOCAL = struct.Struct("<4sHHHHHIIIHH")
_CENTRAL = struct.Struct("<4sHHHHHHIIIHHHHHII")
_END = struct.Struct("<4sHHHHIIH")
_LONGEST_COMMENT = 0xFFFF
COPY_BYTES = 1 << 20
"""The slice in which a member's bytes are copied from one archive to the other."""


def file_with_member(source: Path, target: Path, name: str, change: Callable[[bytes], bytes]) -> None:
    """The zip archive ``source`` copied to ``target`` with member ``name``'s content replaced by
    ``change(content)`` (:func:`copy_with_member`, file to file)."""
    with source.open("rb") as read, target.open("wb") as out:
        copy_with_member(read, source.stat().st_size, name, change, out)


def copy_with_member(source: BinaryIO, size: int, name: str, change: Callable[[bytes], bytes], out: BinaryIO) -> None:
    """Copy the zip archive ``source`` (``size`` bytes) to ``out`` with member ``name``'s content
    replaced by ``change(content)`` (deflated again); every other member's local header and
    compressed bytes are copied as they are, ``COPY_BYTES`` at a time, and the central directory is
    rewritten with the new offsets. Only the central directory and that member are held in memory.
    Zip64 archives are not handled (an xlsx under 4 GiB never is one)."""

    def read(at: int, length: int) -> bytes:
        source.seek(at)
        return source.read(length)

    tail_at = max(0, size - _END.size - _LONGEST_COMMENT)
    tail = read(tail_at, size - tail_at)
    end_in_tail = tail.rfind(b"PK\x05\x06")
    if end_in_tail < 0:
        raise ValueError("not a zip archive")
    end_at = tail_at + end_in_tail
    _, _, _, _, count, _size, directory_at, _ = _END.unpack_from(tail, end_in_tail)
    central = read(directory_at, end_at - directory_at)
    entries = []
    at = 0
    for _ in range(count):
        fields = list(_CENTRAL.unpack_from(central, at))
        length = _CENTRAL.size + fields[10] + fields[11] + fields[12]
        entries.append((fields, central[at + _CENTRAL.size : at + length]))
        at += length
    starts = [*sorted(fields[16] for fields, _ in entries), directory_at]
    following = {start: starts[i + 1] for i, start in enumerate(starts[:-1])}
    written = 0
    directory = bytearray()
    for fields, entry_tail in entries:
        offset = fields[16]
        member = entry_tail[: fields[10]].decode("utf-8")
        fields[16] = written
        if member == name:
            header = _LOCAL.unpack(read(offset, _LOCAL.size))
            old = read(offset + _LOCAL.size + header[9] + header[10], fields[8])
            content = zlib.decompress(old, -15) if fields[4] == 8 else old
            new = change(content)
            packer = zlib.compressobj(6, zlib.DEFLATED, -15)
            packed = packer.compress(new) + packer.flush()
            crc = zlib.crc32(new)
            flags = fields[3] & ~0x08  # sizes in the header: no data descriptor
            local = _LOCAL.pack(
                b"PK\x03\x04", header[1], flags, 8, header[4], header[5], crc, len(packed), len(new), fields[10], 0
            )
            written += out.write(local + entry_tail[: fields[10]] + packed)
            fields[3], fields[4], fields[7], fields[8], fields[9] = flags, 8, crc, len(packed), len(new)
        else:
            source.seek(offset)
            left = following[offset] - offset
            while left:
                chunk = source.read(min(left, COPY_BYTES))
                if not chunk:
                    raise ValueError("zip archive cut short")
                written += out.write(chunk)
                left -= len(chunk)
        directory += _CENTRAL.pack(*fields) + entry_tail
    comment = tail[end_in_tail + _END.size :]
    out.write(directory)
    out.write(_END.pack(b"PK\x05\x06", 0, 0, count, count, len(directory), written, len(comment)) + comment)
