"""What the input folder holds, and which of it a run reads (DATA_CONTRACT.md § Input).

:func:`inventory` looks at every entry of the input folder and of its month folders, opens nothing
and returns data: the month folders (only real months, ``YYYY-MM`` with a month 01-12), the files
read for each sheet, and every other file or folder with the reason it is not read and, for a near
miss, the name it should have (``Policies.xlsx`` -> ``policies.xlsx``, ``policies.xlsm`` ->
``policies.xlsx``, ``2026-5`` -> ``2026-05``, ``２０２６-０５`` -> ``2026-05``, a trailing space).
A month's bordereau file that is a broken or self-referencing symbolic link, or not a file at all,
stops the run with one line (:class:`~pipeline.errors.FatalInputError`).

pipeline.io.read hashes and reads the files; the run writes the entries not read into
``manifest.json`` (``not_read``) and warns about each.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import FatalInputError
from pipeline.parse import half_width

MONTH_FOLDER = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
# A name that looks meant as a month: 2026-5, 2026_05, 2026/05, 2026.5, 202605, 2026年5月 (after width).
_MONTHLIKE = re.compile(r"(\d{4})\s*(?:[-_./]|年)?\s*(\d{1,2})\s*月?")

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
INPUT_FILES = {**BORDEREAU_FILES, **PARQUET_FILES}
# ... or, for a sheet larger still, a folder of Parquet parts (``lines/part-00000.parquet``, ...): one
# sheet whose rows are the parts' rows in the order of the parts' names.
PARQUET_FOLDERS: dict[str, tuple[str, ...]] = {"policies": ("policies",), "claims": ("claims",), "lines": ("lines",)}
PARQUET_PART = "part-*.parquet"
_WORKBOOK_EXTENSIONS = (".xlsx", ".xlsm", ".xlsb", ".xls", ".xltx", ".xltm", ".ods", ".csv", ".tsv", ".txt", ".parq")
_EXPECTED = (
    "a month folder holds policies.xlsx and claims.xlsx (or policies/claims/lines.parquet, or folders "
    "policies/, claims/, lines/ of part-*.parquet files)"
)


def part_paths(folder: Path) -> list[Path]:
    """The parts of a folder sheet in the order their rows come in: the order of their names (the
    one order of reading, hashing and numbering a folder's rows, whole or part by part)."""
    return sorted(folder.glob(PARQUET_PART))


@dataclass(frozen=True)
class InputEntry:
    """A file read: its month, path relative to the input folder, absolute path, sheets it holds."""

    month: str
    file: str
    path: Path
    sheets: tuple[str, ...]


@dataclass(frozen=True)
class NotRead:
    """A file or folder of the input that is not read: path relative to the input folder, why, and
    the name it should have when it is a near miss ('' otherwise)."""

    path: str
    reason: str
    should_be: str = ""

    def message(self) -> str:
        rename = f": rename it {self.should_be}" if self.should_be else ""
        return f"{self.path}: not read ({self.reason}){rename}"


@dataclass(frozen=True)
class Inventory:
    """Every real month folder (sorted), the files read in them, and everything else, not read."""

    input_dir: Path
    months: tuple[str, ...]
    files: tuple[InputEntry, ...]
    not_read: tuple[NotRead, ...]


def _shown(name: str) -> str:
    return repr(name) if name != name.strip() or not name.isprintable() else name


def month_name(name: str) -> str | None:
    """The ``YYYY-MM`` a folder name is meant as (``2026-5``, ``２０２６-０５``, ``2026-05 ``), or None."""
    match = _MONTHLIKE.fullmatch(half_width(name).strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        return None
    return f"{match.group(1)}-{int(match.group(2)):02d}"


def _file_near_miss(name: str) -> tuple[str, str] | None:
    """(reason, should be) when ``name`` looks meant as one of the input files."""
    plain = half_width(name).strip()
    folded = plain.casefold()
    if folded in INPUT_FILES:
        if name != plain:
            return "a space or full-width letters in the name", folded
        return "names are lower case", folded
    stem, dot, extension = folded.rpartition(".")
    if dot and f".{extension}" in _WORKBOOK_EXTENSIONS and f"{stem}.xlsx" in BORDEREAU_FILES:
        return f"a .{extension} file is not read: save it as an Excel workbook (.xlsx)", f"{stem}.xlsx"
    return None


def _link_problem(path: Path) -> str | None:
    """Why a symbolic link cannot be followed (broken or a loop), or None."""
    if not path.is_symlink():
        return None
    try:
        os.stat(path)
    except OSError as error:
        target = os.readlink(path)
        if error.errno == errno.ELOOP:
            return f"is a symbolic link that points to itself (a loop, via {target})"
        return f"is a broken symbolic link (it points to {target}, which does not exist)"
    return None


def _month_entries(input_dir: Path, month: str, folder: Path) -> tuple[list[InputEntry], list[NotRead]]:
    files: list[InputEntry] = []
    not_read: list[NotRead] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        name, relative = entry.name, f"{month}/{entry.name}"
        if name in INPUT_FILES:
            problem = _link_problem(entry)
            if problem:
                raise FatalInputError(relative, problem)
            if not entry.is_file():
                raise FatalInputError(relative, "is not a file")
            files.append(InputEntry(month, relative, entry, INPUT_FILES[name]))
            continue
        if name in PARQUET_FOLDERS and entry.is_dir():
            if not any(entry.glob(PARQUET_PART)):
                raise FatalInputError(relative, f"is not a folder of {PARQUET_PART} files")
            files.append(InputEntry(month, f"{relative}/", entry, PARQUET_FOLDERS[name]))
            continue
        near = _file_near_miss(name)
        if near:
            not_read.append(NotRead(f"{month}/{_shown(name)}", near[0], near[1]))
        elif name.startswith("~$"):
            not_read.append(NotRead(relative, "an Excel lock file: the workbook was open when it was copied"))
        elif _link_problem(entry):
            not_read.append(NotRead(relative, f"not a bordereau file and {_link_problem(entry)}"))
        elif entry.is_dir():
            not_read.append(NotRead(relative, f"a folder inside a month folder; {_EXPECTED}"))
        else:
            not_read.append(NotRead(f"{month}/{_shown(name)}", f"not a bordereau file; {_EXPECTED}"))
    return files, not_read


def inventory(input_dir: Path) -> Inventory:
    """Every entry of ``input_dir`` and of its month folders: what is read and what is not, and why.
    Opens and hashes nothing; a missing input folder is one line."""
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise FatalInputError(input_dir, "input folder missing")
    months: list[str] = []
    files: list[InputEntry] = []
    not_read: list[NotRead] = []
    for entry in sorted(input_dir.iterdir(), key=lambda e: e.name):
        name = entry.name
        if MONTH_FOLDER.fullmatch(name) and entry.is_dir():
            months.append(name)
            month_files, month_not_read = _month_entries(input_dir, name, entry)
            files.extend(month_files)
            not_read.extend(month_not_read)
            continue
        meant = month_name(name)
        if meant and entry.is_dir():
            not_read.append(NotRead(_shown(name), "not a YYYY-MM month folder", meant))
        elif MONTH_FOLDER.fullmatch(name):
            problem = _link_problem(entry) or "is not a folder"
            not_read.append(NotRead(name, f"a month folder's name, but it {problem}"))
        elif entry.is_dir() and re.fullmatch(r"\s*\d{4}\s*-\s*\d+\s*", half_width(name)):
            not_read.append(NotRead(_shown(name), "not a month: months are 01 to 12"))
        elif name.startswith("."):
            not_read.append(NotRead(name, "hidden"))
        elif entry.is_dir():
            not_read.append(NotRead(_shown(name), "not a YYYY-MM month folder"))
        else:
            not_read.append(NotRead(_shown(name), "a file outside the month folders; only YYYY-MM folders are read"))
    order = {"policies": 0, "claims": 1, "lines": 2}
    names = [*INPUT_FILES, *PARQUET_FOLDERS]  # a workbook before the Parquet file or folder giving the same sheet
    files.sort(key=lambda f: (f.month, order[f.sheets[0]], names.index(f.path.name)))
    return Inventory(input_dir, tuple(months), tuple(files), tuple(not_read))
