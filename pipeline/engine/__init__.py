"""Where the read step and the claims engine run: on this machine (``pandas``, the default) or on a
dask.distributed cluster (``dask``: ``pipeline.engine.partitioned`` and ``pipeline.engine.cluster``).

Both engines run the same functions. Reading: ``checked_sheets`` reads one input file with the
cover-holder's reader (``pipeline.io.read.read_file`` or its layout's) and row-checks each of its
sheets (``pipeline.stages.validate.row_checked``: every cell parsed, the ``*Parsed`` model and the
rules that read one row and the product data); a folder sheet is read and row-checked one Parquet
part per task and put back together (``read_tasks``, ``checked_task``, ``combined_checked``). The
Dask engine runs the tasks on the workers, the pandas engine in forked processes of this machine
when the book is large (``read_processes``), else in this process. The rest of validation (ids
twice in a file, references to the policies and claims in force, restatements, series, the
``*Valid`` model) needs what earlier sheets and months made known, so it runs month by month, each
month as soon as its tasks are done (``checked_months``, ``months_as_read``), while the tasks of the
later months run (``validated_month``): in the run's process, or with the Dask engine on a cluster
given by its address (or ``PIPELINE_VALIDATE_IN_PARTS=1``) in parts of whole policies on the
workers (``pipeline.engine.validation_parts``). Claims:
``pipeline.stages.waterfall.adjudicated_lines``: every cap of the waterfall lives inside one
policy (line, claim, series and policy limits), so the Dask engine splits the lines by policy and
runs it unchanged on each part: parts of the run's history sent to the workers once, each month's
view made there (``valued_history``: the triangle's earlier months, and M and M−1). Everything that
crosses policies (versions, totals, reinsurance, reports) runs in the run's process on the gathered
results, as in the pandas engine. ``run.py`` only chooses the engine (``open_engine``).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from pipeline.forked import Started, cores, processes_from
from pipeline.io.find import BordereauFiles, SourceFile
from pipeline.io.outputs import SheetElsewhere
from pipeline.io.read import ParquetPart, combined_parts, parquet_parts, read_file, read_parquet_part
from pipeline.parse import carried
from pipeline.products.load import ProductBook
from pipeline.reports.labels import Labels
from pipeline.stages.claims import Movements, each_claim_payables_as_at, lines_adjudicated, month_movements
from pipeline.stages.rejections import failures_of
from pipeline.stages.validate import Known, row_checked, validate_month
from pipeline.stages.versions import InForce, Versions
from pipeline.stages.waterfall import LINE_COLUMNS_READ, column_names_read, line_payables
from pipeline.tables import MonthValidated, RawSheet, RowChecked

ENGINES = ("pandas", "dask")
READ_PROCESSES_VARIABLE = "PIPELINE_READ_PROCESSES"
PARALLEL_READ_BYTES = 2_000_000  # input files smaller than this together are read in the run's own process
READS_AHEAD_PER_PROCESS = 2
"""Read tasks started and not yet validated, per process (or Dask worker) reading: one running and
one waiting each. The run validates month after month in its own process; when that is slower than
reading, more would only pile up the cells of later months in memory (every month of a large book),
not finish sooner."""

FileReader = Callable[[SourceFile], list[RawSheet]]
"""Reads one input file into its raw sheets (``pipeline.io.layouts.file_reader`` of a cover-holder)."""
PART = "_policy_part"
"""The column of a row's part (``policy_part``) in the Dask engine's frames."""


IDS_HASHED_AT_ONCE = 1 << 18
"""``policy_part`` hashes the ids this many at a time: the hash takes them as Python strings, and a
market book's millions of ids made strings at once were the Dask engine's run's peak (pipeline/bench/
MEASUREMENTS.md § Beyond one machine: half a GB at 1.7M policies)."""


def policy_part(policy_id: pd.Series, parts: int) -> pd.Series:
    """The part (0 to ``parts`` − 1) of each policy id: a stable hash of the id, the same in every
    frame and on every machine (the Dask engine's key: its claims engine's parts, the history's and
    its cross-row validation's, ``pipeline.engine.components``), ``IDS_HASHED_AT_ONCE`` ids at a time."""
    hashed = np.empty(len(policy_id), dtype=np.uint64)
    for start in range(0, len(policy_id), IDS_HASHED_AT_ONCE):
        ids = policy_id.iloc[start : start + IDS_HASHED_AT_ONCE]
        hashed[start : start + len(ids)] = pd.util.hash_array(ids.astype(object).to_numpy())
    return pd.Series((hashed % np.uint64(parts)).astype(np.int64), index=policy_id.index, name=PART)


def rows_by_part(part: np.ndarray, parts: int) -> list[np.ndarray]:
    """The positions of the rows of each part 0 to ``parts`` − 1 (``part``: each row's), each part's
    in the rows' order: the shuffle, done where the rows already are."""
    order = np.argsort(part, kind="stable")
    bounds = np.searchsorted(part[order], np.arange(parts + 1))
    return [order[start:end] for start, end in itertools.pairwise(bounds)]


def checked_sheets(source: SourceFile, read: FileReader, book: ProductBook) -> list[RowChecked]:
    """The sheets of one input file, read by ``read`` and each row-checked against ``book``: the
    read task of both engines for a file (on a Dask worker, one task per file)."""
    return [row_checked(sheet, book) for sheet in read(source)]


@dataclass(frozen=True)
class ReadTask:
    """One task of the read step: an input file, or one part of a folder sheet."""

    source: SourceFile
    part: ParquetPart | None = None

    @property
    def size(self) -> int:
        """The bytes the task reads (a large book's files are read in parallel, each month's largest first)."""
        path = self.part.path if self.part is not None else Path(self.source.path)
        if path.is_dir():
            return sum(entry.stat().st_size for entry in path.iterdir() if entry.is_file())
        return path.stat().st_size


def read_tasks(sources: Sequence[SourceFile], read: FileReader) -> list[ReadTask]:
    """The tasks that read ``sources`` with ``read``, in their order: one per file, and one per
    part of a folder sheet of Parquet parts (read by the contract's reader; a folder whose parts
    cannot be one sheet is one task, which raises its error), so that the parts of a large sheet
    are read and row-checked in parallel like files."""
    tasks = []
    for source in sources:
        parts = parquet_parts(source) if read is read_file and source.path.is_dir() else None
        tasks.extend([ReadTask(source, part) for part in parts] if parts else [ReadTask(source)])
    return tasks


def checked_task(task: ReadTask, read: FileReader, book: ProductBook) -> list[RowChecked]:
    """The row-checked sheets one read task gives: a file's sheets, or the one part of a folder sheet."""
    if task.part is None:
        return checked_sheets(task.source, read, book)
    return [row_checked(read_parquet_part(task.source, task.part), book)]


def months_as_read(
    months: Sequence[str],
    tasks: Sequence[ReadTask],
    checked: Iterable[list[RowChecked]],
    combine: Callable[[Sequence[RowChecked]], RowChecked] | None = None,
) -> Iterator[tuple[str, list[RowChecked]]]:
    """Each of ``months`` in order with its row-checked sheets, from what each task gave (the tasks
    in the months' order, as ``read_tasks`` makes them from the months' files), the parts of a
    folder sheet combined into that sheet (``combined_checked``): a month as soon as its last task's
    result is in, so that the run validates it while later months are read; a month with no task
    comes with no sheet. ``combine`` puts a folder sheet's parts together where they are (the Dask
    engine's, for sheets left on the workers); by default ``combined_checked``."""
    combine = combine or combined_checked
    remaining = deque(months)
    sheets: list[RowChecked] = []
    parts: list[RowChecked] = []
    for number, (task, result) in enumerate(zip(tasks, checked, strict=True)):
        following = tasks[number + 1] if number + 1 < len(tasks) else None
        if task.part is None:
            sheets.extend(result)
        else:
            parts.extend(result)
            if following is None or following.source != task.source:
                sheets.append(combine(parts))
                parts = []
        month = task.source.month
        if following is None or following.source.month != month:
            while remaining and remaining[0] != month:
                yield remaining.popleft(), []
            if remaining:
                remaining.popleft()
            yield month, sheets
            sheets = []
    for month in remaining:
        yield month, []


def month_sources(found: BordereauFiles, months: Sequence[str]) -> list[SourceFile]:
    """The input files of ``months``, month by month (the order of the read tasks)."""
    return [source for month in months for source in found.of_month(month)]


def combined_checked(parts: Sequence[RowChecked]) -> RowChecked:
    """The row-checked parts of one folder sheet (each read with ``read_parquet_part`` and
    row-checked where it was read, in order) as the one row-checked sheet of the whole folder: the
    raw rows one under the other (``combined_parts``), the parsed rows and the failures renumbered
    to match, the carried columns carried again from the whole sheet (one part alone may hold only
    numbers where another holds text). Every check of ``row_checked`` reads one row, so none runs
    again; the cross-row part of validation then sees the whole sheet."""
    raw = combined_parts([part.raw for part in parts])
    offsets = np.cumsum([0, *(part.raw.rows_read for part in parts[:-1])])
    frame = pd.concat([part.frame for part in parts], ignore_index=True)
    frame = frame.drop(columns=list(parts[0].raw.extra_columns)).assign(
        **{column: carried(raw.column(column)) for column in raw.extra_columns}
    )

    def renumbered(failures: list[pd.DataFrame]) -> pd.DataFrame:
        return failures_of(
            [
                part.assign(index=(part["index"] + offset).astype(part["index"].dtype))
                for part, offset in zip(failures, offsets, strict=True)
            ]
        )

    return RowChecked(
        raw=raw,
        frame=frame,
        parse_failures=renumbered([part.parse_failures for part in parts]),
        row_failures=renumbered([part.row_failures for part in parts]),
    )


class LinesElsewhere(Protocol):
    """The annotated lines as at M where an engine keeps them whole (the Dask engine's workers):
    ``sheet`` gives the sheet ``lines`` of ``claims_annotated.xlsx`` in ``labels``' language, written
    from there to Parquet."""

    def sheet(self, labels: Labels) -> SheetElsewhere: ...


def lines_here() -> LinesElsewhere | None:
    """The pandas engine's ``ValuedHistory.lines_elsewhere``: none (``Movements.lines`` are the lines)."""
    return None


@dataclass(frozen=True)
class ValuedHistory:
    """What an engine makes of a run's history (``Engine.valued_history``): ``earlier``, the
    triangle's earlier months' ``claim_payables`` in turn (taken once: what the engine held of the
    history in the run's process is let go once they all are), and ``movements(current, previous)``,
    the ``Movements`` of two views the run made of that same history, as at M and as at M−1 (None
    when M−1 is not a month of the book): the lines as at M through ``adjudicated_lines`` with the
    view's rows, order and index and each line's movement, with their sums (``line_sums``), and
    those as at M−1 through ``line_payables`` summed per claim (``month_movements``). What the
    engine keeps elsewhere for ``movements`` (the Dask engine: the history's parts on the workers)
    is let go with this. ``lines_elsewhere`` says where the last ``movements``' lines as at M are
    whole: None, in ``Movements.lines``; or kept by the engine (the Dask engine, when they are more
    than an Excel sheet holds: ``Movements.lines`` is then None, the run has their sums), to be
    written from there (``LinesElsewhere``; it does not hold the history)."""

    earlier: Iterator[tuple[str, pd.DataFrame]]
    movements: Callable[[InForce, InForce | None], Movements]
    lines_elsewhere: Callable[[], LinesElsewhere | None] = lines_here


class Engine(Protocol):
    """What a run needs of an engine: the row-checked sheets of the months to read, month by month
    as they are read, each month validated across rows, the history valued (``valued_history``: the
    triangle's earlier months summed per claim, the ``Movements`` of the views as at M and M−1),
    and what the manifest says about the engine. ``kept_month``: what the run keeps in its own
    process of each validated month (the pandas engine: all of it; the Dask engine keeps the lines
    on its workers and gives the run the columns it reads of them). ``view_line_columns``: the
    lines' columns the run's own view as at M needs (None: every column; the engine's
    ``Movements.lines`` then keep the view's own columns); ``previous_view_line_columns``: those its
    view as at M−1 needs (the run itself reads none of them).
    """

    @property
    def view_line_columns(self) -> Sequence[str] | None: ...

    @property
    def previous_view_line_columns(self) -> Sequence[str]: ...

    def checked_months(
        self, found: BordereauFiles, months: Sequence[str], read: FileReader, book: ProductBook
    ) -> Iterator[tuple[str, list[RowChecked]]]: ...

    def validated_month(
        self, month: str, sheets: Sequence[RowChecked], known: Known, book: ProductBook
    ) -> tuple[MonthValidated, Known]: ...

    def kept_month(self, month: MonthValidated) -> MonthValidated: ...

    def valued_history(self, versions: Versions, earlier: Sequence[str], book: ProductBook) -> ValuedHistory: ...

    def describe(self) -> dict[str, Any]: ...


def read_processes(tasks: Sequence[ReadTask]) -> int:
    """How many processes of this machine run the read tasks of a run: one per core when the files
    hold at least ``PARALLEL_READ_BYTES`` together (below that, forking costs more than it saves),
    else one (this process); ``PIPELINE_READ_PROCESSES`` sets it."""
    large = sum(task.size for task in tasks) >= PARALLEL_READ_BYTES
    return processes_from(READ_PROCESSES_VARIABLE, cores() if large else 1)


def movements_here(current: InForce, previous: InForce | None, book: ProductBook) -> Movements:
    """The ``Movements`` of the views as at M and M−1 in this process: ``adjudicated_lines`` as at M,
    ``line_payables`` as at M−1 (``lines_adjudicated``), ``month_movements`` of the two."""
    before = None if previous is None else lines_adjudicated(previous, book, line_payables)
    return month_movements(lines_adjudicated(current, book), before)


class PandasEngine:
    """The single-machine engine: the input files read and row-checked on this machine (at the same
    time in forked processes when the book is large: ``read_processes``) and each valuation's lines
    adjudicated in this process."""

    def checked_months(
        self, found: BordereauFiles, months: Sequence[str], read: FileReader, book: ProductBook
    ) -> Iterator[tuple[str, list[RowChecked]]]:
        """The row-checked sheets of ``months``, month by month (``months_as_read``): the read tasks
        start now, month after month (within a month the largest first), in forked processes when
        the book is large, and run while the caller validates the months already read, at most
        ``READS_AHEAD_PER_PROCESS`` per process ahead of it."""
        tasks = read_tasks(month_sources(found, months), read)
        work = {number: partial(checked_task, task, read, book) for number, task in enumerate(tasks)}
        order = {month: number for number, month in enumerate(months)}
        start = sorted(work, key=lambda number: (order[tasks[number].source.month], -tasks[number].size))
        processes = read_processes(tasks)
        started = Started(work, processes, start=start, ahead=READS_AHEAD_PER_PROCESS * processes)
        return months_as_read(months, tasks, (sheets for _, sheets in started.each()))

    def validated_month(
        self, month: str, sheets: Sequence[RowChecked], known: Known, book: ProductBook
    ) -> tuple[MonthValidated, Known]:
        """The cross-row part of validation of one month, in this process (``validate_month``)."""
        return validate_month(month, sheets, known, book)

    def kept_month(self, month: MonthValidated) -> MonthValidated:
        """The month as validated: this engine reads the history in this process."""
        return month

    view_line_columns: tuple[str, ...] | None = None
    """The run's view as at M with every column of its lines: this engine adjudicates that view."""
    previous_view_line_columns = tuple(LINE_COLUMNS_READ)
    """The run's view as at M−1 with the lines' columns the claims engine reads: this engine values it."""

    def valued_history(self, versions: Versions, earlier: Sequence[str], book: ProductBook) -> ValuedHistory:
        """The triangle's earlier months, each view made here when its turn comes
        (``each_claim_payables_as_at``, of the history narrowed to the columns the claims engine
        reads: only it holds the history, until the last month is taken), and the views the run has
        made as at M and M−1 adjudicated here (``movements_here``)."""
        lines_read, claims_read, policies_read = column_names_read(book)
        narrowed = versions.keeping(policies=policies_read, claims=claims_read, lines=lines_read)
        del versions
        return ValuedHistory(each_claim_payables_as_at(narrowed, earlier, book), partial(movements_here, book=book))

    def describe(self) -> dict[str, Any]:
        return {"name": "pandas"}


@contextmanager
def open_engine(
    name: str | Engine = "pandas", scheduler: str | None = None, worker_memory: int | str | None = None
) -> Iterator[Engine]:
    """The engine called ``name`` for the length of a run: ``pandas``, or ``dask`` on the cluster at
    ``scheduler`` (an address such as ``tcp://host:8786``) or, without one, on a LocalCluster sized
    to this machine (each worker limited to ``worker_memory`` when given) that is closed afterwards.
    An ``Engine`` object is used as it is."""
    if not isinstance(name, str):
        yield name
        return
    if name == "pandas":
        yield PandasEngine()
        return
    if name != "dask":
        raise ValueError(f"unknown engine {name!r}: choose one of {', '.join(ENGINES)}")
    from pipeline.engine.cluster import dask_client
    from pipeline.engine.partitioned import LOCAL, DaskEngine

    with dask_client(scheduler, worker_memory) as client:
        yield DaskEngine(client, scheduler or LOCAL)
