"""Read the monthly bordereaux of every month up to M into raw sheets (DATA_CONTRACT.md § Input,
§ Validation details).

A raw sheet keeps every cell exactly as python-calamine returns it (text, number, bool, date); only
the headers are interpreted here. Header cells match a canonical column after Unicode NFKC and
trimming, the English name case-insensitively or the Japanese label from ``columns.toml``; columns
may come in any order; a missing optional column reads as all empty; unknown columns are carried
through. Wholly empty rows are skipped and not counted. Every row keeps its Excel row number
(1-based, the header is row 1).

python-calamine reads an Excel error value (``#N/A``) and a formula with no saved result as an empty
cell; :func:`~pipeline.io.sheet_xml.special_cells` finds them in the sheet's XML so that they are
rejected by name instead of vanishing (an error in an optional column would otherwise pass as "not
given"). A sheet whose cells reach too far for python-calamine is read from a copy bounded by its
non-blank cells (:func:`~pipeline.io.sheet_xml.bounded_workbook`).

A sheet may also come as a Parquet file (``policies.parquet``, ``claims.parquet``, ``lines.parquet``:
one sheet each, for books beyond an Excel sheet's 1,048,576 rows). Its columns are headers and its
cells values, read through the same header matching, empty-row rule and parsers; its "Excel row" is
the Parquet row number (0-based) + 2, as if the file were a sheet under a header row. A sheet may
also be a folder of Parquet parts (``lines/part-00000.parquet``, ...: its file is named
``<month>/lines/``); its rows are the parts' rows in the order of the parts' names, numbered on from
one part to the next as one sheet.

Reading is in two steps so that a month whose parse is cached (pipeline.io.cache) is never opened:
:func:`~pipeline.io.find.find_bordereaux` lists the month folders and files and hashes them (cheap);
:func:`read_month` reads the sheets of one month.

Anything that makes a month unreadable raises :class:`~pipeline.errors.FatalInputError` with one
line naming the file and the problem.
"""

from __future__ import annotations

import logging
import tomllib
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from python_calamine import CalamineWorkbook

from pipeline.cell_columns import PackedFrame, concatenated_frames, python_values, without_columns
from pipeline.errors import FatalInputError
from pipeline.io.find import BordereauFiles, InputFile, SourceFile, find_bordereaux, input_file
from pipeline.io.inventory import part_paths
from pipeline.io.sheet_xml import CELL_BUDGET, bounded_workbook, column_letters, sheet_scan, special_cells
from pipeline.parse import cell_text, is_empty_cell
from pipeline.tables import EXCEL_ROW, RESERVED_COLUMNS, STAGE_COLUMNS, RawSheet

log = logging.getLogger(__name__)

COLUMNS_FILE = Path(__file__).parent / "columns.toml"

# An unknown input column whose header, after NFKC (normalise_header) and case-folding, is the name
# of a column the pipeline adds is carried as "<header> (input)": `Annual_Premium`, `ＵＰＲ` and
# `status` never push the contract's `annual_premium`, `upr` or `status` aside.
_COMPUTED_KEYS = frozenset(name.casefold() for name in (*RESERVED_COLUMNS, *STAGE_COLUMNS))
# An OLE compound file: what Excel writes for an encrypted (password-protected) workbook, or an old .xls.
OLE_SIGNATURE = bytes.fromhex("D0CF11E0A1B11AE1")


@dataclass(frozen=True)
class ColumnSpec:
    """One canonical input column: its name, Japanese label and whether the sheet must have it."""

    name: str
    ja: str
    required: bool


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


def open_workbook(path: Path, relative: str) -> CalamineWorkbook:
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


UNNAMED_COLUMN = "(column "
"""How the name of a column without a header starts: ``(column F)``."""


def _unnamed(position: int) -> str:
    return f"{UNNAMED_COLUMN}{column_letters(position)})"


def _merged_header_hint(merged: Sequence[tuple[tuple[int, int], tuple[int, int]]]) -> str:
    """'; header cells A1:B1 are merged (unmerge them)' when merged ranges touch the header row."""
    ranges = [
        f"{column_letters(start[1])}{start[0] + 1}:{column_letters(end[1])}{end[0] + 1}"
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
        if name not in lookup.values() and name.casefold() in _COMPUTED_KEYS:
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
    header_row: int = 1,
) -> RawSheet:
    """A raw sheet from calamine's rows (``skip_empty_area=False``: ``rows[0]`` is Excel row 1).
    ``merged``: the sheet's merged ranges ((row, column), (row, column)), 0-based, for messages.
    ``header_row``: the Excel row of the headers (a cover-holder's layout may have titles above)."""
    header = header_row - 1
    if len(rows) <= header or (all(is_empty_cell(cell) for cell in rows[header]) and len(rows) == header + 1):
        where = "no header row" if header_row == 1 else f"no header row: row {header_row} is empty"
        raise FatalInputError(relative, f"sheet '{sheet}' is empty ({where})")
    names = _header_map(list(rows[header]), sheet, relative, merged)
    positions = list(names)
    kept: list[list[object]] = []
    excel_rows: list[int] = []
    every_column = positions == list(range(len(positions)))
    for number, row in enumerate(rows[header + 1 :], start=header_row + 1):
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
    header_cells = rows[header]  # the headers as written, where other than the column's own name
    written = tuple(
        (names[i], cell_text(header_cells[i]))
        for i in positions
        if i < len(header_cells) and normalise_header(header_cells[i]).lower() not in ("", names[i].lower())
    )
    return replace(_raw_sheet(frame, excel_rows, month, relative, sheet), headers=written)


def _unused_columns(names: Iterable[str], column: Callable[[str], pd.Series]) -> list[str]:
    """Of the columns ``names`` (``column`` gives each one's cells), those without a header whose
    every cell is empty (left out of a sheet)."""
    return [name for name in names if name.startswith(UNNAMED_COLUMN) and column(name).map(is_empty_cell).all()]


def _raw_sheet(
    frame: pd.DataFrame, excel_rows: Sequence[int], month: str, relative: str, sheet: str, *, whole: bool = True
) -> RawSheet:
    """The raw sheet from the kept rows under their column names: unnamed empty columns dropped
    (``whole``; a part of a sheet keeps them: whether they are empty is known of the whole sheet,
    :func:`combined_parts`), canonical columns first (a missing one all empty), then the unknown
    ones, then ``excel_row``."""
    frame = frame.drop(columns=_unused_columns(frame.columns, frame.__getitem__) if whole else [])
    canonical = [spec.name for spec in column_specs()[sheet]]
    extra = tuple(name for name in frame.columns if name not in canonical)
    for name in canonical:
        if name not in frame.columns:
            frame[name] = ""
    frame = frame[[*canonical, *extra]].assign(**{EXCEL_ROW: pd.Series(excel_rows, dtype="int64")})
    return RawSheet(month=month, file=relative, sheet=sheet, cells=frame, extra_columns=extra)


def worksheet_rows(
    workbook: CalamineWorkbook, path: Path, relative: str, name: str, sheet: str
) -> tuple[Sequence[Sequence[object]], list[tuple[tuple[int, int], tuple[int, int]]]]:
    """The rows of worksheet ``name`` (holding the contract's ``sheet``) from Excel row 1, and its
    merged ranges: a sheet whose farthest cell is beyond the reader's budget is read from a copy
    with only its non-blank cells (a stray far cell never aborts the process), and the error values
    and formulas without a saved result that calamine reads as empty are put back."""
    scan = sheet_scan(path, name)
    book = workbook
    if scan.cells > CELL_BUDGET:  # python-calamine would allocate every cell up to the farthest one
        book = CalamineWorkbook.from_filelike(bounded_workbook(path, relative, sheet, scan))
    try:
        worksheet = book.get_sheet_by_name(name)
        rows: Sequence[Sequence[object]] = worksheet.to_python(skip_empty_area=False)
        merged = list(worksheet.merged_cell_ranges or [])
    except Exception as error:
        raise FatalInputError(relative, f"sheet '{name}' cannot be read ({type(error).__name__})") from None
    special = special_cells(path, scan)
    if special:
        rows = _with_special_cells([list(row) for row in rows], special)
    return rows, merged


def _read_file(path: Path, month: str, relative: str, sheet_names: tuple[str, ...]) -> list[RawSheet]:
    workbook = open_workbook(path, relative)
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
        rows, merged = worksheet_rows(workbook, path, relative, actual[0], sheet)
        sheets.append(read_sheet(rows, month, relative, sheet, merged))
    return sheets


def _parquet_empty(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Per row, whether the Parquet cell is empty as :func:`~pipeline.parse.is_empty_cell` says
    (null, NaN, whitespace-only text); each distinct text with no ASCII letter or digit (an id or
    a name has one) is checked once."""
    empty = column.is_null()
    if pa.types.is_floating(column.type):
        empty = pc.or_(empty, pc.fill_null(pc.is_nan(column), False))
    elif pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        distinct = pc.unique(column)
        maybe = distinct.filter(pc.invert(pc.match_substring_regex(distinct, "[0-9A-Za-z]")))
        blanks = [text for text in maybe.to_pylist() if is_empty_cell(text)]
        if blanks:
            empty = pc.or_(empty, pc.is_in(column, value_set=pa.array(blanks, column.type)))
    return empty


def _nan_as_null(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A float column with NaN as null: in Parquet, NaN is how pandas writes a missing value (an
    xlsx cell holding NaN, which no Excel writes, is a bad value instead)."""
    if not pa.types.is_floating(column.type):
        return column
    return pc.if_else(pc.fill_null(pc.is_nan(column), False), pa.scalar(None, column.type), column)


def read_parquet_sheet(path: Path, month: str, relative: str, sheet: str) -> RawSheet:
    """A raw sheet from a Parquet file: its column names are the headers, its cells python values
    (as python-calamine gives them: str, int, float, bool, date, datetime; None when null); a row
    keeps its Parquet row number + 2 as its Excel row (the header being row 1)."""
    try:
        table = _parquet_parts(path) if path.is_dir() else pq.read_table(path)
    except Exception as error:
        raise FatalInputError(relative, f"cannot be read as a Parquet file ({type(error).__name__})") from None
    return _parquet_raw_sheet(table, 2, month, relative, sheet)


@dataclass(frozen=True)
class ParquetPart:
    """One part of a folder sheet: its file, the sheet row its first row is, and the schema of all
    the folder's parts together, which the part is read conformed to."""

    path: Path
    first_row: int
    schema: pa.Schema


def parquet_parts(source: SourceFile) -> list[ParquetPart] | None:
    """The parts of the folder sheet ``source``, in the order of their names, from their footers
    alone (each opened once): where each starts and the parts' common schema (types promoted as
    when the parts are read one under the other). None when a footer cannot be read or the
    schemas cannot be one: the folder is then read whole (:func:`read_parquet_sheet`), which names
    the problem in the order of the run's files."""
    paths = part_paths(source.path)
    try:
        files = [pq.ParquetFile(path) for path in paths]
        schema = pa.unify_schemas([file.schema_arrow for file in files], promote_options="permissive")
    except Exception:
        return None
    starts = 2 + np.cumsum([0, *(file.metadata.num_rows for file in files[:-1])])
    return [ParquetPart(path, int(start), schema) for path, start in zip(paths, starts, strict=True)]


def read_parquet_part(source: SourceFile, part: ParquetPart) -> RawSheet:
    """One part (:func:`parquet_parts`) of the folder sheet ``source``, read as its rows of the
    whole sheet would be (:func:`read_parquet_sheet`): its columns conformed to the parts' common
    schema (a column the part lacks is empty), its rows numbered on from the parts before it. Put
    the parts back together with :func:`combined_parts`."""
    try:
        table = _conformed(pq.read_table(part.path), part.schema)
    except Exception as error:
        raise FatalInputError(source.file, f"cannot be read as a Parquet file ({type(error).__name__})") from None
    (sheet,) = source.sheets
    return _parquet_raw_sheet(table, part.first_row, source.month, source.file, sheet, whole=False)


def _conformed(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with ``schema``'s columns in its order (a missing one all null), cast to its types."""
    columns = [
        table.column(field.name) if field.name in table.column_names else pa.nulls(table.num_rows, field.type)
        for field in schema
    ]
    return pa.Table.from_arrays(columns, names=schema.names).cast(schema) if columns else table


def combined_parts(parts: Sequence[RawSheet]) -> RawSheet:
    """The parts of one folder sheet (:func:`read_parquet_part`, in order) as the one sheet
    :func:`read_parquet_sheet` reads from the whole folder: rows one under the other (index
    0..n-1), the unnamed columns left out where every part's cells are empty. Parts sent from the
    processes that read them stay packed (``pipeline.cell_columns``): put together packed."""
    first = parts[0]
    cells = [part.cells for part in parts]
    packed = [part for part in cells if isinstance(part, PackedFrame)]
    together: pd.DataFrame | PackedFrame
    if len(packed) == len(cells) and all(part.columns.equals(packed[0].columns) for part in packed):
        together = concatenated_frames(packed)
    else:
        together = pd.concat([part.frame for part in parts], ignore_index=True)
    whole = replace(first, cells=together)
    unused = _unused_columns(whole.columns, whole.column)
    return RawSheet(
        month=first.month,
        file=first.file,
        sheet=first.sheet,
        cells=together.drop(columns=unused)
        if isinstance(together, pd.DataFrame)
        else without_columns(together, unused),
        extra_columns=tuple(name for name in first.extra_columns if name not in unused),
    )


def _parquet_raw_sheet(
    table: pa.Table, first_row: int, month: str, relative: str, sheet: str, *, whole: bool = True
) -> RawSheet:
    """The raw sheet of a Parquet table whose first row is ``first_row`` of the sheet (2: below the header)."""
    names = _header_map(list(table.column_names), sheet, relative)
    columns = [
        _nan_as_null(column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column)
        for column in table.columns
    ]
    keep = pa.chunked_array([pa.array(np.zeros(table.num_rows, dtype=bool))])  # a row with any cell given
    for column in columns:
        keep = pc.or_(keep, pc.invert(_parquet_empty(column)))
    rows = np.flatnonzero(keep.to_numpy(zero_copy_only=False))
    kept = {names[i]: column.take(rows) for i, column in enumerate(columns)}
    frame = pd.DataFrame({name: pd.Series(python_values(column), dtype=object) for name, column in kept.items()})
    raw = _raw_sheet(frame, (rows + first_row).tolist(), month, relative, sheet, whole=whole)
    return replace(raw, arrow={name: column for name, column in kept.items() if name in raw.columns})


def _parquet_parts(folder: Path) -> pa.Table:
    """The parts of a folder sheet one under the other, in the order of their names."""
    parts = [pq.read_table(part) for part in part_paths(folder)]
    return pa.concat_tables(parts, promote_options="permissive")


def read_file(source: SourceFile) -> list[RawSheet]:
    """The sheets of one input file, in the order of ``source.sheets``."""
    if source.path.suffix == ".parquet" or source.path.is_dir():
        return [read_parquet_sheet(source.path, source.month, source.file, sheet) for sheet in source.sheets]
    return _read_file(source.path, source.month, source.file, source.sheets)


def read_month(files: BordereauFiles, month: str) -> list[RawSheet]:
    """Every sheet of ``month`` (policies, claims, lines; those it reported)."""
    return [sheet for source in files.of_month(month) for sheet in read_file(source)]


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
