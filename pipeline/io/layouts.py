"""Cover-holder layout files: many cover-holders, one portfolio (LAYOUTS.md).

A layout file (``layout.toml``) says how one cover-holder's bordereaux map onto DATA_CONTRACT.md:
which file and sheet of a month folder holds each contract sheet, on which row the headers are,
which of their headers is which contract column, which of their codes is which contract code, the
columns they never send (constants), the headers to leave out (``ignore``), and their extra date
spellings and thousands separator. It is read and checked here, at the start of a run, against the
contract (``columns.toml``, the parsers, the codes of the schemas and of the product data): a wrong
entry raises :class:`~pipeline.errors.FatalInputError` naming the layout file and the entry.

The input folder holds either month folders directly (one cover-holder, optionally with a
``layout.toml`` beside them) or one folder per cover-holder, each with month folders and an
optional ``layout.toml`` (:func:`coverholders`). No layout file means the contract's own layout.
"""

from __future__ import annotations

import fnmatch
import hashlib
import logging
import tomllib
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pandera.pandas as pa

from pipeline.errors import FatalInputError
from pipeline.io.find import BordereauFiles, SourceFile, find_bordereaux, latest_month
from pipeline.io.inventory import MONTH_FOLDER, NotRead
from pipeline.io.read import column_specs, open_workbook, read_file, read_sheet, worksheet_rows
from pipeline.parse import PARSERS, cell_text, half_width
from pipeline.tables import RawSheet

if TYPE_CHECKING:
    from pipeline.products import ProductBook

log = logging.getLogger(__name__)

LAYOUT_FILE = "layout.toml"
CONTRACT_SHEETS = ("policies", "claims", "lines")
TOP_KEYS = frozenset({"coverholder", "name", "files", "formats", "ignore"})
SHEET_KEYS = frozenset({"file", "sheet", "header_row", "columns", "values", "constants", "ignore"})
FORMAT_KEYS = frozenset({"dates", "thousands_separator"})
THOUSANDS_SEPARATORS = (",", ".", " ", "'")
# A strftime directive a date spelling must use (day, month and a four-digit year).
DATE_DIRECTIVES = ("%d", "%m", "%Y")
# (sheet, column) -> the codes the contract knows for that column.
Codes = Mapping[tuple[str, str], frozenset[str]]


@dataclass(frozen=True)
class SheetLayout:
    """How one contract sheet (``policies``, ``claims``, ``lines``) arrives from one cover-holder.

    ``columns``: contract column -> the header as the cover-holder writes it; ``values``: contract
    column -> (their code -> contract code); ``constants``: contract column -> the value every row
    gets; ``ignore``: headers left out of the outputs; ``sheet``: the sheet's name or 1-based
    position in the workbook; ``header_row``: 1-based, the rows above it are titles."""

    sheet: str
    file: str
    sheet_name: str | int
    header_row: int = 1
    columns: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    constants: Mapping[str, str] = field(default_factory=dict)
    ignore: tuple[str, ...] = ()


@dataclass(frozen=True)
class Layout:
    """One cover-holder's layout file, checked: its code and display name, one :class:`SheetLayout`
    per contract sheet it sends, and its extra date spellings and thousands separator."""

    path: Path
    coverholder: str
    name: str
    sheets: tuple[SheetLayout, ...]
    date_formats: tuple[str, ...] = ()
    thousands_separator: str = ","
    sha256: str = ""

    def sheet(self, name: str) -> SheetLayout | None:
        return next((sheet for sheet in self.sheets if sheet.sheet == name), None)


def normalised(text: object) -> str:
    """A header or sheet name as compared: NFKC, trimmed, inner white space collapsed
    (DATA_CONTRACT.md: headers match after NFKC normalisation and trimming)."""
    return " ".join(unicodedata.normalize("NFKC", cell_text(text)).split())


def normalised_code(cell: object) -> str:
    """A cover-holder's code as compared with a value map's keys: width-only (``half_width``, as the
    contract's own codes are read), trimmed, inner white space collapsed. Never NFKC on values: a
    circled ``⑩`` or a superscript is not the code ``10``."""
    return " ".join(half_width(cell_text(cell)).split())


def contract_columns() -> dict[str, tuple[str, ...]]:
    """The contract's columns of each sheet (``columns.toml`` order)."""

    return {sheet: tuple(spec.name for spec in specs) for sheet, specs in column_specs().items()}


def column_kinds() -> dict[str, dict[str, str]]:
    """How each contract column is parsed (``schemas``' ``*_KINDS``), per sheet."""
    from schemas.claims import CLAIM_KINDS
    from schemas.lines import LINE_KINDS
    from schemas.policies import POLICY_KINDS

    return {"policies": POLICY_KINDS, "claims": CLAIM_KINDS, "lines": LINE_KINDS}


def _isin_codes(model: type[pa.DataFrameModel]) -> dict[str, frozenset[str]]:
    codes: dict[str, frozenset[str]] = {}
    for name, column in model.to_schema().columns.items():
        for check in column.checks:
            allowed = (check.statistics or {}).get("allowed_values")
            if check.name == "isin" and allowed is not None:
                codes[name] = frozenset(str(value) for value in allowed)
    return codes


def known_codes(book: ProductBook) -> dict[tuple[str, str], frozenset[str]]:
    """(sheet, column) -> every code the contract knows for that column: the schemas' fixed lists
    and the product data's items, exclusions, events, evidence and payment methods."""
    from schemas.claims import ClaimParsed, ClaimValid
    from schemas.lines import LineParsed, LineValid
    from schemas.policies import PolicyParsed, PolicyValid

    codes: dict[tuple[str, str], frozenset[str]] = {}
    for sheet, models in (
        ("policies", (PolicyParsed, PolicyValid)),
        ("claims", (ClaimParsed, ClaimValid)),
        ("lines", (LineParsed, LineValid)),
    ):
        for model in models:
            for column, allowed in _isin_codes(model).items():
                codes[(sheet, column)] = codes.get((sheet, column), frozenset()) | allowed
    codes[("policies", "product")] = frozenset(book.products)
    codes[("lines", "item")] = frozenset(book.items()["item"]) | frozenset(book.never_paid_items)
    codes[("claims", "event_type")] = frozenset(book.event_types)
    codes[("claims", "evidence")] = frozenset(book.evidence_codes)
    codes[("claims", "exclusion_code")] = frozenset(
        exclusion for product in book.products.values() for exclusion in product.exclusions
    )
    return codes


class _Entries:
    """Reads one layout file and raises one-line errors naming the file and the entry."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.content = path.read_bytes()
            self.data = tomllib.loads(self.content.decode("utf-8"))
        except UnicodeDecodeError:
            raise FatalInputError(path, "layout file is not UTF-8 text") from None
        except tomllib.TOMLDecodeError as error:
            raise FatalInputError(path, f"layout file is not valid TOML ({error})") from None

    def fail(self, entry: str, problem: str) -> FatalInputError:
        return FatalInputError(self.path, f"{entry}: {problem}")

    def table(self, parent: dict[str, Any], key: str, entry: str) -> dict[str, Any]:
        value = parent.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(entry, f"expected a table, got {value!r}")
        return value

    def text(self, parent: dict[str, Any], key: str, entry: str, default: str | None = None) -> str:
        if key not in parent:
            if default is None:
                raise self.fail(entry, "missing")
            return default
        value = parent[key]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(entry, f"expected text, got {value!r}")
        return value

    def known_keys(self, table: dict[str, Any], allowed: frozenset[str], entry: str) -> None:
        unknown = sorted(set(table) - allowed)
        if unknown:
            where = f"{entry}.{unknown[0]}" if entry else unknown[0]
            raise self.fail(where, f"unknown entry (allowed: {', '.join(sorted(allowed))})")

    def texts(self, parent: dict[str, Any], key: str, entry: str) -> tuple[str, ...]:
        value = parent.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
            raise self.fail(entry, f"expected a list of text, got {value!r}")
        return tuple(value)


def _sheet_layout(
    entries: _Entries, sheet: str, table: dict[str, Any], ignored: tuple[str, ...], codes: Codes
) -> SheetLayout:
    entry = f"files.{sheet}"
    entries.known_keys(table, SHEET_KEYS, entry)
    file = entries.text(table, "file", f"{entry}.file")
    if "/" in file or "\\" in file:
        raise entries.fail(f"{entry}.file", f"a file name (glob) inside the month folder, got {file!r}")
    position = table.get("sheet", sheet)
    if (
        isinstance(position, bool)
        or not isinstance(position, str | int)
        or (isinstance(position, int) and position < 1)
    ):
        raise entries.fail(f"{entry}.sheet", f"expected a sheet name or its 1-based position, got {position!r}")
    header_row = table.get("header_row", 1)
    if isinstance(header_row, bool) or not isinstance(header_row, int) or header_row < 1:
        raise entries.fail(f"{entry}.header_row", f"expected a row number >= 1, got {header_row!r}")
    contract = contract_columns()[sheet]
    kinds = column_kinds()[sheet]

    def contract_column(where: str, column: str) -> str:
        if column not in contract:
            raise entries.fail(where, f"unknown contract column of sheet '{sheet}' (columns: {', '.join(contract)})")
        return column

    columns: dict[str, str] = {}
    headers: dict[str, str] = {}
    for column in entries.table(table, "columns", f"{entry}.columns"):
        where = f"{entry}.columns.{column}"
        contract_column(where, column)
        written = entries.text(table["columns"], column, where)
        key = normalised(written).lower()
        if key in headers:
            raise entries.fail(where, f"header {written!r} is also mapped to {headers[key]!r}")
        headers[key] = column
        columns[column] = written
    ignore = (*ignored, *entries.texts(table, "ignore", f"{entry}.ignore"))
    for header in ignore:
        if normalised(header).lower() in headers:
            raise entries.fail(f"{entry}.ignore", f"header {header!r} is both mapped and ignored")
    constants: dict[str, str] = {}
    for column, value in entries.table(table, "constants", f"{entry}.constants").items():
        where = f"{entry}.constants.{column}"
        contract_column(where, column)
        if column in columns:
            raise entries.fail(
                where, f"{column!r} is also read from header {columns[column]!r}: two values for one column"
            )
        if isinstance(value, bool | dict | list):
            raise entries.fail(where, f"expected a value as typed in a cell, got {value!r}")
        constants[column] = _checked_value(entries, where, sheet, column, kinds[column], value, codes)
    values: dict[str, dict[str, str]] = {}
    for column, mapping in entries.table(table, "values", f"{entry}.values").items():
        where = f"{entry}.values.{column}"
        contract_column(where, column)
        if not isinstance(mapping, dict):
            raise entries.fail(where, f"expected a table of their code = contract code, got {mapping!r}")
        mapped: dict[str, str] = {}
        for theirs, ours in mapping.items():
            code_entry = f"{where}.{theirs!r}" if not theirs.isidentifier() else f"{where}.{theirs}"
            if isinstance(ours, bool | dict | list):
                raise entries.fail(code_entry, f"expected a code, got {ours!r}")
            key = normalised_code(theirs)
            if key in mapped:
                raise entries.fail(code_entry, f"their code {theirs!r} is mapped twice")
            mapped[key] = _checked_value(entries, code_entry, sheet, column, kinds[column], ours, codes)
        values[column] = mapped
    return SheetLayout(
        sheet=sheet,
        file=file,
        sheet_name=position,
        header_row=header_row,
        columns=columns,
        values=values,
        constants=constants,
        ignore=ignore,
    )


def _checked_value(
    entries: _Entries, where: str, sheet: str, column: str, kind: str, value: object, codes: Codes
) -> str:
    """A contract value given in the layout (a value map's target or a constant), as text: it must
    parse as the column's kind and, for a coded column, be a code the contract knows."""
    text = cell_text(value)
    parsed, errors = PARSERS[kind](pd.Series([text], dtype=object))
    if errors.notna().any():
        raise entries.fail(where, f"{text!r} is not a valid {column}: {errors.iloc[0]}")
    allowed = codes.get((sheet, column))
    if allowed is not None and kind in ("code", "code_list"):
        given = [part for part in str(parsed.iloc[0] or "").split(";") if part]
        unknown = [code for code in given if code not in allowed]
        if unknown:
            raise entries.fail(where, f"unknown code {unknown[0]!r} for {column} (codes: {', '.join(sorted(allowed))})")
    return text


def load_layout(path: Path, default_code: str, book: ProductBook) -> Layout:
    """The layout file at ``path``, checked against the contract; the cover-holder's code is
    ``default_code`` (its folder's name) unless the file names one."""
    path = Path(path)
    entries = _Entries(path)
    data = entries.data
    entries.known_keys(data, TOP_KEYS, "")
    code = entries.text(data, "coverholder", "coverholder", default_code)
    if code != code.strip() or any(char in code for char in "/\\:"):
        raise entries.fail("coverholder", f"a code without spaces at the ends, '/', '\\' or ':', got {code!r}")
    name = entries.text(data, "name", "name", code)
    ignored = entries.texts(data, "ignore", "ignore")
    files = entries.table(data, "files", "files")
    if not files:
        raise entries.fail("files", "no [files.<sheet>] table: say where at least the policies come from")
    codes = known_codes(book)
    sheets = []
    for sheet, table in files.items():
        if sheet not in CONTRACT_SHEETS:
            raise entries.fail(f"files.{sheet}", f"unknown contract sheet (sheets: {', '.join(CONTRACT_SHEETS)})")
        if not isinstance(table, dict):
            raise entries.fail(f"files.{sheet}", f"expected a table, got {table!r}")
        sheets.append(_sheet_layout(entries, sheet, table, ignored, codes))
    formats = entries.table(data, "formats", "formats")
    entries.known_keys(formats, FORMAT_KEYS, "formats")
    dates = entries.texts(formats, "dates", "formats.dates")
    for spelling in dates:
        if not all(directive in spelling for directive in DATE_DIRECTIVES):
            raise entries.fail("formats.dates", f"{spelling!r} must hold %d, %m and %Y (day, month, 4-digit year)")
    separator = formats.get("thousands_separator", ",")
    if separator not in THOUSANDS_SEPARATORS:
        allowed = ", ".join(repr(s) for s in THOUSANDS_SEPARATORS)
        raise entries.fail("formats.thousands_separator", f"expected one of {allowed}, got {separator!r}")
    order = {sheet: number for number, sheet in enumerate(CONTRACT_SHEETS)}
    return Layout(
        path=path,
        coverholder=code,
        name=name,
        sheets=tuple(sorted(sheets, key=lambda s: order[s.sheet])),
        date_formats=dates,
        thousands_separator=separator,
        sha256=hashlib.sha256(entries.content).hexdigest(),
    )


# --- mapping a sheet as read onto the contract (pure) -------------------------------------------


def contract_headers(headers: Sequence[object], layout: SheetLayout) -> tuple[list[object], dict[str, str]]:
    """The header row as the contract names it: each header the layout maps is renamed to its
    contract column, and the columns given as constants are added at the end (their cells empty,
    filled by :func:`contract_sheet`). Returns the headers and contract column -> header as written."""
    by_header = {normalised(written).lower(): column for column, written in layout.columns.items()}
    renamed: list[object] = []
    written: dict[str, str] = {}
    for header in headers:
        column = by_header.get(normalised(header).lower())
        if column is None:
            renamed.append(header)
        else:
            renamed.append(column)
            written[column] = cell_text(header)
    present = {normalised(header).lower() for header in renamed}
    renamed += [column for column in layout.constants if column.lower() not in present]
    return renamed, written


def mapped_values(cells: pd.Series, mapping: Mapping[str, str]) -> pd.Series:
    """A column with the cover-holder's codes replaced by the contract's (compared width-only and
    trimmed: :func:`normalised_code`); a cell the map does not name is kept as typed, for the
    contract's parsing to judge."""
    distinct = pd.unique(cells.to_numpy())
    replaced = {cell: mapping[normalised_code(cell)] for cell in distinct if normalised_code(cell) in mapping}
    if not replaced:
        return cells
    hit = cells.map(lambda cell: cell in replaced and type(cell) is not bool)
    return cells.mask(hit, cells.map(replaced))


def contract_sheet(raw: RawSheet, layout: SheetLayout, written: Mapping[str, str], formats: Layout) -> RawSheet:
    """A raw sheet read under :func:`contract_headers` in the contract's layout: ignored headers
    dropped, value maps and constants applied, the headers as written and the cover-holder's date
    spellings and thousands separator attached for parsing. The cells stay raw: every rule of
    DATA_CONTRACT.md applies to them unchanged."""
    ignored = {normalised(header).lower() for header in layout.ignore}
    dropped = [name for name in raw.extra_columns if normalised(name).lower() in ignored]
    frame = raw.frame.drop(columns=dropped)
    typed = {column: frame[column] for column in layout.values if column in frame.columns}
    updates = {column: mapped_values(cells, layout.values[column]) for column, cells in typed.items()}
    updates |= {column: pd.Series(value, index=frame.index, dtype=object) for column, value in layout.constants.items()}
    return replace(
        raw,
        cells=frame.assign(**updates),
        extra_columns=tuple(name for name in raw.extra_columns if name not in dropped),
        headers=tuple({**dict(raw.headers), **written}.items()),
        date_formats=formats.date_formats,
        thousands_separator=formats.thousands_separator,
        typed=typed,
        arrow={},  # the cells are mapped: the sheet as read no longer parses from its own columns
    )


# --- cover-holders, their files and their sheets --------------------------------------------------


@dataclass(frozen=True)
class CoverHolder:
    """One cover-holder of the input: its code and name, its folder (holding its month folders), the
    prefix of its files' names relative to the input folder (``""`` when the input is one
    cover-holder's month folders, else ``"<folder>/"``) and its checked layout (None: the contract's)."""

    code: str
    name: str
    folder: Path
    prefix: str
    layout: Layout | None


def _months_in(folder: Path) -> list[str]:
    return sorted(e.name for e in folder.iterdir() if e.is_dir() and MONTH_FOLDER.fullmatch(e.name))


def coverholders(input_dir: Path, book: ProductBook) -> tuple[CoverHolder, ...]:
    """The cover-holders of ``input_dir`` with their layout files loaded and checked: the input
    itself when it holds month folders, else each sub-folder holding month folders (in name order).
    A code given twice, or no month folder anywhere, stops the run."""
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise FatalInputError(input_dir, "input folder missing")
    if _months_in(input_dir):
        return (_coverholder(input_dir, "", book),)
    folders = sorted(e for e in input_dir.iterdir() if e.is_dir() and not e.name.startswith(".") and _months_in(e))
    if not folders:
        raise FatalInputError(
            input_dir,
            "no YYYY-MM month folders in this folder (a month's bordereaux go in <input>/YYYY-MM/, "
            "e.g. 2026-04/policies.xlsx and 2026-04/claims.xlsx, or <input>/<cover-holder>/YYYY-MM/)",
        )
    holders = [_coverholder(folder, f"{folder.name}/", book) for folder in folders]
    seen: dict[str, CoverHolder] = {}
    for holder in holders:
        if holder.code in seen:
            where = holder.layout.path if holder.layout else holder.folder
            raise FatalInputError(where, f"coverholder: {holder.code!r} is also the code of {seen[holder.code].folder}")
        seen[holder.code] = holder
    return tuple(holders)


def outside_the_months(input_dir: Path, holders: Sequence[CoverHolder]) -> tuple[NotRead, ...]:
    """What the input holds outside the cover-holders' month folders that no other check names, each
    logged (a warning; hidden entries as information): with cover-holder folders, every other entry
    of the input folder; beside a layout file, every entry other than the month folders and the
    layout file. (The contract's own layout names them through pipeline.io.inventory.)"""
    entries: list[NotRead] = []
    if holders and holders[0].prefix:
        folders = {holder.folder.name for holder in holders}
        for entry in sorted(Path(input_dir).iterdir(), key=lambda e: e.name):
            if entry.name in folders:
                continue
            if entry.name.startswith("."):
                entries.append(NotRead(entry.name, "hidden"))
            elif entry.is_dir():
                entries.append(NotRead(entry.name, "a folder with no YYYY-MM month folders: not a cover-holder"))
            else:
                entries.append(NotRead(entry.name, "a file outside the cover-holder folders"))
    for holder in holders:
        if holder.layout is None:
            continue
        for entry in sorted(holder.folder.iterdir(), key=lambda e: e.name):
            if entry.name == LAYOUT_FILE or (entry.is_dir() and MONTH_FOLDER.fullmatch(entry.name)):
                continue
            reason = (
                "hidden" if entry.name.startswith(".") else "outside the month folders; only YYYY-MM folders are read"
            )
            entries.append(NotRead(holder.prefix + entry.name, reason))
    for skip in entries:
        log.log(logging.INFO if skip.reason == "hidden" else logging.WARNING, "%s", skip.message())
    return tuple(entries)


def _coverholder(folder: Path, prefix: str, book: ProductBook) -> CoverHolder:
    path = folder / LAYOUT_FILE
    layout = load_layout(path, folder.name, book) if path.is_file() else None
    code = layout.coverholder if layout else folder.name
    return CoverHolder(code, layout.name if layout else code, folder, prefix, layout)


def latest_month_of(holders: tuple[CoverHolder, ...]) -> str:
    """The latest month folder of any cover-holder (the default as-at month)."""
    return max(month for holder in holders for month in _months_in(holder.folder))


def _matches(folder: Path, pattern: str) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and fnmatch.fnmatchcase(p.name, pattern))


def _visible_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def coverholder_bordereaux(holder: CoverHolder, month: str) -> BordereauFiles:
    """The cover-holder's month folders up to ``month`` and their bordereau files, hashed, named
    relative to the input folder, and what is not read. Through its layout when it has one (a glob
    matching two files in a month, or no file in any month, stops the run naming the layout file
    and the entry; a file no glob matches is not read, with a warning), else as the contract names
    the files (:func:`~pipeline.io.find.find_bordereaux`)."""
    months = [m for m in _months_in(holder.folder) if m <= month]
    if not months:
        return BordereauFiles(holder.folder, (), ())
    if holder.layout is None:
        return find_bordereaux(holder.folder, months[-1], prefix=holder.prefix)
    layout = holder.layout
    listed: list[SourceFile] = []
    not_read: list[NotRead] = []
    used: set[str] = set()
    for folder in months:
        by_file: dict[Path, list[str]] = {}
        for sheet in layout.sheets:
            matched = _matches(holder.folder / folder, sheet.file)
            if len(matched) > 1:
                names = ", ".join(p.name for p in matched)
                raise FatalInputError(
                    layout.path,
                    f"files.{sheet.sheet}.file: {sheet.file!r} matches {len(matched)} files in "
                    f"{holder.prefix}{folder}/ ({names}): make it match one",
                )
            if matched:
                by_file.setdefault(matched[0], []).append(sheet.sheet)
                used.add(sheet.sheet)
        for path, sheets in by_file.items():
            relative = f"{holder.prefix}{folder}/{path.name}"
            listed.append(SourceFile(folder, relative, path, tuple(sheets), _file_sha256(path)))
        claimed = {path.name for path in by_file}
        not_read.extend(
            NotRead(f"{holder.prefix}{folder}/{name}", f"no file pattern of {layout.path.name} matches it")
            for name in _visible_files(holder.folder / folder)
            if name not in claimed
        )
    for sheet in layout.sheets:
        if sheet.sheet not in used:
            raise FatalInputError(
                layout.path,
                f"files.{sheet.sheet}.file: {sheet.file!r} matches no file in any month folder of "
                f"{holder.prefix or holder.folder.name + '/'} (files there: "
                f"{', '.join(_visible_files(holder.folder / months[-1]))})",
            )
    for skip in not_read:
        log.warning("%s", skip.message())
    return BordereauFiles(holder.folder, tuple(months), tuple(listed), tuple(not_read))


def months_with_no_bordereau(holder: CoverHolder, found: BordereauFiles) -> tuple[str, ...]:
    """The cover-holder's month folders (relative to the input folder) where no bordereau file was
    found: nothing reported that month, or files under names nothing claims."""
    return tuple(f"{holder.prefix}{folder}" for folder in found.months if not found.of_month(folder))


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _worksheet_name(names: list[str], layout: SheetLayout, relative: str, where: Path) -> str:
    if isinstance(layout.sheet_name, int):
        if layout.sheet_name > len(names):
            raise FatalInputError(
                where, f"files.{layout.sheet}.sheet: {relative} has {len(names)} sheet(s), not {layout.sheet_name}"
            )
        return names[layout.sheet_name - 1]
    wanted = normalised(layout.sheet_name).lower()
    actual = [name for name in names if normalised(name).lower() == wanted]
    if not actual:
        listed = ", ".join(repr(name) for name in names)
        raise FatalInputError(
            where, f"files.{layout.sheet}.sheet: no sheet {layout.sheet_name!r} in {relative} (sheets: {listed})"
        )
    return actual[0]


def read_layout_file(source: SourceFile, layout: Layout) -> list[RawSheet]:
    """The contract sheets of one cover-holder file, read through its layout: the sheet by name or
    position, the header row, headers renamed, then :func:`contract_sheet`. Excel rows are as in
    their file (title rows counted)."""
    if source.path.suffix.lower() != ".xlsx":
        raise FatalInputError(source.file, "a layout reads .xlsx workbooks only")
    workbook = open_workbook(source.path, source.file)
    sheets = []
    for name in source.sheets:
        sheet = layout.sheet(name)
        assert sheet is not None  # only the layout's sheets are listed
        actual = _worksheet_name(list(workbook.sheet_names), sheet, source.file, layout.path)
        cells, merged = worksheet_rows(workbook, source.path, source.file, actual, name)
        rows = list(cells)
        if len(rows) >= sheet.header_row:
            headers, written = contract_headers(rows[sheet.header_row - 1], sheet)
            rows[sheet.header_row - 1] = headers
        else:
            written = {}
        raw = read_sheet(rows, source.month, source.file, name, merged, header_row=sheet.header_row)
        named = actual if normalised(actual).lower() != name else ""
        sheets.append(replace(contract_sheet(raw, sheet, written, layout), sheet_as_named=named))
    return sheets


def file_reader(holder: CoverHolder) -> Callable[[SourceFile], list[RawSheet]]:
    """How one input file of the cover-holder is read into contract sheets: as the contract names
    them (:func:`~pipeline.io.read.read_file`), or through its layout. Picklable, so that a Dask
    worker can read the file (pipeline.engine)."""
    if holder.layout is None:
        return read_file
    return partial(read_layout_file, layout=holder.layout)


def read_coverholder_month(holder: CoverHolder, files: BordereauFiles, month: str) -> list[RawSheet]:
    """Every sheet of ``month`` of one cover-holder, in the contract's layout."""
    read = file_reader(holder)
    return [sheet for source in files.of_month(month) for sheet in read(source)]


def latest_input_month(input_dir: Path) -> str:
    """The latest month folder of the input, whether it holds month folders or cover-holder folders
    (the default as-at month); the contract's one-line error when there is none."""
    input_dir = Path(input_dir)
    if input_dir.is_dir() and not _months_in(input_dir):
        months = [m for e in input_dir.iterdir() if e.is_dir() and not e.name.startswith(".") for m in _months_in(e)]
        if months:
            return max(months)
    return latest_month(input_dir)
