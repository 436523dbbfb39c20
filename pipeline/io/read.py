"""Read the monthly bordereaux of every month up to M into raw sheets (DATA_CONTRACT.md § Input,
§ Validation details).

A raw sheet keeps every cell exactly as python-calamine returns it (text, number, bool, date); only
the headers are interpreted here. Header cells match a canonical column after Unicode NFKC and
trimming, the English name case-insensitively or the Japanese label from ``columns.toml``; columns
may come in any order; a missing optional column reads as all empty; unknown columns are carried
through. Wholly empty rows are skipped and not counted. Every row keeps its Excel row number
(1-based, the header is row 1).

Anything that makes a month unreadable raises :class:`~pipeline.errors.FatalInputError` with one
line naming the file and the problem.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pandas as pd
from python_calamine import CalamineWorkbook

from pipeline.errors import FatalInputError
from pipeline.parse import cell_text, is_empty_cell

COLUMNS_FILE = Path(__file__).parent / "columns.toml"
MONTH_FOLDER = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
EXCEL_ROW = "excel_row"
# Names the pipeline adds to every row; an input column of the same name is renamed on reading.
RESERVED_COLUMNS = ("bordereau_month", "source_file", "source_sheet", EXCEL_ROW, "first_month")

# The workbooks of a month and the sheets each must hold (DATA_CONTRACT.md § Input).
BORDEREAU_FILES: dict[str, tuple[str, ...]] = {
    "policies.xlsx": ("policies",),
    "claims.xlsx": ("claims", "lines"),
}


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
        hint = "password-protected" if "password" in f"{kind} {error}".lower() else "damaged or not an xlsx file"
        raise FatalInputError(relative, f"cannot be opened as an Excel workbook ({hint}: {kind})") from None


def _unnamed(position: int) -> str:
    letters = ""
    position += 1
    while position:
        position, rest = divmod(position - 1, 26)
        letters = chr(65 + rest) + letters
    return f"(column {letters})"


def _header_map(headers: list[object], sheet: str, relative: str) -> dict[int, str]:
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
        if name in RESERVED_COLUMNS:
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
        raise FatalInputError(relative, f"sheet '{sheet}': required column missing: {listed}")
    return names


def read_sheet(rows: Sequence[Sequence[object]], month: str, relative: str, sheet: str) -> RawSheet:
    """A raw sheet from calamine's rows (``skip_empty_area=False``: ``rows[0]`` is Excel row 1)."""
    if not rows:
        raise FatalInputError(relative, f"sheet '{sheet}' is empty (no header row)")
    names = _header_map(list(rows[0]), sheet, relative)
    positions = list(names)
    kept: list[list[object]] = []
    excel_rows: list[int] = []
    for number, row in enumerate(rows[1:], start=2):
        if all(is_empty_cell(cell) for cell in row):
            continue
        kept.append([row[i] if i < len(row) else "" for i in positions])
        excel_rows.append(number)
    frame = pd.DataFrame(kept, columns=[names[i] for i in positions], dtype=object)
    if not kept:
        frame = pd.DataFrame({names[i]: pd.Series(dtype=object) for i in positions})
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
    available = {normalise_header(name).lower(): name for name in workbook.sheet_names}
    sheets = []
    for sheet in sheet_names:
        actual = available.get(sheet)
        if actual is None:
            listed = ", ".join(repr(name) for name in workbook.sheet_names)
            raise FatalInputError(relative, f"required sheet '{sheet}' missing (sheets: {listed})")
        try:
            rows = workbook.get_sheet_by_name(actual).to_python(skip_empty_area=False)
        except Exception as error:
            raise FatalInputError(relative, f"sheet '{sheet}' cannot be read ({type(error).__name__})") from None
        sheets.append(read_sheet(rows, month, relative, sheet))
    return sheets


def read_bordereaux(input_dir: Path, month: str) -> Bordereaux:
    """Every bordereau of every month folder up to and including ``month`` (which must exist)."""
    input_dir = Path(input_dir)
    months = month_folders(input_dir, month)
    sheets: list[RawSheet] = []
    files: list[InputFile] = []
    for folder in months:
        for file_name, sheet_names in BORDEREAU_FILES.items():
            path = input_dir / folder / file_name
            if not path.exists():
                continue
            relative = f"{folder}/{file_name}"
            if not path.is_file():
                raise FatalInputError(relative, "is not a file")
            read = _read_file(path, folder, relative, sheet_names)
            sheets.extend(read)
            files.append(InputFile(relative, _sha256(path), {s.sheet: s.rows_read for s in read}))
    return Bordereaux(input_dir=input_dir, months=tuple(months), sheets=tuple(sheets), files=tuple(files))
