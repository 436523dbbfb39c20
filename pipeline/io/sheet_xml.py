"""The raw XML of a worksheet, read where python-calamine cannot be trusted with it
(DATA_CONTRACT.md § Validation details).

- :func:`scan_sheet`: one streaming pass over the sheet's XML that finds its zip member, whether it
  holds error values or formulas, and the extent of its cells (an over-estimate taken from every
  ``r="…"`` reference). python-calamine allocates the whole rectangle up to the farthest cell that
  holds a value before anything else: a single space typed at ``XFD1048576`` is 17 billion cells
  (512 GiB) and aborts the process.
- :func:`bounded_workbook`: when that extent is beyond :data:`CELL_BUDGET`, a copy of the workbook
  in memory whose sheet keeps only the cells holding something (a blank or whitespace-only value is
  an empty cell anyway), or one line naming the far cell when the cells holding something are
  themselves beyond the budget.
- :func:`special_cells`: the cells python-calamine reads as empty although they are not (error
  values, formulas with no saved result).
"""

from __future__ import annotations

import io
import logging
import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import numpy as np

from pipeline.errors import FatalInputError
from pipeline.parse import UnsavedFormula

log = logging.getLogger(__name__)

# The most cells (rows × columns of the rectangle from A1 to the farthest cell) a sheet may span:
# python-calamine holds about 32 bytes per cell and the reader a list entry more, so 60 million cells
# are about 2.5 GB, e.g. Excel's 1,048,576 rows × 57 columns. Beyond it, a book goes as Parquet.
CELL_BUDGET = 60_000_000
EXCEL_COLUMNS, EXCEL_ROWS = 16_384, 1_048_576

# Markers of cells python-calamine reads as '' although they are not empty: an error value
# (``t="e"``) or a formula (``<f>``), which may have no saved result. See :func:`special_cells`;
# :func:`has_special_marker` finds them in one vectorised pass.
SPECIAL_MARKERS = (b't="e"', b"t='e'", b"<f>", b"<f ", b"<f/", b":f>", b":f ", b":f/")
_CELL_REF = re.compile(r"([A-Z]+)(\d+)")
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


@dataclass(frozen=True)
class SheetScan:
    """What one pass over a sheet's XML found: its zip member, whether error values or formulas
    occur, and the rows and columns up to the farthest cell referenced (an over-estimate)."""

    part: str | None
    has_special: bool
    rows: int
    columns: int

    @property
    def cells(self) -> int:
        return self.rows * self.columns


def column_letters(column: int) -> str:
    """0 -> 'A', 16383 -> 'XFD'."""
    letters = ""
    column += 1
    while column:
        column, rest = divmod(column - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number - 1


def sheet_part(archive: zipfile.ZipFile, sheet: str) -> str | None:
    """The zip member holding the XML of worksheet ``sheet`` (via workbook.xml and its rels)."""
    relationships = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
    rel_id = None
    for element in ElementTree.fromstring(archive.read("xl/workbook.xml")).iter():
        if element.tag.rsplit("}", 1)[-1] == "sheet" and element.get("name") == sheet:
            rel_id = element.get(relationships)
    if rel_id is None:
        return None
    for element in ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels")).iter():
        if element.get("Id") == rel_id:
            target = element.get("Target", "")
            return target.lstrip("/") if target.startswith("/") else posixpath.normpath(f"xl/{target}")
    return None


def has_special_marker(block: bytes) -> bool:
    """Whether ``block`` holds one of :data:`SPECIAL_MARKERS`, found from its few ``f`` and ``e``
    bytes (searching for each of the eight markers in turn took a fifth of reading a large book)."""
    data = np.frombuffer(block, dtype=np.uint8)
    if len(data) < 3:
        return False
    f = np.flatnonzero(data[1:-1] == ord("f")) + 1  # <f> <f  <f/ :f> :f  :f/
    before, after = data[f - 1], data[f + 1]
    if np.any(((before == ord("<")) | (before == ord(":"))) & np.isin(after, (ord(">"), ord(" "), ord("/")))):
        return True
    if len(data) < 5:
        return False
    e = np.flatnonzero(data[3:-1] == ord("e")) + 3  # t="e" t='e'
    quote = data[e - 1]
    opened = (quote == ord('"')) | (quote == ord("'"))
    return bool(np.any((data[e - 3] == ord("t")) & (data[e - 2] == ord("=")) & opened & (data[e + 1] == quote)))


def _block_extent(block: bytes) -> tuple[int, int]:
    """The largest row and column (1-based) of the ``r="…"`` references in ``block``, vectorised (a
    regular expression over a million-row sheet takes seconds). A reference cut at the block's end
    is read by the next block, which overlaps by a few bytes."""
    data = np.frombuffer(block, dtype=np.uint8)
    if len(data) < 16:
        return 0, 0
    equals = np.flatnonzero(data[2:-12] == ord("=")) + 2  # one pass over the block, then only its '='
    equals = equals[data[equals - 1] == ord("r")]
    quote, space = data[equals + 1], data[equals - 2]
    at = equals[
        ((quote == ord('"')) | (quote == ord("'")))
        & ((space == ord(" ")) | (space == ord("\n")) | (space == ord("\t")) | (space == ord("\r")))
    ]
    if not len(at):
        return 0, 0
    at += 2  # the first character of the reference: up to 3 letters, then up to 8 digits
    column = np.zeros(len(at), dtype=np.int64)
    going = np.ones(len(at), dtype=bool)
    for _ in range(3):
        char = data[at].astype(np.int64)
        going &= (char >= 65) & (char <= 90)
        column = np.where(going, column * 26 + char - 64, column)
        at += going
    row = np.zeros(len(at), dtype=np.int64)
    going[:] = True
    for _ in range(8):
        char = data[at].astype(np.int64)
        going &= (char >= 48) & (char <= 57)
        row = np.where(going, row * 10 + char - 48, row)
        at += going
    return int(row.max()), int(column.max())


def scan_sheet(archive: zipfile.ZipFile, sheet: str) -> SheetScan:
    """One streaming pass over the XML of ``sheet``: markers of error values and formulas, and the
    extent of the cells referenced (a reference past Excel's grid counts as the grid's edge + 1)."""
    part = sheet_part(archive, sheet)
    if part is None:
        return SheetScan(None, False, 0, 0)
    special = False
    rows = columns = 0
    tail = b""
    with archive.open(part) as stream:
        for block in iter(lambda: stream.read(1 << 22), b""):
            window = tail + block
            special = special or has_special_marker(window)
            row, column = _block_extent(window)
            rows, columns = max(rows, row), max(columns, column)
            tail = block[-24:]
    return SheetScan(part, special, min(rows, EXCEL_ROWS + 1), min(columns, EXCEL_COLUMNS + 1))


# --- a sheet beyond the budget: keep only the cells holding something ----------------------------

_CELL = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c(?=[\s/>])[^>]*?(?:/>|>.*?</(?:[A-Za-z_][\w.-]*:)?c>)", re.DOTALL)
_ROW = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row(?=[\s/>])[^>]*>")
_ATTRIBUTE = re.compile(rb"""\s([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_VALUE = re.compile(rb"<(?:[\w.-]+:)?v(?:\s[^>]*)?>(.*?)</(?:[\w.-]+:)?v>", re.DOTALL)
_TEXT = re.compile(rb"<(?:[\w.-]+:)?t(?:\s[^>]*)?>(.*?)</(?:[\w.-]+:)?t>", re.DOTALL)
_FORMULA = re.compile(rb"<(?:[\w.-]+:)?f[\s/>]")


def _attributes(tag: bytes) -> dict[bytes, bytes]:
    return {match[1].split(b":")[-1]: match[2] or match[3] or b"" for match in _ATTRIBUTE.finditer(tag)}


def _blank_strings(archive: zipfile.ZipFile) -> set[int]:
    """Indices of the shared strings that are empty or whitespace only."""
    blank: set[int] = set()
    if "xl/sharedStrings.xml" not in archive.namelist():
        return blank
    index = 0
    with archive.open("xl/sharedStrings.xml") as stream:
        for _, element in ElementTree.iterparse(stream):
            if element.tag.rsplit("}", 1)[-1] != "si":
                continue
            text = "".join(t.text or "" for t in element.iter() if t.tag.rsplit("}", 1)[-1] == "t")
            if not text.strip():
                blank.add(index)
            index += 1
            element.clear()
    return blank


def _holds_something(cell: bytes, kind: bytes, blank_strings: set[int]) -> bool:
    if _FORMULA.search(cell) or kind == b"e":
        return True
    if kind == b"inlineStr":
        text = b"".join(_TEXT.findall(cell))
        return bool(text.decode("utf-8", "replace").strip())
    value = _VALUE.search(cell)
    if value is None or not value[1].strip():
        return False
    if kind == b"s":
        return not value[1].strip().isdigit() or int(value[1]) not in blank_strings
    if kind == b"str":
        return bool(value[1].decode("utf-8", "replace").strip())
    return True


def _kept_cells(xml: bytes, blank_strings: set[int]) -> tuple[bytes, tuple[int, int, str]]:
    """The sheet's XML with only the cells holding something (each given its ``r`` reference, as
    positions are no longer implied), and the farthest such cell: (rows, columns, its reference)."""
    out: list[bytes] = []
    position = 0
    row, column = 0, -1
    rows = columns = 0
    farthest, farthest_cells = "", 0
    events = sorted(
        [*((m.start(), True, m) for m in _ROW.finditer(xml)), *((m.start(), False, m) for m in _CELL.finditer(xml))],
        key=lambda event: event[0],
    )
    for _, is_row, match in events:
        tag = match.group()
        if is_row:
            number = _attributes(tag).get(b"r")
            row = int(number) if number and number.isdigit() else row + 1
            column = -1
            continue
        attributes = _attributes(tag[: tag.index(b">") + 1])
        reference = _CELL_REF.fullmatch(attributes.get(b"r", b"").decode("ascii", "replace"))
        column = _column_number(reference.group(1)) if reference else column + 1
        cell_row = int(reference.group(2)) if reference else row
        out.append(xml[position : match.start()])
        position = match.end()
        if not _holds_something(tag, attributes.get(b"t", b"n"), blank_strings):
            continue
        name = f"{column_letters(column)}{cell_row}"
        if not reference:
            tag = re.sub(rb"^(<[^\s/>]+)", rb'\1 r="' + name.encode() + b'"', tag, count=1)
        out.append(tag)
        if cell_row * (column + 1) > farthest_cells:
            farthest, farthest_cells = name, cell_row * (column + 1)
        rows, columns = max(rows, cell_row), max(columns, column + 1)
    out.append(xml[position:])
    return b"".join(out), (rows, columns, farthest)


def bounded_workbook(path: Path, relative: str, sheet: str, scan: SheetScan) -> io.BytesIO:
    """A copy of the workbook at ``path`` in memory whose sheet ``sheet`` keeps only the cells that
    hold something: the rectangle python-calamine allocates is then bounded by the sheet's real
    cells. A sheet whose real cells still span more than :data:`CELL_BUDGET` stops the run with one
    line naming the farthest cell."""
    if scan.part is None:
        raise FatalInputError(relative, f"sheet '{sheet}' cannot be read (no worksheet part)")
    with zipfile.ZipFile(path) as archive:
        xml, (rows, columns, farthest) = _kept_cells(archive.read(scan.part), _blank_strings(archive))
        if rows * columns > CELL_BUDGET:
            raise FatalInputError(
                relative,
                f"sheet '{sheet}': cell {farthest} is so far out that the sheet spans {rows:,} rows × "
                f"{columns:,} columns ({rows * columns:,} cells, more than {CELL_BUDGET:,} can be read): "
                "delete the cells beyond the data, or give a sheet this large as Parquet",
            )
        log.warning(
            "%s: sheet '%s': blank cells as far out as %s%s ignored (the data ends at %s)",
            relative,
            sheet,
            column_letters(scan.columns - 1),
            scan.rows,
            farthest or "A1",
        )
        copy = io.BytesIO()
        with zipfile.ZipFile(copy, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as target:
            for info in archive.infolist():
                target.writestr(info, xml if info.filename == scan.part else archive.read(info.filename))
    copy.seek(0)
    return copy


# --- cells python-calamine reads as empty ----------------------------------------------------------


def _special_cells_of(archive: zipfile.ZipFile, part: str) -> Iterator[tuple[int, int, object]]:
    row, column = 0, -1
    with archive.open(part) as stream:
        for event, element in ElementTree.iterparse(stream, events=("start", "end")):
            tag = element.tag.rsplit("}", 1)[-1]
            if event == "start":
                if tag == "row":
                    row = int(element.get("r") or row + 1) - 1
                    column = -1
                continue
            if tag != "c":
                continue
            reference = _CELL_REF.fullmatch(element.get("r") or "")
            column = _column_number(reference.group(1)) if reference else column + 1
            kind = element.get("t")
            value = formula = None
            for child in element:
                name = child.tag.rsplit("}", 1)[-1]
                if name == "v":
                    value = child.text or ""
                elif name == "f":
                    formula = child.text or ""
            if kind == "e":
                yield row, column, (value or "#VALUE!").strip()
            elif formula is not None and not value and kind not in ("str", "inlineStr"):
                yield row, column, UnsavedFormula(formula)
            element.clear()


def special_cells(path: Path, scan: SheetScan) -> dict[tuple[int, int], object]:
    """Cells python-calamine reads as empty although they are not (python-calamine issue #105):
    an Excel error value (``#N/A``) becomes its text, which the parsers reject by name; a formula
    with no saved result (a file written by a program that does not calculate, e.g. openpyxl)
    becomes an :class:`~pipeline.parse.UnsavedFormula`. Keyed by 0-based (row, column).

    The sheet's XML is parsed only when :func:`scan_sheet` found the markers. A file whose XML
    cannot be parsed this way yields nothing (calamine has read it already)."""
    if scan.part is None or not scan.has_special:
        return {}
    try:
        with zipfile.ZipFile(path) as archive:
            return {(row, column): cell for row, column, cell in _special_cells_of(archive, scan.part)}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, ElementTree.ParseError) as error:
        log.warning("%s: sheet part %s: could not scan for error cells (%s)", path, scan.part, type(error).__name__)
        return {}


def sheet_scan(path: Path, sheet: str) -> SheetScan:
    """:func:`scan_sheet` of the workbook at ``path``; a file whose XML cannot be scanned gives an
    empty scan (python-calamine opened it already, and will say what is wrong with it)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return scan_sheet(archive, sheet)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, ElementTree.ParseError) as error:
        log.warning("%s: sheet '%s': could not scan for error cells (%s)", path, sheet, type(error).__name__)
        return SheetScan(None, False, 0, 0)
