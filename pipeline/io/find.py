"""Find and hash the input files of the month folders up to M (DATA_CONTRACT.md § Input), without
opening them, so that a month whose parse is cached (pipeline.io.cache) is never read: the month
folders and files come from :func:`~pipeline.io.inventory.inventory`, which also names everything
that is not read (logged here, one line each, and listed in ``manifest.json``).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from pipeline.errors import FatalInputError
from pipeline.io.inventory import MONTH_FOLDER, Inventory, NotRead, inventory, part_paths

log = logging.getLogger(__name__)


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
    then policies before claims before lines); every other entry of the input folder, not read."""

    input_dir: Path
    months: tuple[str, ...]
    files: tuple[SourceFile, ...]
    not_read: tuple[NotRead, ...] = ()

    def of_month(self, month: str) -> tuple[SourceFile, ...]:
        return tuple(f for f in self.files if f.month == month)


def month_folders(input_dir: Path, month: str, found: Inventory | None = None) -> list[str]:
    """The ``YYYY-MM`` folders of ``input_dir`` up to and including ``month``; ``month`` must exist."""
    if not MONTH_FOLDER.fullmatch(month):
        raise FatalInputError("--month", f"expected a month like 2026-04, got {month!r}")
    found = found or inventory(input_dir)
    if month not in found.months:
        raise FatalInputError(Path(input_dir) / month, f"month folder for {month} missing")
    return [folder for folder in found.months if folder <= month]


def latest_month(input_dir: Path) -> str:
    """The latest real ``YYYY-MM`` folder of ``input_dir`` (the default as-at month; ``2026-13`` is
    not a month); a one-line error naming the folder when it is missing or has no month folder."""
    months = inventory(Path(input_dir)).months
    if not months:
        raise FatalInputError(
            input_dir,
            "no YYYY-MM month folders in this folder (a month's bordereaux go in <input>/YYYY-MM/, "
            "e.g. 2026-04/policies.xlsx and 2026-04/claims.xlsx)",
        )
    return months[-1]


def _folder_sha256(folder: Path) -> str:
    """One SHA-256 for a folder sheet: its parts' names and contents, in name order."""
    digest = hashlib.sha256()
    for part in part_paths(folder):
        digest.update(f"{part.name}\0{_sha256(part)}\0".encode())
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def find_bordereaux(input_dir: Path, month: str, prefix: str = "") -> BordereauFiles:
    """The month folders up to and including ``month`` (which must exist) and their input files,
    hashed (SHA-256) but not opened, and every entry of the input folder not read, each logged (a
    warning; hidden entries and months after ``month`` as information). A sheet given twice in a
    month (as xlsx and as Parquet) stops the run. ``prefix`` (``"<cover-holder folder>/"``, LAYOUTS.md)
    is put before every path, so that paths stay relative to the run's input folder."""
    input_dir = Path(input_dir)
    found = inventory(input_dir)
    months = month_folders(input_dir, month, found)
    later = [
        NotRead(prefix + folder, f"after {month}, the month of this run") for folder in found.months if folder > month
    ]
    files: list[SourceFile] = []
    given: dict[tuple[str, str], str] = {}
    for entry in found.files:
        if entry.month > month:
            continue
        for sheet in entry.sheets:
            if (entry.month, sheet) in given:
                other = prefix + given[entry.month, sheet]
                raise FatalInputError(prefix + entry.file, f"sheet '{sheet}' is also given by {other}: keep one")
            given[entry.month, sheet] = entry.file
        digest = _folder_sha256(entry.path) if entry.path.is_dir() else _sha256(entry.path)
        files.append(SourceFile(entry.month, prefix + entry.file, entry.path, entry.sheets, digest))
    # entries inside month folders after M are not looked at: their month is not read at all
    not_read = tuple(
        replace(skip, path=prefix + skip.path)
        for skip in found.not_read
        if "/" not in skip.path or skip.path.split("/")[0] <= month
    )
    for skip in not_read:
        log.log(logging.INFO if skip.reason == "hidden" else logging.WARNING, "%s", skip.message())
    for skip in later:
        log.info("%s", skip.message())
    return BordereauFiles(input_dir=input_dir, months=tuple(months), files=tuple(files), not_read=(*not_read, *later))


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
