"""Read the monthly bordereaux of every month up to M into raw sheets (DATA_CONTRACT.md § Input,
§ Validation details).

A raw sheet keeps every cell exactly as python-calamine returns it (text, number, bool, date); only
the headers are interpreted here. Header cells match a canonical column after Unicode NFKC and
trimming, the English name case-insensitively or the Japanese label from ``columns.toml``; columns
may come in any order; a missing optional column reads as all empty; unknown columns are carried
through. Wholly empty rows are skipped and not counted. Every row keeps its Excel row number
(1-based, the header is row 1).

python-calamine reads an Excel error value (``#N/A``) and a formula with no saved result as an empty
cell; :func:`special_cells` finds them in the sheet's XML so that they are rejected by name instead
of vanishing (an error in an optional column would otherwise pass as "not given").

A sheet may also come as a Parquet file (``policies.parquet``, ``claims.parquet``, ``lines.parquet``:
one sheet each, for books beyond an Excel sheet's 1,048,576 rows). Its columns are headers and its
cells values, read through the same header matching, empty-row rule and parsers; its "Excel row" is
the Parquet row number (0-based) + 2, as if the file were a sheet under a header row. A sheet may
also be a folder of Parquet parts (``lines/part-00000.parquet``, ...: its file is named
``<month>/lines/``); its rows are the parts' rows in the order of the parts' names, numbered on from
one part to the next as one sheet.

Reading is in two steps so that a month whose parse is cached (pipeline.io.cache) is never opened:
:func:`find_bordereaux` lists the month folders and files and hashes them (cheap);
:func:`read_month` reads the sheets of one month.

Anything that makes a month unreadable raises :class:`~pipeline.errors.FatalInputError` with one
line naming the file and the problem.
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
import re
import tomllib
import unicodedata
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from python_calamine import CalamineWorkbook

from pipeline.errors import FatalInputError
from pipeline.parse import UnsavedFormula, cell_text, is_empty_cell
from schemas.claims import ClaimTotals
from schemas.lines import LineAdjudicated
from schemas.policies import PolicyAccounted

log = logging.getLogger(__name__)

COLUMNS_FILE = Path(__file__).parent / "columns.toml"
MONTH_FOLDER = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
EXCEL_ROW = "excel_row"
# Names the pipeline adds to every row; an input column of the same name is renamed on reading.
RESERVED_COLUMNS = ("bordereau_month", "source_file", "source_sheet", EXCEL_ROW, "first_month")
# Columns the stages add (the computed schemas, and the context the claims stage puts on lines): an
# unknown input column of the same name would be overwritten, so it is carried as "<name> (input)".
STAGE_COLUMNS = frozenset(
    column
    for model in (PolicyAccounted, ClaimTotals, LineAdjudicated)
    for column in model.to_schema().columns
    if column not in RESERVED_COLUMNS
) | {"policy_id", "product", "plan", "series", "part", "item_number"}

# An OLE compound file: what Excel writes for an encrypted (password-protected) workbook, or an old .xls.
OLE_SIGNATURE = bytes.fromhex("D0CF11E0A1B11AE1")
# Markers of cells python-calamine reads as '' although they are not empty: an error value
# (``t="e"``) or a formula (``<f>``), which may have no saved result. See :func:`special_cells`.
_SPECIAL_MARKERS = (b't="e"', b"t='e'", b"<f>", b"<f ", b"<f/", b":f>", b":f ", b":f/")
_CELL_REF = re.compile(r"([A-Z]+)(\d+)")

# The workbooks of a month and the sheets each must hold (DATA_CONTRACT.md § Input).
BORDEREAU_FILES: dict[str, tuple[str, ...]] = {
    "policies.xlsx": ("policies",),
    "claims.xlsx": ("claims", "lines"),
}
# The alternative for books beyond Excel's row limit: one Parquet file per sheet.
PARQUET_FILES: dict[str, tuple[str, ...]] = {
    "policies.parquet": ("policies",),
    "claims.parquet": ("claims",),
    "lines.parquet": ("lines",),
}
# ... or, for a sheet larger still, a folder of Parquet parts (``lines/part-00000.parquet``, ...): one
# sheet whose rows are the parts' rows in the order of the parts' names.
PARQUET_FOLDERS: dict[str, tuple[str, ...]] = {"policies": ("policies",), "claims": ("claims",), "lines": ("lines",)}
PARQUET_PART = "part-*.parquet"


@dataclass(frozen=True)
class ColumnSpec:
    """One canonical input column: its name, Japanese label and whether the sheet must have it."""

    name: str
    ja: str
    required: bool


@dataclass(frozen=True)
class RawSheet:
    """One sheet of one month as read: ``frame`` holds the canonical columns (in ``columns.toml``
    order), then the unknown ``extra_columns``, then ``excel_row``; cells are raw python values."""

    month: str
    file: str  # relative to the input folder, e.g. "2026-04/claims.xlsx"
    sheet: str
    frame: pd.DataFrame = field(repr=False)
    extra_columns: tuple[str, ...] = ()

    @property
    def rows_read(self) -> int:
        return len(self.frame)


@dataclass(frozen=True)
class InputFile:
    """An input workbook for the manifest: path relative to the input folder, SHA-256, rows per sheet."""

    file: str
    sha256: str
    rows: dict[str, int]


@dataclass(frozen=True)
class SourceFile:
    """An input file found in a month folder, hashed but not opened: the sheets it holds."""

    month: str
    file: str  # relative to the input folder, e.g. "2026-04/claims.xlsx"
    path: Path = field(repr=False)
    sheets: tuple[str, ...]
    sha256: str


@dataclass(frozen=True)
class BordereauFiles:
    """Every month folder up to M, in month order, and the input files found in them (in month order,
    then policies before claims before lines)."""

    input_dir: Path
    months: tuple[str, ...]
    files: tuple[SourceFile, ...]

    def of_month(self, month: str) -> tuple[SourceFile, ...]:
        return tuple(f for f in self.files if f.month == month)


@dataclass(frozen=True)
class Bordereaux:
    """Every month folder up to M, in month order, with the sheets read and the files they came from."""

    input_dir: Path
    months: tuple[str, ...]
    sheets: tuple[RawSheet, ...]
    files: tuple[InputFile, ...]

    def sheet(self, month: str, name: str) -> RawSheet | None:
        """The sheet ``name`` of ``month``, or None when that month did not report it."""
        return next((s for s in self.sheets if s.month == month and s.sheet == name), None)


def normalise_header(text: object) -> str:
    """A header cell as compared: NFKC, trimmed, inner whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", cell_text(text)).split())


@cache
def column_specs() -> dict[str, tuple[ColumnSpec, ...]]:
    """The canonical columns of each sheet from ``columns.toml``, in file order."""
    with COLUMNS_FILE.open("rb") as handle:
        data = tomllib.load(handle)
    return {
        sheet: tuple(
            ColumnSpec(name, str(spec["ja"]), bool(spec.get("required", False))) for name, spec in cols.items()
        )
        for sheet, cols in data.items()
    }


def month_folders(input_dir: Path, month: str) -> list[str]:
    """The ``YYYY-MM`` folders of ``input_dir`` up to and including ``month``; ``month`` must exist."""
    if not MONTH_FOLDER.fullmatch(month):
        raise FatalInputError("--month", f"expected a month like 2026-04, got {month!r}")
    if not input_dir.is_dir():
        raise FatalInputError(input_dir, "input folder missing")
    if not (input_dir / month).is_dir():
        raise FatalInputError(input_dir / month, f"month folder for {month} missing")
    return sorted(
        entry.name
        for entry in input_dir.iterdir()
        if entry.is_dir() and MONTH_FOLDER.fullmatch(entry.name) and entry.name <= month
    )


def latest_month(input_dir: Path) -> str:
    """The latest ``YYYY-MM`` folder of ``input_dir`` (the default as-at month); a one-line error
    naming the folder when it is missing or has no month folder."""
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise FatalInputError(input_dir, "input folder missing")
    months = sorted(
        entry.name for entry in input_dir.iterdir() if entry.is_dir() and MONTH_FOLDER.fullmatch(entry.name)
    )
    if not months:
        raise FatalInputError(
            input_dir,
            "no YYYY-MM month folders in this folder (a month's bordereaux go in <input>/YYYY-MM/, "
            "e.g. 2026-04/policies.xlsx and 2026-04/claims.xlsx)",
        )
    return months[-1]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _open_workbook(path: Path, relative: str) -> CalamineWorkbook:
    try:
        return CalamineWorkbook.from_path(str(path))
    except Exception as error:
        kind = type(error).__name__
        with path.open("rb") as handle:
            ole = handle.read(len(OLE_SIGNATURE)) == OLE_SIGNATURE
        if ole or "password" in f"{kind} {error}".lower():
            hint = "password-protected (encrypted) or an old .xls file: remove the password and save as .xlsx"
        else:
            hint = "damaged or not an xlsx file"
        raise FatalInputError(relative, f"cannot be opened as an Excel workbook ({hint}: {kind})") from None


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number - 1


def _sheet_part(archive: zipfile.ZipFile, sheet: str) -> str | None:
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


def _has_marker(archive: zipfile.ZipFile, part: str) -> bool:
    tail = b""
    with archive.open(part) as stream:
        for block in iter(lambda: stream.read(1 << 22), b""):
            window = tail + block
            if any(marker in window for marker in _SPECIAL_MARKERS):
                return True
            tail = block[-8:]
    return False


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


def special_cells(path: Path, sheet: str) -> dict[tuple[int, int], object]:
    """Cells python-calamine reads as empty although they are not (python-calamine issue #105):
    an Excel error value (``#N/A``) becomes its text, which the parsers reject by name; a formula
    with no saved result (a file written by a program that does not calculate, e.g. openpyxl)
    becomes an :class:`~pipeline.parse.UnsavedFormula`. Keyed by 0-based (row, column).

    The sheet's XML is scanned for the markers first (fast), and parsed only when they occur. A
    file whose XML cannot be scanned this way yields nothing (calamine has read it already)."""
    try:
        with zipfile.ZipFile(path) as archive:
            part = _sheet_part(archive, sheet)
            if part is None or not _has_marker(archive, part):
                return {}
            return {(row, column): cell for row, column, cell in _special_cells_of(archive, part)}
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, ElementTree.ParseError) as error:
        log.warning("%s: sheet '%s': could not scan for error cells (%s)", path, sheet, type(error).__name__)
        return {}


def _with_special_cells(rows: list[list[object]], special: dict[tuple[int, int], object]) -> list[list[object]]:
    for (row, column), cell in special.items():
        while len(rows) <= row:
            rows.append([])
        line = rows[row]
        if len(line) <= column:
            line.extend([""] * (column + 1 - len(line)))
        if is_empty_cell(line[column]):
            line[column] = cell
    return rows


def _unnamed(position: int) -> str:
    letters = ""
    position += 1
    while position:
        position, rest = divmod(position - 1, 26)
        letters = chr(65 + rest) + letters
    return f"(column {letters})"


def _merged_header_hint(merged: Sequence[tuple[tuple[int, int], tuple[int, int]]]) -> str:
    """'; header cells A1:B1 are merged (unmerge them)' when merged ranges touch the header row."""
    ranges = [
        f"{_unnamed(start[1])[8:-1]}{start[0] + 1}:{_unnamed(end[1])[8:-1]}{end[0] + 1}"
        for start, end in merged
        if start[0] == 0
    ]
    return f"; header cells {', '.join(ranges)} are merged (unmerge them)" if ranges else ""


def _header_map(
    headers: list[object], sheet: str, relative: str, merged: Sequence[tuple[tuple[int, int], tuple[int, int]]] = ()
) -> dict[int, str]:
    """Column position -> column name (canonical, or the header text of an unknown column)."""
    specs = column_specs()[sheet]
    lookup: dict[str, str] = {}
    for spec in specs:
        lookup[spec.name.lower()] = spec.name
        lookup[normalise_header(spec.ja)] = spec.name
    names: dict[int, str] = {}
    seen: dict[str, object] = {}
    for position, header in enumerate(headers):
        text = normalise_header(header)
        if not text:
            names[position] = _unnamed(position)  # kept only if a cell below holds a value
            continue
        name = lookup.get(text.lower(), lookup.get(text, text))
        if name in RESERVED_COLUMNS or (name in STAGE_COLUMNS and name not in lookup.values()):
            name = f"{name} (input)"
        if name in seen:
            raise FatalInputError(
                relative, f"sheet '{sheet}': duplicated header {name!r} (cells {seen[name]!r} and {header!r})"
            )
        seen[name] = header
        names[position] = name
    missing = [spec for spec in specs if spec.required and spec.name not in seen]
    if missing:
        listed = ", ".join(f"{spec.name} ({spec.ja})" for spec in missing)
        canonical = {spec.name for spec in specs}
        unknown = [repr(name) for name in seen if name not in canonical and not name.endswith(" (input)")]
        hint = f"; headers not recognised: {', '.join(unknown[:5])}" if unknown else ""
        raise FatalInputError(
            relative, f"sheet '{sheet}': required column missing: {listed}{hint}{_merged_header_hint(merged)}"
        )
    return names


def _empty_row(row: Sequence[object]) -> bool:
    for cell in row:
        if cell is None or (type(cell) is str and not cell):  # calamine's empty cell, checked first for speed
            continue
        if not is_empty_cell(cell):
            return False
    return True


def read_sheet(
    rows: Sequence[Sequence[object]],
    month: str,
    relative: str,
    sheet: str,
    merged: Sequence[tuple[tuple[int, int], tuple[int, int]]] = (),
) -> RawSheet:
    """A raw sheet from calamine's rows (``skip_empty_area=False``: ``rows[0]`` is Excel row 1).
    ``merged``: the sheet's merged ranges ((row, column), (row, column)), 0-based, for messages."""
    if not rows or (all(is_empty_cell(cell) for cell in rows[0]) and len(rows) == 1):
        raise FatalInputError(relative, f"sheet '{sheet}' is empty (no header row)")
    names = _header_map(list(rows[0]), sheet, relative, merged)
    positions = list(names)
    kept: list[list[object]] = []
    excel_rows: list[int] = []
    every_column = positions == list(range(len(positions)))
    for number, row in enumerate(rows[1:], start=2):
        if _empty_row(row):
            continue
        if every_column and len(row) == len(positions) and isinstance(row, list):
            kept.append(row)  # the common case, kept fast for sheets of a million rows
        else:
            kept.append([row[i] if i < len(row) else "" for i in positions])
        excel_rows.append(number)
    frame = pd.DataFrame(kept, columns=[names[i] for i in positions], dtype=object)
    if not kept:
        frame = pd.DataFrame({names[i]: pd.Series(dtype=object) for i in positions})
    return _raw_sheet(frame, excel_rows, month, relative, sheet)


def _raw_sheet(frame: pd.DataFrame, excel_rows: Sequence[int], month: str, relative: str, sheet: str) -> RawSheet:
    """The raw sheet from the kept rows under their column names: unnamed empty columns dropped,
    canonical columns first (a missing one all empty), then the unknown ones, then ``excel_row``."""
    unused = [name for name in frame.columns if name.startswith("(column ") and frame[name].map(is_empty_cell).all()]
    frame = frame.drop(columns=unused)
    canonical = [spec.name for spec in column_specs()[sheet]]
    extra = tuple(name for name in frame.columns if name not in canonical)
    for name in canonical:
        if name not in frame.columns:
            frame[name] = ""
    frame = frame[[*canonical, *extra]].assign(**{EXCEL_ROW: pd.Series(excel_rows, dtype="int64")})
    return RawSheet(month=month, file=relative, sheet=sheet, frame=frame, extra_columns=extra)


def _read_file(path: Path, month: str, relative: str, sheet_names: tuple[str, ...]) -> list[RawSheet]:
    workbook = _open_workbook(path, relative)
    available: dict[str, list[str]] = {}
    for name in workbook.sheet_names:
        available.setdefault(normalise_header(name).lower(), []).append(name)
    sheets = []
    for sheet in sheet_names:
        actual = available.get(sheet, [])
        if not actual:
            listed = ", ".join(repr(name) for name in workbook.sheet_names)
            raise FatalInputError(relative, f"required sheet '{sheet}' missing (sheets: {listed})")
        if len(actual) > 1:
            listed = ", ".join(repr(name) for name in actual)
            raise FatalInputError(relative, f"several sheets could be '{sheet}' ({listed}): keep one")
        try:
            worksheet = workbook.get_sheet_by_name(actual[0])
            rows: Sequence[Sequence[object]] = worksheet.to_python(skip_empty_area=False)
            merged = worksheet.merged_cell_ranges or []
        except Exception as error:
            raise FatalInputError(relative, f"sheet '{sheet}' cannot be read ({type(error).__name__})") from None
        special = special_cells(path, actual[0])
        if special:
            rows = _with_special_cells([list(row) for row in rows], special)
        sheets.append(read_sheet(rows, month, relative, sheet, merged))
    return sheets


def _parquet_empty(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Per row, whether the Parquet cell is empty as :func:`~pipeline.parse.is_empty_cell` says
    (null, NaN, whitespace-only text); each distinct text is checked once."""
    empty = column.is_null()
    if pa.types.is_floating(column.type):
        empty = pc.or_(empty, pc.fill_null(pc.is_nan(column), False))
    elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        blanks = [text for text in pc.unique(column).to_pylist() if text is not None and is_empty_cell(text)]
        if blanks:
            empty = pc.or_(empty, pc.is_in(column, value_set=pa.array(blanks, column.type)))
    return empty


def read_parquet_sheet(path: Path, month: str, relative: str, sheet: str) -> RawSheet:
    """A raw sheet from a Parquet file: its column names are the headers, its cells python values
    (as python-calamine gives them: str, int, float, bool, date, datetime; None when null); a row
    keeps its Parquet row number + 2 as its Excel row (the header being row 1)."""
    try:
        table = _parquet_parts(path) if path.is_dir() else pq.read_table(path)
    except Exception as error:
        raise FatalInputError(relative, f"cannot be read as a Parquet file ({type(error).__name__})") from None
    names = _header_map(list(table.column_names), sheet, relative)
    columns = [
        column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column
        for column in table.columns
    ]
    keep = pa.chunked_array([pa.array(np.zeros(table.num_rows, dtype=bool))])  # a row with any cell given
    for column in columns:
        keep = pc.or_(keep, pc.invert(_parquet_empty(column)))
    rows = np.flatnonzero(keep.to_numpy(zero_copy_only=False))
    frame = pd.DataFrame(
        {names[i]: pd.Series(column.take(rows).to_pylist(), dtype=object) for i, column in enumerate(columns)}
    )
    return _raw_sheet(frame, (rows + 2).tolist(), month, relative, sheet)


def _parquet_parts(folder: Path) -> pa.Table:
    """The parts of a folder sheet one under the other, in the order of their names."""
    parts = [pq.read_table(part) for part in sorted(folder.glob(PARQUET_PART))]
    return pa.concat_tables(parts, promote_options="permissive")


def _folder_sha256(folder: Path) -> str:
    """One SHA-256 for a folder sheet: its parts' names and contents, in name order."""
    digest = hashlib.sha256()
    for part in sorted(folder.glob(PARQUET_PART)):
        digest.update(f"{part.name}\0{_sha256(part)}\0".encode())
    return digest.hexdigest()


def find_bordereaux(input_dir: Path, month: str) -> BordereauFiles:
    """The month folders up to and including ``month`` (which must exist) and their input files,
    hashed (SHA-256) but not opened. A sheet given twice in a month (as xlsx and as Parquet) stops
    the run."""
    input_dir = Path(input_dir)
    months = month_folders(input_dir, month)
    files: list[SourceFile] = []
    for folder in months:
        given: dict[str, str] = {}
        for file_name, sheet_names in {**BORDEREAU_FILES, **PARQUET_FILES, **PARQUET_FOLDERS}.items():
            path = input_dir / folder / file_name
            if not path.exists():
                continue
            relative = f"{folder}/{file_name}"
            is_folder = file_name in PARQUET_FOLDERS
            if is_folder and not (path.is_dir() and any(path.glob(PARQUET_PART))):
                raise FatalInputError(relative, f"is not a folder of {PARQUET_PART} files")
            if not is_folder and not path.is_file():
                raise FatalInputError(relative, "is not a file")
            relative += "/" if is_folder else ""
            for sheet in sheet_names:
                if sheet in given:
                    raise FatalInputError(relative, f"sheet '{sheet}' is also given by {given[sheet]}: keep one")
                given[sheet] = relative
            files.append(
                SourceFile(folder, relative, path, sheet_names, (_folder_sha256 if is_folder else _sha256)(path))
            )
    order = {sheet: number for number, sheet in enumerate(("policies", "claims", "lines"))}
    files.sort(key=lambda f: (f.month, order[f.sheets[0]]))
    return BordereauFiles(input_dir=input_dir, months=tuple(months), files=tuple(files))


def read_file(source: SourceFile) -> list[RawSheet]:
    """The sheets of one input file, in the order of ``source.sheets``."""
    if source.path.suffix == ".parquet" or source.path.is_dir():
        return [read_parquet_sheet(source.path, source.month, source.file, sheet) for sheet in source.sheets]
    return _read_file(source.path, source.month, source.file, source.sheets)


def read_month(files: BordereauFiles, month: str) -> list[RawSheet]:
    """Every sheet of ``month`` (policies, claims, lines; those it reported)."""
    return [sheet for source in files.of_month(month) for sheet in read_file(source)]


def input_file(source: SourceFile, rows: dict[str, int]) -> InputFile:
    """The manifest entry of an input file, given its rows read per sheet."""
    return InputFile(source.file, source.sha256, {sheet: rows.get(sheet, 0) for sheet in source.sheets})


def input_files(files: BordereauFiles, counts: pd.DataFrame) -> list[InputFile]:
    """The manifest entries of every input file, with the rows read per sheet from ``counts`` (the
    validation's counts per month, file and sheet: a cached month's file is not opened)."""
    rows = counts.groupby(["file", "sheet"], sort=False)["rows_read"].sum()
    return [
        input_file(source, {sheet: int(rows.get((source.file, sheet), 0)) for sheet in source.sheets})
        for source in files.files
    ]


def read_bordereaux(input_dir: Path, month: str) -> Bordereaux:
    """Every bordereau of every month folder up to and including ``month`` (which must exist), read."""
    found = find_bordereaux(input_dir, month)
    sheets: list[RawSheet] = []
    files: list[InputFile] = []
    for source in found.files:
        read = read_file(source)
        sheets.extend(read)
        files.append(input_file(source, {s.sheet: s.rows_read for s in read}))
    return Bordereaux(input_dir=found.input_dir, months=found.months, sheets=tuple(sheets), files=tuple(files))
