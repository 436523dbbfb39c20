"""Write a month's outputs atomically (DATA_CONTRACT.md § Run, § Output).

Every output file of a run is written into ``<output>/.tmp-<month>-<pid>/`` and flushed to disk;
only when all of them and ``manifest.json`` are complete is that folder swapped into place as
``<output>/<month>/``. On Linux the swap is one atomic ``renameat2(RENAME_EXCHANGE)``: at every
instant ``<output>/<month>/`` is either the complete previous outputs or the complete new ones. Where
that call is unavailable the previous folder is first renamed to ``.old-<month>-<pid>`` and the new
one renamed into place; a run killed between those two renames leaves the previous outputs under
``.old-…``, and the next run puts them back before doing anything else.

A run killed at any moment leaves the previous outputs intact and at worst a stale ``.tmp-…`` or
``.old-…`` folder (hidden, never named like a month, so never mistaken for outputs). Each run first
removes the stale folders of dead runs of that output folder (a folder whose process id is no longer
running on this machine), so leftovers never accumulate nor break a run. Runs into different output
folders share nothing.

Later stages add their workbooks by adding entries to ``files``: name -> a function that writes that
file to the path it is given. :func:`output_files` makes those entries from the sheets of each
workbook; a sheet with more rows than an Excel sheet holds (1,048,576 with its header;
``PIPELINE_MAX_SHEET_ROWS`` sets a smaller limit for tests) is written to
``<workbook>.<sheet>.parquet`` instead (canonical column names, the same values), and the workbook's
sheet of that name says so in a one-column ``note`` table. A sheet that is not in this process
(:class:`SheetElsewhere`: the annotated lines the Dask engine keeps on its workers) is always such a
sheet, and its writer (:class:`WrittenElsewhere`) writes it from where it is.

The files are written at the same time, one process per core (:func:`started_files`, in the pool of
:mod:`pipeline.forked`: forked, so the frames are shared rather than copied;
``PIPELINE_WRITE_PROCESSES=1`` writes them one by one), all into the staging folder: the swap
waits for the last one, so parallel writing changes neither what appears nor when it appears
atomically, only how soon. A file written elsewhere is started from this process (not forked: its
writer talks to a cluster) into the same staging folder, which its writers must see at the same
path, and waited for with the others.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import errno
import json
import logging
import os
import re
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import pipeline
from pipeline.arrow_text import labels_as_text
from pipeline.errors import FatalInputError
from pipeline.forked import Started, cores, processes_from
from pipeline.io.read import column_specs
from pipeline.io.workbook import Document, Sheet, write_workbook
from pipeline.tables import RESERVED_COLUMNS, STAGE_COLUMNS

MANIFEST = "manifest.json"
MAX_SHEET_ROWS = 1_048_576  # Excel's rows per sheet, the header row included
MAX_SHEET_ROWS_VARIABLE = "PIPELINE_MAX_SHEET_ROWS"
MAX_SHEET_COLUMNS = 16_384  # Excel's columns per sheet
MAX_SHEET_COLUMNS_VARIABLE = "PIPELINE_MAX_SHEET_COLUMNS"
# The columns that say where a row came from: kept in a side file of columns, to join it back.
ROW_KEYS = ("bordereau_month", "source_file", "source_sheet", "excel_row")
WRITE_PROCESSES_VARIABLE = "PIPELINE_WRITE_PROCESSES"
PARQUET_PART_ROWS_VARIABLE = "PIPELINE_PARQUET_PART_ROWS"
FileWriter = Callable[[Path], None]
#: The note left on a sheet written as Parquet ({rows}, {limit}, {file}), and its header.
PARQUET_NOTE = (
    "This sheet has {rows:,} rows, more than an Excel sheet holds ({limit:,} rows with the header).",
    "Its rows are in {file}, next to this workbook: the same columns (canonical names) and values.",
)
# Folders a run creates next to the month folders: staging (".tmp") and the retired previous outputs (".old").
WORK_FOLDER = re.compile(r"\.(tmp|old)-(\d{4}-\d{2})-(\d+)")

log = logging.getLogger(__name__)


def check_output_folder(input_dir: Path, output_dir: Path) -> None:
    """Before a run starts: outputs never go into the input folder (raw data is immutable), and the
    output folder (or, when it does not exist yet, the folder it will be made in) can be written:
    a file is created and removed there. The error names the user's folder."""
    source, target = Path(input_dir).resolve(), Path(output_dir).resolve()
    if target == source or source in target.parents:
        raise FatalInputError(output_dir, "output folder must not be the input folder or inside it")
    if target.exists() and not target.is_dir():
        raise FatalInputError(output_dir, "output folder is a file")
    existing = next((folder for folder in (target, *target.parents) if folder.exists()), None)
    if existing is None or not existing.is_dir():
        raise FatalInputError(output_dir, f"output folder cannot be created: {existing}: Not a directory")
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".write-check-"):
            pass
    except OSError as error:
        problem = (error.strerror or "not writable").lower()
        what = (
            "output folder cannot be written"
            if existing == target
            else f"cannot create it: {existing} cannot be written"
        )
        raise FatalInputError(output_dir, f"{what} ({problem}); choose another OUTPUT / --output folder") from None


class WorkbookWriter:
    """A ``files`` entry that writes ``sheets`` as one formatted workbook with ``document``'s
    properties and page header and footer; ``cells`` is its size, so that the largest workbooks
    start first."""

    def __init__(self, sheets: list[Sheet], document: Document | None = None) -> None:
        self.sheets = sheets
        self.document = document
        self.cells = sum(len(sheet.frame) * len(sheet.frame.columns) for sheet in sheets)

    def __call__(self, path: Path) -> None:
        write_workbook(path, self.sheets, document=self.document)


def workbook_writer(sheets: list[Sheet], document: Document | None = None) -> FileWriter:
    """A ``files`` entry that writes ``sheets`` as one formatted workbook with ``document``'s
    properties and page header and footer."""
    return WorkbookWriter(sheets, document)


def _set_for_tests(variable: str, lowest: int, limit: int) -> int:
    """``limit``, or the whole number from ``lowest`` to ``limit`` that the environment ``variable``
    gives (a test's smaller sheets or parts); anything else stops the run with one line."""
    value = os.environ.get(variable, "").strip()
    if not value:
        return limit
    if not value.isdigit() or not lowest <= int(value) <= limit:
        raise FatalInputError(variable, f"expected a whole number from {lowest} to {limit:,}, got {value!r}")
    return int(value)


def max_sheet_rows() -> int:
    """Rows an output sheet may have, its header included: Excel's limit, or a smaller one from
    ``PIPELINE_MAX_SHEET_ROWS`` (so that a test need not write a million rows)."""
    return _set_for_tests(MAX_SHEET_ROWS_VARIABLE, 2, MAX_SHEET_ROWS)


def max_sheet_columns() -> int:
    """Columns an output sheet may have: Excel's 16,384, or fewer from ``PIPELINE_MAX_SHEET_COLUMNS``
    (so that a test need not write 16,384 columns)."""
    return _set_for_tests(MAX_SHEET_COLUMNS_VARIABLE, 2, MAX_SHEET_COLUMNS)


def _within_columns(name: str, sheet: Sheet, limit: int) -> tuple[Sheet, str, pd.DataFrame | None]:
    """``sheet`` cut to ``limit`` columns: the contract's input columns, the computed ones and the
    provenance always stay; unknown input columns fill the room left, in their order, and those that
    do not fit go to ``<workbook>.<sheet>.columns.parquet`` (returned with that name) beside the
    columns that say where each row came from."""
    columns = [str(column) for column in sheet.frame.columns]
    if len(columns) <= limit:
        return sheet, "", None
    contract = {spec.name for specs in column_specs().values() for spec in specs}
    fixed = contract | STAGE_COLUMNS | set(RESERVED_COLUMNS)
    unknown = [column for column in columns if column not in fixed]
    room = max(limit - (len(columns) - len(unknown)), 0)
    moved = unknown[room:]
    kept = [column for column in columns if column not in set(moved)]
    keys = [column for column in ROW_KEYS if column in columns]
    file = f"{Path(name).stem}.{sheet.name}.columns.parquet"
    side = sheet.frame[[*keys, *moved]]
    return dataclasses.replace(sheet, frame=sheet.frame[kept]), file, side


PARQUET_PART_ROWS = MAX_SHEET_ROWS - 1
"""Rows of one Parquet part: a frame longer than this is written as a partitioned dataset."""


def parquet_part_rows() -> int:
    """Rows of one Parquet part: ``PARQUET_PART_ROWS``, or fewer from ``PIPELINE_PARQUET_PART_ROWS``
    (so that a test need not write a million rows to make a dataset of several parts)."""
    return _set_for_tests(PARQUET_PART_ROWS_VARIABLE, 1, PARQUET_PART_ROWS)


def parquet_parts(rows: int, part_rows: int | None = None) -> int:
    """How many files a frame of ``rows`` rows is written as: 1 (a plain Parquet file) up to
    ``part_rows`` rows (default ``parquet_part_rows()``), else a dataset of parts of ``part_rows``
    rows (the last one shorter)."""
    part_rows = part_rows or parquet_part_rows()
    return 1 if rows <= part_rows else -(-rows // part_rows)


def parquet_table(rows: pd.DataFrame) -> pa.Table:
    """The Arrow table a sheet's rows are written to Parquet as: no index, categorical columns as
    their text (``labels_as_text``)."""
    return pa.Table.from_pandas(labels_as_text(rows.reset_index(drop=True)), preserve_index=False)


def parquet_part_path(path: Path, parts: int, number: int) -> Path:
    """Where part ``number`` of a frame written as ``parts`` parts goes: ``path`` itself for one
    part, else ``path/part-<number>.parquet`` (the folder made by the writer first)."""
    return path if parts == 1 else path / f"part-{number:05d}.parquet"


def parquet_writer(frame: pd.DataFrame, part_rows: int | None = None) -> FileWriter:
    """A ``files`` entry that writes ``frame`` (no index) as Parquet: one file, or beyond
    ``part_rows`` rows (default ``parquet_part_rows()``) a partitioned dataset, the folder ``path``
    of ``part-00000.parquet``, ... in row order (which pyarrow, pandas, dask and Spark read as one
    table). Categorical columns are written as their text (``parquet_table``)."""
    rows_per_part = part_rows or parquet_part_rows()

    def write(path: Path) -> None:
        parts = parquet_parts(len(frame), rows_per_part)
        if parts > 1:
            path.mkdir()
        for number in range(parts):
            rows = frame if parts == 1 else frame.iloc[number * rows_per_part : (number + 1) * rows_per_part]
            pq.write_table(parquet_table(rows), parquet_part_path(path, parts, number))

    return write


class Pending(Protocol):
    """A file being written elsewhere (a dask.distributed future): ``result`` waits for it and
    raises its error, ``cancel`` stops it."""

    def result(self) -> Any: ...

    def cancel(self) -> Any: ...


class WrittenElsewhere(ABC):
    """A ``files`` entry written outside this process's forked writers (by the Dask engine's workers,
    where the rows are): :meth:`start` starts it into ``path`` from this process and returns what to
    wait for; calling it writes the file and waits."""

    @abstractmethod
    def start(self, path: Path) -> Pending: ...

    def __call__(self, path: Path) -> None:
        self.start(path).result()


@dataclasses.dataclass(frozen=True)
class SheetElsewhere:
    """A sheet whose rows are not in this process (``rows`` of them, too many for Excel), written
    to ``<workbook>.<sheet>.parquet`` by ``writer`` from where they are, the workbook's sheet of that
    name a note, as :func:`output_files` does for any sheet beyond Excel's rows."""

    name: str
    rows: int
    writer: WrittenElsewhere


def sheet_rows(sheet: Sheet | SheetElsewhere) -> int:
    """The rows of a sheet of a workbook, here or elsewhere."""
    return sheet.rows if isinstance(sheet, SheetElsewhere) else len(sheet.frame)


def output_files(
    workbooks: Mapping[str, Sequence[Sheet | SheetElsewhere]],
    max_rows: int | None = None,
    documents: Mapping[str, Document] | None = None,
    note: tuple[Sequence[str], str] = (PARQUET_NOTE, "note"),
) -> tuple[dict[str, FileWriter], list[dict[str, Any]]]:
    """The ``files`` entries of the workbooks (name -> sheets; ``documents``: name -> what the
    workbook says about itself), and a record (workbook, sheet, file, rows) of each sheet too long
    for Excel, written to ``<workbook stem>.<sheet>.parquet`` instead. ``note`` gives the lines
    (templates with ``{rows}``, ``{limit}``, ``{file}``) and the header of the note left in the
    workbook for such a sheet, in the workbook's language. A sheet with more columns than Excel holds
    keeps the contract's, computed and provenance columns and as many unknown input columns as fit;
    the others go to ``<workbook stem>.<sheet>.columns.parquet`` (a record with ``columns``: how many,
    and a warning)."""
    limit = max_rows or max_sheet_rows()
    column_limit = max_sheet_columns()
    files: dict[str, FileWriter] = {}
    moved: list[dict[str, Any]] = []
    for name, sheets in workbooks.items():
        kept: list[Sheet] = []
        parquet: dict[str, FileWriter] = {}
        for whole in sheets:
            if isinstance(whole, SheetElsewhere):
                record, note_sheet = _parquet_record(name, whole.name, whole.rows, limit, note)
                parquet[record["file"]] = whole.writer
                moved.append(record)
                kept.append(note_sheet)
                continue
            sheet, side_file, side = _within_columns(name, whole, column_limit)
            if side is not None:
                count = len(side.columns) - len([c for c in ROW_KEYS if c in side.columns])
                parquet[side_file] = parquet_writer(side)
                moved.append({"workbook": name, "sheet": sheet.name, "file": side_file, "columns": count})
                log.warning(
                    "%s: sheet '%s' has %s columns, more than an Excel sheet holds (%s): the last %s input "
                    "columns not in the contract are in %s, with the columns that say where each row came from",
                    name,
                    sheet.name,
                    f"{len(whole.frame.columns):,}",
                    f"{column_limit:,}",
                    f"{count:,}",
                    side_file,
                )
            if len(sheet.frame) + 1 <= limit:
                kept.append(sheet)
                continue
            record, note_sheet = _parquet_record(name, sheet.name, len(sheet.frame), limit, note)
            parquet[record["file"]] = parquet_writer(sheet.frame)
            moved.append(record)
            kept.append(note_sheet)
        files[name] = workbook_writer(kept, (documents or {}).get(name))
        files.update(parquet)
    return files, moved


def _parquet_record(
    workbook: str, sheet: str, rows: int, limit: int, note: tuple[Sequence[str], str]
) -> tuple[dict[str, Any], Sheet]:
    """The record of a sheet of ``rows`` rows written to ``<workbook stem>.<sheet>.parquet``
    (workbook, sheet, file, rows, parts) and the note sheet left in its place."""
    file = f"{Path(workbook).stem}.{sheet}.parquet"
    record = {"workbook": workbook, "sheet": sheet, "file": file, "rows": rows, "parts": parquet_parts(rows)}
    lines = [line.format(rows=rows, limit=limit, file=file) for line in note[0]]
    frame = pd.DataFrame({"note": pd.Series(lines, dtype="str")})
    return record, Sheet(sheet, frame, headers={"note": note[1]})


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A small frame as JSON-ready records (numpy scalars become Python numbers)."""
    return json.loads(frame.to_json(orient="records", force_ascii=False))


def manifest(
    *,
    month: str,
    input_folder: Path,
    products_folder: Path,
    lang: str,
    engine: dict[str, Any],
    inputs: list[dict[str, Any]],
    not_read: list[dict[str, Any]],
    reconciliation: pd.DataFrame,
    rejected_rows: int,
    cache: dict[str, Any] | None,
    coverholders: list[dict[str, Any]],
    sheets_as_parquet: list[dict[str, Any]],
    timings: dict[str, float],
) -> dict[str, Any]:
    """``manifest.json`` of a run (DATA_CONTRACT.md § Run): the package and version, the month, when
    it was created (UTC, to the second), the folders and language, the engine (``{"name": "pandas"}``
    or the Dask cluster's version, workers and scheduler), every input file with its SHA-256
    and rows, the files found and not read (with why), the counts per sheet, the rejected rows, the
    parse cache used (one per cover-holder when there are several), the cover-holders with their
    layout files (LAYOUTS.md), the sheets written as Parquet and the seconds of every stage so far."""
    return {
        "package": "cyber-bordereaux",
        "version": pipeline.__version__,
        "month": month,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "input_folder": str(input_folder),
        "products_folder": str(products_folder),
        "lang": lang,
        "engine": engine,
        "inputs": inputs,
        "not_read": not_read,
        "counts": frame_records(reconciliation),
        "rejected_rows": rejected_rows,
        "cache": cache,
        "coverholders": coverholders,
        "sheets_as_parquet": sheets_as_parquet,
        "timings": timings,
    }


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (a process of another user counts)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return True  # cannot tell: keep its folder
    return True


def clean_stale_folders(output_dir: Path) -> None:
    """Remove the ``.tmp-…`` / ``.old-…`` folders of runs that are no longer running; first put back
    a month's previous outputs left under ``.old-…`` by a run killed in the middle of a swap."""
    if not output_dir.is_dir():
        return
    for entry in sorted(output_dir.iterdir()):
        match = WORK_FOLDER.fullmatch(entry.name)
        if not match or not entry.is_dir() or _running(int(match.group(3))):
            continue
        kind, month = match.group(1), match.group(2)
        final = output_dir / month
        if kind == "old" and not final.exists():
            try:
                entry.rename(final)
                log.warning("restored the previous outputs of %s left by an interrupted run", month)
                continue
            except OSError:
                pass
        shutil.rmtree(entry, ignore_errors=True)


def _fsync(path: Path) -> None:
    """Flush a file or a folder to disk (best effort: some file systems refuse it on folders)."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(first: Path, second: Path) -> bool:
    """Atomically swap two folders (Linux ``renameat2(RENAME_EXCHANGE)``); False when unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except Exception:  # not Linux / glibc: no such call
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(first), None, str(second))


def _move_into_place(staging: Path, final: Path, retired: Path) -> None:
    """``staging`` becomes ``final``; the previous ``final`` (if any) ends up in ``staging`` or
    ``retired``, which the caller removes."""
    if not final.exists():
        staging.rename(final)
        return
    if _exchange(staging, final):
        return
    final.rename(retired)
    try:
        staging.rename(final)
    except OSError:
        retired.rename(final)
        raise


def write_processes(files: int) -> int:
    """How many processes write the files of a run: one per core (the cores this process may use),
    at most one per file; ``PIPELINE_WRITE_PROCESSES`` sets it (1: write them one after the other in
    this process)."""
    return max(1, min(processes_from(WRITE_PROCESSES_VARIABLE, cores()), files))


def started_files(folder: Path, files: Mapping[str, FileWriter]) -> Started[str, float]:
    """Every file started into ``folder``, each in a forked process (:class:`pipeline.forked.Started`,
    sized by :func:`write_processes`), which shares the frames already in memory instead of
    receiving a copy; the largest workbooks (by cells) start first, which keeps the last one to
    finish as early as it can be. Their results are the seconds each took; a file that fails raises
    there, as it would written in this process."""
    largest_first = sorted(files, key=lambda name: -int(getattr(files[name], "cells", 0)))
    tasks = {name: partial(_timed, write, folder / name) for name, write in files.items()}
    return Started(tasks, write_processes(len(files)), start=largest_first)


class StartedElsewhere:
    """Files written elsewhere (:class:`WrittenElsewhere`), each started into ``folder`` from this
    process now; like :class:`pipeline.forked.Started`, ``results`` waits for them (the seconds
    from their start to the end of each) and ``stop`` stops those not done."""

    def __init__(self, folder: Path, files: Mapping[str, WrittenElsewhere]) -> None:
        self.started = time.perf_counter()
        self.pending = {name: write.start(folder / name) for name, write in files.items()}

    def results(self) -> dict[str, float]:
        seconds = {}
        for name, pending in self.pending.items():
            pending.result()
            seconds[name] = round(time.perf_counter() - self.started, 3)
        return seconds

    def stop(self) -> None:
        for pending in self.pending.values():
            pending.cancel()
        self.pending = {}


class Writing(Protocol):
    """Files started (forked, :func:`started_files`, or elsewhere, :class:`StartedElsewhere`)."""

    def results(self) -> dict[str, float]: ...

    def stop(self) -> None: ...


def _timed(write: FileWriter, path: Path) -> float:
    started = time.perf_counter()
    write(path)
    return round(time.perf_counter() - started, 3)


_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_NO_SPACE_TEXTS = ("no space left on device", "disk quota exceeded", "not enough space")


def out_of_space(error: BaseException) -> bool:
    """Whether ``error`` (or an error it wraps: a writer's own exception around the OSError, the
    error of a forked writer) says that the disk or the user's quota is full."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if getattr(current, "errno", None) in _NO_SPACE:
            return True
        if any(text in str(current).lower() for text in _NO_SPACE_TEXTS):
            return True
        pending.extend([current.__cause__, current.__context__])
        pending.extend(arg for arg in current.args if isinstance(arg, BaseException))
    return False


def _size(folder: Path) -> int:
    return sum(entry.stat().st_size for entry in folder.iterdir() if entry.is_file()) if folder.is_dir() else 0


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB" if size >= 1_000_000 else f"{size / 1e3:,.0f} KB"


def no_space_left(output_dir: Path, month: str, staging: Path, final: Path) -> str:
    """The one line for a full disk or quota: the output folder, the space the outputs need (at
    least what was written before the disk filled, and at least the size of the month's previous
    outputs) and the space free."""
    written, previous = _size(staging), _size(final)
    shutil.rmtree(staging, ignore_errors=True)  # what was written is freed before the space is measured
    free = shutil.disk_usage(output_dir).free if output_dir.is_dir() else 0
    need = max(written, previous)
    if not need:
        needed = "they need more than is free"
    elif previous >= written:
        needed = f"they need about {_megabytes(need)} (the size of the previous outputs)"
    else:
        needed = f"they need more than {_megabytes(need)}"
    return (
        f"no space left to write the outputs of {month} (the disk or your quota is full): {needed}, "
        f"{_megabytes(free)} is free; free some space or choose another --output folder (previous "
        "outputs, if any, are untouched)"
    )


class MonthOutputs:
    """A month's outputs on their way into ``<output_dir>/<month>/``: a staging folder that files
    are started into, early ones while the run still computes others (:meth:`start`), then the last
    ones, ``manifest.json`` and the swap into place (:meth:`finish`). Use it through
    :func:`month_outputs`, which removes the staging folder however the run ends."""

    def __init__(self, output_dir: Path, month: str) -> None:
        self.output_dir, self.month = Path(output_dir), month
        self.output_dir.mkdir(parents=True, exist_ok=True)
        clean_stale_folders(self.output_dir)
        self.staging = staging_folder(self.output_dir, month)
        self.final = self.output_dir / month
        self.retired = self.output_dir / f".old-{month}-{os.getpid()}"
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir()
        self.names: list[str] = []
        self.writing: list[Writing] = []
        self.swapped = False

    def start(self, files: Mapping[str, FileWriter]) -> None:
        """Start writing ``files`` (in forked processes with more than one core: the run goes on
        meanwhile; with one, written here before this returns; those written elsewhere started
        from here first)."""
        self.names.extend(files)
        elsewhere = {name: write for name, write in files.items() if isinstance(write, WrittenElsewhere)}
        with self._disk_full_is_fatal():
            if elsewhere:
                self.writing.append(StartedElsewhere(self.staging, elsewhere))
            forked = {name: write for name, write in files.items() if name not in elsewhere}
            self.writing.append(started_files(self.staging, forked))

    def finish(self, files: Mapping[str, FileWriter], manifest: dict[str, Any]) -> Path:
        """Write ``files``, wait for every file started, write ``manifest.json`` (``manifest`` plus
        the list of outputs) and move the folder into place; return it.

        The seconds each file took are added to the manifest's ``timings`` (``write:<file>``, also
        for the files started earlier), and ``write``: the wall time of this call, which the run
        waits for after its other stages (files started earlier were written during them), so the
        manifest's stages add up to the whole run."""
        finishing = time.perf_counter()
        self.start(files)
        with self._disk_full_is_fatal():
            seconds = {f"write:{name}": took for started in self.writing for name, took in started.results().items()}
            self.writing = []
            outputs = [*self.names, MANIFEST]
            wall = time.perf_counter() - finishing
            timings = {**manifest.get("timings", {}), **seconds, "write": round(wall, 3)}
            document = {**manifest, "timings": timings, "outputs": outputs}
            (self.staging / MANIFEST).write_text(
                json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8"
            )
            for name in outputs:
                _fsync(self.staging / name)
            _fsync(self.staging)
        _move_into_place(self.staging, self.final, self.retired)
        self.swapped = True
        _fsync(self.output_dir)
        return self.final

    def close(self) -> None:
        """Stop what is still being written (a run that failed before :meth:`finish`) and remove
        the staging folder: after the swap it holds the previous outputs (or nothing), before it
        the partial new ones."""
        self._stop_writing()
        shutil.rmtree(self.staging, ignore_errors=True)
        if self.swapped:
            shutil.rmtree(self.retired, ignore_errors=True)

    def _stop_writing(self) -> None:
        """No more results wanted: files not started yet are dropped, those being written are waited for."""
        for started in self.writing:
            started.stop()
        self.writing = []

    @contextlib.contextmanager
    def _disk_full_is_fatal(self) -> Iterator[None]:
        """A full disk or quota becomes the one line of :func:`no_space_left`, once every other
        file still being written has stopped (it measures and frees the staging folder)."""
        try:
            yield
        except Exception as error:
            self._stop_writing()
            if out_of_space(error):
                message = no_space_left(self.output_dir, self.month, self.staging, self.final)
                raise FatalInputError(self.output_dir, message) from None
            raise


def staging_folder(output_dir: Path, month: str) -> Path:
    """Where this process stages the outputs of ``month`` before the swap (:class:`MonthOutputs`)."""
    return Path(output_dir) / f".tmp-{month}-{os.getpid()}"


@contextlib.contextmanager
def month_outputs(output_dir: Path, month: str) -> Iterator[MonthOutputs]:
    """The outputs of ``month`` in ``output_dir`` for the length of the block (:class:`MonthOutputs`);
    whatever was not swapped into place is removed when the block ends. A signal (SIGTERM, Ctrl-C)
    raised as the staging folder is made, before there is a ``MonthOutputs`` to close, removes the
    folder too: Python raises it at the end of the call that made the folder."""
    outputs = None
    try:
        outputs = MonthOutputs(output_dir, month)
        yield outputs
    finally:
        if outputs is not None:
            outputs.close()
        else:
            shutil.rmtree(staging_folder(output_dir, month), ignore_errors=True)


def write_outputs(output_dir: Path, month: str, files: Mapping[str, FileWriter], manifest: dict[str, Any]) -> Path:
    """Write ``files`` and ``manifest.json`` for ``month`` and move them into place as
    ``<output_dir>/<month>/`` (:meth:`MonthOutputs.finish`); return that folder."""
    with month_outputs(output_dir, month) as outputs:
        return outputs.finish(files, manifest)
