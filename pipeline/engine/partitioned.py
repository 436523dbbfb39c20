"""The Dask engine: the input files read and row-checked one per task, a folder sheet one task per
Parquet part (``checked_task``), each month validated across rows (in the run's process, or in
parts that hold whole policies: ``pipeline.engine.validation_parts``, on a cluster given by its
address or with ``PIPELINE_VALIDATE_IN_PARTS=1``),
and the claims stage's ``adjudicated_lines`` and ``line_payables`` run unchanged on parts of the
history that hold whole policies, on a dask.distributed cluster.

Every cap of the waterfall lives inside one policy, so a run's history, once validated in the run's
process (its lines sent to the workers month by month as validated, in runs of consecutive lines,
and only their ids kept there: ``DaskEngine.kept_month``), is split there into parts that keep every version of a claim
or line with every policy it was ever under (``pipeline.engine.components.history_parts``), each
part's policies and claims scattered to the workers and its lines taken there from the runs that
hold them, once, and kept there (``HistoryOnWorkers``); every view a run needs (the triangle's earlier months,
M and M−1) is made and adjudicated part by part there and only what the run keeps comes back
(``DaskEngine.valued_history``). Frames read lazily on the cluster are put into parts by a code of
their policy there (``policy_part``, ``with_parts``, ``adjudicated_parts``: a shuffle and
``map_partitions``). Nothing here knows a rule.
"""

from __future__ import annotations

import itertools
import operator
import os
import pickle
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from distributed import Client, Future
from pandas.api.extensions import ExtensionArray

from pipeline.engine import (
    PART,
    READS_AHEAD_PER_PROCESS,
    FileReader,
    ReadTask,
    ValuedHistory,
    checked_task,
    combined_checked,
    month_sources,
    months_as_read,
    policy_part,
    read_tasks,
    rows_by_part,
)
from pipeline.engine.cluster import smallest_memory_limit, workers_now, workers_of
from pipeline.engine.components import history_parts
from pipeline.engine.validation_parts import MonthPart, month_from_parts, part_outcome, part_rows, sheet_ids, sheet_rows
from pipeline.errors import FatalInputError
from pipeline.io.find import BordereauFiles
from pipeline.io.outputs import (
    SheetElsewhere,
    WrittenElsewhere,
    max_sheet_columns,
    max_sheet_rows,
    parquet_part_path,
    parquet_part_rows,
    parquet_parts,
    parquet_table,
)
from pipeline.memory import freed_memory_returned_after
from pipeline.products.load import ProductBook
from pipeline.reports.annotated import LINE_COMPUTED, LINE_CONTEXT, annotated_columns, lines_annotated_sheet
from pipeline.reports.labels import Labels, input_columns
from pipeline.stages.claims import LineSums, Movements, claim_payables, line_sums_together, month_movements
from pipeline.stages.validate import PROVENANCE_LABELS, Known, known_after, sheets_by_name, validate_month
from pipeline.stages.versions import (
    EXCEL_ROW,
    LINES_ELSEWHERE,
    MONTH,
    FileOrder,
    History,
    InForce,
    Versions,
    versions_of,
)
from pipeline.stages.waterfall import LINE_COLUMNS_READ, adjudicated_lines, column_names_read, line_payables
from pipeline.tables import MonthValidated, RowChecked

LOCAL = "LocalCluster"
"""What the manifest names as the scheduler of a LocalCluster started by the run (its address is a
random port, gone with the run: naming it would make two runs' manifests differ)."""
POSITION = "_line_position"
PARTS_PER_WORKER = 2
"""Parts per worker and valuation: enough to balance the load, few enough to keep tasks large."""
LINES_PER_PART = 250_000
"""At most this many lines per part on average (a part's pandas frames stay well under a worker's
memory limit: the engine peaks at about 0.6 KiB per line, pipeline/bench/MEASUREMENTS.md § Beyond one
machine)."""
LINE_KEY = "_line_key"
"""Where each line of the history is on the workers once the Dask engine keeps the lines there
(``DaskEngine.kept_month``): the number of the run of lines that holds it (high 32 bits) and its row
in that run (low 32 bits), in the run's process, by which the workers find the rest of its row again."""
LINE_COLUMNS_HERE = ("line_id", "claim_id", MONTH, EXCEL_ROW, *PROVENANCE_LABELS)
"""What the run keeps of the history's lines once the Dask engine keeps them on the workers: each
line's id, claim, month and row (its versions' file order, ``versions_of``; the parts,
``history_parts``; the months of the book) and
where it came from (the run makes those categoricals of the whole history, ``_stacked``: each
part's lines take them from here)."""
LINE_COLUMNS_THERE_TOO = ("line_id",)
"""Of ``LINE_COLUMNS_HERE``, what the workers keep of the history's lines too (``kept_month``): each
line's id, by which a part checks that the rows it takes there are the lines the run sent it
(``_part_versions``). The rest of those columns a part takes from the run (where the text columns
are categoricals), so the workers neither receive nor hold them."""
VALIDATE_IN_PARTS_VARIABLE = "PIPELINE_VALIDATE_IN_PARTS"
"""Where the Dask engine validates each month across rows (``DaskEngine.validated_month``): ``1``
in parts on the workers, ``0`` in the run's process, as the pandas engine does; unset, in parts on
a cluster given by its address (``--scheduler``) and in the run's process on the LocalCluster a run
starts on its own machine. In parts the run's process splits each month and what is known before
it, sends the parts and puts their outcomes together while the month's sheets stay where they were
read: on the two workers of this 2-core machine that costs more than validating the month itself
(README § Beyond one machine: a 1M-line book's cross-row validation 6.7 s whole, 15.1 s in parts),
and it is what lets a cluster of more cores than the run's machine validate in parallel without
every month's cells coming to the machine that drives it (at 10M lines the run's read stage 8.75
against 6.78 GB)."""


def validates_in_parts(on_a_given_cluster: bool = False) -> bool:
    """Whether the Dask engine validates across rows in parts: as ``PIPELINE_VALIDATE_IN_PARTS``
    says, and when it is unset, on a cluster given by its address (``on_a_given_cluster``)."""
    value = os.environ.get(VALIDATE_IN_PARTS_VARIABLE, "").strip()
    if value not in ("", "0", "1"):
        raise FatalInputError(VALIDATE_IN_PARTS_VARIABLE, f"expected 0 or 1, got {value!r}")
    return value == "1" if value else on_a_given_cluster


DASK_CONFIG = {"dataframe.convert-string": False, "dataframe.shuffle.method": "tasks"}
"""For frames read lazily on the cluster (``with_parts``): text columns keep the pandas engine's
dtypes, and the in-memory task shuffle unless told otherwise (``make bench-scale`` uses dask's p2p
shuffle, on disk)."""


def part_count(lines: int, workers: int, per_worker: int = PARTS_PER_WORKER) -> int:
    """How many parts a valuation of ``lines`` lines is split into on ``workers`` workers (at least
    ``per_worker`` each; a month's cross-row validation takes one each, ``DaskEngine.validated_month``)."""
    return max(1, workers * per_worker, -(-lines // LINES_PER_PART))


def adjudicated_part(
    lines: pd.DataFrame, claims: pd.DataFrame, policies: pd.DataFrame, book: ProductBook
) -> pd.DataFrame:
    """One part's lines adjudicated by the pandas stage (the part's claims and policies are its own),
    keeping the lines' part column."""
    result = adjudicated_lines(lines, claims.drop(columns=PART), policies.drop(columns=PART), book)
    return result if PART in result.columns else result.assign(**{PART: lines[PART]})


Placed = dict[str, np.ndarray | ExtensionArray]


def _placed(frame: pd.DataFrame, order: FileOrder) -> Placed:
    """What a part of a table of the history needs beside its columns to be put in file order on
    its own: each row's place in the whole table's file order (``POSITION``) and, when narrowed
    away, its month (``MONTH``, as text in one Arrow array: not a Python string per row)."""
    placed: Placed = {POSITION: order.places()}
    return placed if MONTH in frame.columns else placed | {MONTH: order.row_months().array}


def _rows_placed(frame: pd.DataFrame, placed: Placed, rows: np.ndarray) -> pd.DataFrame:
    """The ``rows`` (positions) of a table of the history with what ``_placed`` gives them."""
    return frame.iloc[rows].assign(**{column: values[rows] for column, values in placed.items()})


def _columns_of(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame without rows with ``frame``'s columns and dtypes, sharing none of its memory (a slice
    without rows, ``frame.iloc[:0]``, would keep every one of its arrays alive)."""
    return pd.DataFrame({column: pd.array([], dtype=dtype) for column, dtype in frame.dtypes.items()})


def _rows_of(chunk: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """The ``rows`` (positions) of one run of the history's lines, on the worker that holds it."""
    return chunk.iloc[rows]


def _part_versions(tables: History, pieces: list[pd.DataFrame], order: np.ndarray, meta: pd.DataFrame) -> Versions:
    """One part of the history on a worker, made ready for as-at views by each row's place in the
    whole file order (``versions_of`` by ``POSITION``): its policies and claims as sent; its lines the
    columns the workers hold taken from the runs that hold them (``pieces``, one run's rows after
    another; ``order`` their places among the part's lines: ``_rows_on_workers``) with the columns,
    place and index the run gave them (``LINE_COLUMNS_HERE``), in the columns and dtypes of the whole
    history's lines (``meta``: months without a column leave it empty, as when the months are put
    together). Raises if the rows are not the lines the run sent."""
    lines = tables.lines
    taken = pd.concat(pieces, ignore_index=True) if pieces else meta
    whole = taken.take(np.argsort(order, kind="stable"))
    if not np.array_equal(whole["line_id"].to_numpy(dtype=object), lines["line_id"].to_numpy(dtype=object)):
        raise ValueError(f"a part's lines taken on the workers are not the {len(lines):,} lines sent")
    given = {column: lines[column] for column in lines.columns if column in meta.columns}
    whole = whole.set_axis(lines.index).assign(**given).reindex(columns=meta.columns)
    differ = {
        column: meta[column].dtype
        for column in meta.columns
        if column not in given and whole[column].dtype != meta[column].dtype
    }
    whole = whole.astype(differ) if differ else whole
    return versions_of(replace(tables, lines=whole.assign(**{POSITION: lines[POSITION]})), row=POSITION)


def _view_as_at(versions: Versions, valuation: str) -> InForce:
    """One part of the history as at ``valuation`` (on a worker), with the lines' columns the claims
    engine reads and each line's place in the whole file order (``POSITION``)."""
    return versions.as_at(valuation, [*LINE_COLUMNS_READ, POSITION])


def _first_line_places(lines: pd.DataFrame) -> np.ndarray:
    """The place in the whole file order (``POSITION``) of each claim's first line of a part's view,
    in the order of the claims' first lines: the order of the part's sums per claim."""
    return lines.drop_duplicates("claim_id")[POSITION].to_numpy()


def claim_payables_as_at_part(versions: Versions, valuation: str, book: ProductBook) -> pd.DataFrame:
    """One part of the history's ``claim_payables`` as at ``valuation`` (on a worker): the part's
    view as at that month (``_view_as_at``), adjudicated (``line_payables``) and summed per claim
    (every line of a claim is in its claim's part, so the part's sums are the claim's), each claim
    with the place of its first line, to put the parts' claims back in the order the pandas engine
    gives."""
    view = _view_as_at(versions, valuation)
    payables = line_payables(view.lines, view.claims, view.policies, book)
    totals = claim_payables(valuation, payables)  # a row per claim, in the order of its first line
    return totals.assign(**{POSITION: _first_line_places(view.lines)})


def movements_part(
    versions: Versions, month: str, before: str | None, book: ProductBook
) -> tuple[pd.DataFrame, LineSums, pd.DataFrame | None]:
    """One part of the history's ``Movements`` as at ``month`` and ``before`` (M−1, or None) on a
    worker: the part's views as at both (as at M with every column of its lines; as at M−1 with
    those ``_view_as_at`` keeps), ``adjudicated_lines`` and ``line_payables`` of them and
    ``month_movements`` of the two (every version of a line is in its claim's part, so a part's
    movements and sums per claim and policy are the lines', claims' and policies' own). The lines as
    at M, each with its place in the whole file order (``POSITION``), their sums (``line_sums``),
    each claim of them with the place of its first line, and M−1's sums per claim, each claim with
    the place of its first line: to put the parts' rows back in the order of the whole views."""
    view = versions.as_at(month)
    lines_now = adjudicated_lines(view.lines, view.claims, view.policies, book)
    earlier = None if before is None else _view_as_at(versions, before)
    lines_before = None if earlier is None else line_payables(earlier.lines, earlier.claims, earlier.policies, book)
    moved = month_movements(lines_now, lines_before)
    assert moved.lines is not None  # month_movements keeps the lines
    whole, sums = moved.lines, moved.sums
    sums = replace(sums, per_claim=sums.per_claim.assign(**{POSITION: _first_line_places(whole)}))
    if earlier is None or moved.before is None:
        return whole, sums, None
    return whole, sums, moved.before.reset_index().assign(**{POSITION: _first_line_places(earlier.lines)})


def runs_shares(lines: pd.DataFrame, starts: np.ndarray) -> list[pd.DataFrame]:
    """One part's lines as at M (on the worker that holds them) split by the run of the file order
    each belongs to (``starts``: the place, ``POSITION``, of each run's first line, in order): the
    part's share of every run, each in the part's order (empty where the part has none). The split
    is done where the lines are, once per part: each run then takes only its shares."""
    run = np.searchsorted(starts, lines[POSITION].to_numpy(), side="right") - 1
    return [lines.take(rows) for rows in rows_by_part(run, len(starts))]


def annotated_run_written(shares: list[pd.DataFrame], labels: Labels, path: str, parts: int, number: int) -> int:
    """Part ``number`` of ``parts`` of the annotated lines as at M, written on a worker: the run's
    shares of every part of the history (``runs_shares``) put in file order (``_in_file_order``),
    written as the sheet ``lines`` of ``claims_annotated.xlsx`` (``lines_annotated_sheet``) in
    ``labels``' language to ``parquet_part_path``, as the run's own writer writes a sheet beyond
    Excel's rows. Its row count, for the run to check."""
    lines = _in_file_order(shares)
    sheet = lines_annotated_sheet(lines.reset_index(drop=True), labels)
    pq.write_table(parquet_table(sheet.frame), parquet_part_path(Path(path), parts, number))
    return len(lines)


def adjudicated_parts(
    lines: dd.DataFrame, claims: dd.DataFrame, policies: dd.DataFrame, book: ProductBook, parts: int
) -> dd.DataFrame:
    """Lazily, the lines adjudicated part by part: the three Dask frames (each with its ``PART``
    column) shuffled so that part i of each holds the rows of code i, then ``adjudicated_part`` on
    each part (``map_partitions``). The result keeps ``PART``."""
    shuffled = [frame.shuffle(PART, npartitions=parts) for frame in (lines, claims, policies)]
    meta = adjudicated_part(lines._meta, claims._meta, policies._meta, book)
    return dd.map_partitions(adjudicated_part, *shuffled, book, meta=meta, align_dataframes=False)


def with_parts(
    lines: dd.DataFrame, claims: dd.DataFrame, policies: dd.DataFrame, parts: int
) -> tuple[dd.DataFrame, ...]:
    """Lazily, the three Dask frames (as read, e.g. from Parquet datasets) with each row's ``PART``:
    a policy's and a claim's from their ``policy_id``, a line's from its claim (a join on
    ``claim_id``; a line whose claim is missing gets part 0, where the stage reports it)."""

    def keyed(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(**{PART: policy_part(frame["policy_id"], parts)})

    claims = claims.map_partitions(keyed, meta=keyed(claims._meta))
    policies = policies.map_partitions(keyed, meta=keyed(policies._meta))
    lines = lines.merge(claims[["claim_id", PART]], on="claim_id", how="left")
    lines = lines.assign(**{PART: lines[PART].fillna(0).astype("int64")})
    return lines, claims, policies


@dataclass(frozen=True)
class SheetOnWorkers(RowChecked):
    """A row-checked sheet left on the workers where it was read (validation in parts, ``in_parts``):
    here only its id columns and row labels (``sheet_ids``), the sheet itself ``on_workers``."""

    on_workers: Future | None = None

    @classmethod
    def left(cls, ids: RowChecked, on_workers: Future) -> SheetOnWorkers:
        """The sheet whose ids (``sheet_ids``) are ``ids``, itself at ``on_workers``."""
        return cls(ids.raw, ids.frame, ids.parse_failures, ids.row_failures, on_workers)


class DaskEngine:
    """The claims engine on a dask.distributed cluster (``client``)."""

    def __init__(self, client: Client, scheduler: str = LOCAL, in_parts: bool | None = None) -> None:
        self.client = client
        self.scheduler = scheduler
        self.in_parts = validates_in_parts(on_a_given_cluster=scheduler != LOCAL) if in_parts is None else in_parts
        self.chunks: list[Future] = []  # the history's lines on the workers (``kept_month``)
        self.line_columns: list[tuple[str, int, pd.DataFrame]] = []  # each month's lines' count, columns, dtypes

    def checked_months(
        self, found: BordereauFiles, months: Sequence[str], read: FileReader, book: ProductBook
    ) -> Iterator[tuple[str, list[RowChecked]]]:
        """The row-checked sheets of ``months``, month by month as they are read
        (``months_as_read``): each input file read by ``read`` (the cover-holder's reader: the
        contract's or its layout's) and its sheets row-checked in a task of its own on the workers
        (which see the input folder at the same path), each part of a folder sheet in a task of its
        own (``read_tasks``, ``checked_task``; the parts combined here); a file that cannot be read
        raises its one-line ``FatalInputError`` at its turn, as in this process. The product book
        goes with each task as it is (a few tens of KiB pickled). At most ``READS_AHEAD_PER_PROCESS``
        tasks per worker are submitted and not yet taken (``_taken_in_order``). With ``in_parts``
        the sheets stay on the workers and only their id columns and row labels come here
        (``SheetOnWorkers``, ``sheet_ids``; a folder sheet's parts put together on the workers), for
        ``validated_month`` to validate them there."""
        tasks = read_tasks(month_sources(found, months), read)
        ahead = READS_AHEAD_PER_PROCESS * max(1, workers_of(self.client))
        if not self.in_parts:
            sent = partial(self.client.submit, checked_pickled, read=read, book=book, pure=False)
            return months_as_read(months, tasks, _taken_in_order(sent, _unpickled, tasks, ahead))
        submit = partial(self.client.submit, checked_task, read=read, book=book, pure=False)
        taken = _taken_in_order(submit, self._left_on_workers, tasks, ahead)
        return months_as_read(months, tasks, taken, self._combined_on_workers)

    def _left_on_workers(self, future: Future) -> list[RowChecked]:
        """The sheets one read task gave, left on the workers: only their ids come here."""
        ids = self.client.submit(sheet_ids, future, pure=False).result()
        return [
            SheetOnWorkers.left(sheet, self.client.submit(operator.getitem, future, number, pure=False))
            for number, sheet in enumerate(ids)
        ]

    def _combined_on_workers(self, parts: Sequence[RowChecked]) -> RowChecked:
        """The parts of a folder sheet left on the workers put together there (``combined_checked``),
        and their ids here."""
        on_workers = self.client.submit(combined_checked, [self._on_workers(part) for part in parts], pure=False)
        return SheetOnWorkers.left(combined_checked(parts), on_workers)

    def validated_month(
        self, month: str, sheets: Sequence[RowChecked], known: Known, book: ProductBook
    ) -> tuple[MonthValidated, Known]:
        """The cross-row part of validation of one month: in the run's process (``validate_month``),
        or with ``in_parts`` (``VALIDATE_IN_PARTS_VARIABLE``) in parts on the workers, as
        ``validate_month`` gives it of the whole month (``pipeline.engine.validation_parts``): the
        month's rows and what is known before it that its rules look at put into parts here by
        policy from the sheets' ids, the policies its ids join kept together (``part_rows``: a part
        per worker, more from ``LINES_PER_PART`` rows a part), each part's rows and what is known
        of them scattered, each sheet's rows of each part taken where the sheet is (``sheet_rows``; a
        sheet given whole here is sent there first) and each part validated by ``validate_month``
        in a task of its own (``part_outcome``), the outcomes put back together here
        (``month_from_parts``) and what the month makes known added (``known_after``)."""
        if not self.in_parts:
            return validate_month(month, sheets, known, book)
        parts = part_count(sum(sheet.raw.rows_read for sheet in sheets), workers_of(self.client), per_worker=1)
        whole = [self._on_workers(sheet) for sheet in sheets_by_name(sheets).values()]
        routes = part_rows(sheets, known, parts)
        knowns = self.client.scatter([route.known for route in routes], hash=False)
        futures = []
        for route, known_of_part in zip(routes, knowns, strict=True):
            # each sheet's rows of the part taken where the sheet is; only they go to the part's task
            taken = [
                self.client.submit(sheet_rows, sheet, at, pure=False)
                for sheet, at in zip(whole, route.rows, strict=True)
            ]
            futures.append(self.client.submit(_part_outcome, taken, known_of_part, month, book, pure=False))
        outcome = month_from_parts(month, sheets, self.client.gather(futures))
        return outcome, known_after(known, outcome)

    def _on_workers(self, sheet: RowChecked) -> Future:
        """The sheet on the workers: where it was left (``SheetOnWorkers``), or sent there now."""
        if isinstance(sheet, SheetOnWorkers) and sheet.on_workers is not None:
            return sheet.on_workers
        return self.client.scatter(sheet, hash=False)

    view_line_columns = LINES_ELSEWHERE
    """The run's view as at M needs of its lines only their number and index: the workers make them
    whole."""
    previous_view_line_columns = LINES_ELSEWHERE
    """The run's view as at M−1 needs no column of its lines: the workers make and value their own."""

    def kept_month(self, month: MonthValidated) -> MonthValidated:
        """A validated month as the run keeps it (once stored in the parse cache and marked with its
        cover-holder): its lines kept on the workers from here on, in runs of ``LINES_PER_PART``
        consecutive lines scattered one at a time (balanced over the workers), and in the run's
        process only the columns it reads of them (``LINE_COLUMNS_HERE``) with where each is on the
        workers (``LINE_KEY``), by which ``valued_history`` finds the rest of their rows there (the
        workers hold every other column and each line's id: ``LINE_COLUMNS_THERE_TOO``). The policies
        and claims stay in the run's process (it prices, totals and reports them)."""
        return replace(month, lines=self._lines_kept(month.month, month.lines))

    def _lines_kept(self, month: str, lines: pd.DataFrame) -> pd.DataFrame:
        """``lines`` kept on the workers (``kept_month``): what the run keeps of them here."""
        first = len(self.chunks)
        kept_here = [column for column in lines.columns if column in LINE_COLUMNS_HERE]
        there = lines.drop(columns=[column for column in kept_here if column not in LINE_COLUMNS_THERE_TOO])
        self.chunks.extend(
            self.client.scatter(there.iloc[start : start + LINES_PER_PART], hash=False)
            for start in range(0, len(there), LINES_PER_PART)
        )
        del there
        self.line_columns.append((month, len(lines), _columns_of(lines)))
        rows = np.arange(len(lines), dtype=np.int64)
        keys = ((first + rows // LINES_PER_PART) << 32) | (rows % LINES_PER_PART)
        # a copy: a selection of columns may share the month's blocks, and keep all of them alive
        here = lines[kept_here].copy()
        return here.assign(**{LINE_KEY: keys})

    def _history_meta(self) -> pd.DataFrame:
        """The columns and dtypes of the history's lines as the run puts the months together
        (``pipeline.stages.validate.combined``: in month order, months without lines left out), from
        the months kept (``kept_month``); those of the first month kept if none has lines."""
        kept = sorted(self.line_columns, key=operator.itemgetter(0))
        metas = [meta for _, rows, meta in kept if rows] or [kept[0][2]]
        return pd.concat(metas) if len(metas) > 1 else metas[0]

    def valued_history(self, versions: Versions, earlier: Sequence[str], book: ProductBook) -> ValuedHistory:
        """The history valued on the workers, with no view of it made here: the history
        (``versions``, its policies and claims narrowed to the columns the claims engine reads, its
        lines kept on the workers by ``kept_month`` as each month was validated, or here) split once into
        parts that hold whole groups of policies with every version of their claims and lines
        (``history_parts``), each part's policies and claims scattered to the workers with each
        row's place in the whole file order, the rest of its lines' rows taken on the workers from
        where they are kept, and the part made ready for as-at views there (``_each_part_on_workers``), and
        kept there until the ``ValuedHistory`` is let go (``HistoryOnWorkers``): each month's view
        is made, adjudicated (and for the triangle's earlier months summed per claim) part by part
        there. The triangle's months of a part are submitted as soon as the part is sent, so the
        workers value the parts already sent while this process splits and sends the next; only a
        row per claim comes back (``_each_gathered_per_claim``). Every month is submitted at once:
        what is on the cluster is the history, sent once, not a view per month."""
        if LINE_KEY not in versions.history.lines.columns:  # a history not kept month by month: kept now
            history = versions.history
            kept = replace(history, lines=self._lines_kept("", history.lines))
            versions = replace(versions, history=kept)  # the same rows: the same orders
        _, claims_read, policies_read = column_names_read(book)
        here = list(versions.history.lines.columns)
        versions = versions.keeping(policies=policies_read, claims=claims_read, lines=here)
        parts: list[Future] = []
        per_claim: dict[str, list[Future]] = {month: [] for month in earlier}
        for part in self._each_part_on_workers(versions):
            parts.append(part)
            for month, futures in per_claim.items():
                futures.append(self.client.submit(claim_payables_as_at_part, part, month, book, pure=False))
        on_workers = HistoryOnWorkers(self.client, parts, book)
        return ValuedHistory(
            _each_gathered_per_claim(self.client, per_claim), on_workers.movements, on_workers.lines_elsewhere
        )

    def _each_part_on_workers(self, versions: Versions) -> Iterator[Future]:
        """The history of ``versions`` in parts (``history_parts``), each row with its month and its
        place in the whole history's file order (``POSITION``: the order of a part's rows, and of
        the claims of the parts' sums put together): each part's policies, claims and the lines'
        columns here scattered to the workers one part at a time, the rest of its lines' rows taken
        from the chunks that hold them (``_rows_of``, a task where each chunk is: only the part's rows
        move) and put together with them on a worker (``_part_versions``), made ready for as-at views
        there (``versions_of`` by that place): each part's ``Versions`` future as soon as it is
        sent. The chunks are let go once every part has taken its rows."""
        history = versions.history
        parts = part_count(len(history.lines), max(1, workers_of(self.client)))
        frames = (history.policies, history.claims, history.lines)
        orders = (versions.policies, versions.claims, versions.lines)
        placed = [_placed(frame, order) for frame, order in zip(frames, orders, strict=True)]
        rows = [rows_by_part(part, parts) for part in history_parts(versions, parts)]
        chunks, self.chunks = self.chunks, []
        meta = self._history_meta()
        self.line_columns = []
        for number in range(parts):  # one part copied at a time, let go once sent
            piece = [
                _rows_placed(frame, columns, at[number])
                for frame, columns, at in zip(frames, placed, rows, strict=True)
            ]
            lines, order = self._rows_on_workers(chunks, piece[2][LINE_KEY].to_numpy())
            scattered = self.client.scatter(History(*piece), hash=False)
            del piece
            yield self.client.submit(_part_versions, scattered, lines, order, meta, pure=False)
        freed_memory_returned_after(len(history.lines))

    def _rows_on_workers(self, chunks: Sequence[Future], keys: np.ndarray) -> tuple[list[Future], np.ndarray]:
        """The rows of the history's lines at ``keys`` (``LINE_KEY``s) as the workers hold them (every
        column the run does not keep, and the id: ``kept_month``), taken there from the ``chunks``
        that hold them: one task per run of lines with rows among them, in the runs'
        order (``rows_by_part`` of each key's run), and the places among ``keys`` of the rows they
        give, one after another."""
        taken = rows_by_part(keys >> 32, len(chunks))
        pieces = [
            self.client.submit(_rows_of, chunk, keys[at] & 0xFFFFFFFF, pure=False)
            for chunk, at in zip(chunks, taken, strict=True)
            if len(at)
        ]
        return pieces, np.concatenate(taken) if taken else np.empty(0, dtype=np.int64)

    def describe(self) -> dict[str, Any]:
        workers = workers_now(self.client)
        described = {
            "name": "dask",
            "version": dask.__version__,
            "workers": len(workers),
            "worker_memory_limit": smallest_memory_limit(workers),
            "scheduler": self.scheduler,
        }
        return described | ({"cross_row_validation": "in parts on the workers"} if self.in_parts else {})


class HistoryOnWorkers:
    """A run's history in parts on the workers (``DaskEngine._each_part_on_workers``: one
    ``Versions`` future per part, each row with its place in the whole history's file order,
    ``POSITION``), held as long as this object is, and the views as at M and M−1 made of it there."""

    def __init__(self, client: Client, parts: list[Future], book: ProductBook) -> None:
        self.client = client
        self.parts = parts
        self.book = book
        self.kept: LinesOnWorkers | None = None

    def movements(self, current: InForce, previous: InForce | None) -> Movements:
        """The ``Movements`` of ``current`` and ``previous`` (views the run made of the same
        history, as at M and M−1) as the pandas engine gives them: both views made and valued part
        by part on the workers (``movements_part``). The lines' sums come back (``line_sums`` of
        each part, put together by ``line_sums_together``, the claims in the order of each claim's
        first line), and the lines as at M whole, put in the order of each line's place in the file
        order (the order of the view's lines) and with the view's index; or, when they are more
        than an Excel sheet holds and their annotated columns fit one (``_kept_on_workers``), the
        lines stay on the workers, to be written there (``lines_elsewhere``), and none come back.
        Of M−1 only a row per claim, put in the order of each claim's first line. The lines as at
        M−1 never come here."""
        before = None if previous is None else previous.month
        futures = self.client.map(
            movements_part, self.parts, month=current.month, before=before, book=self.book, pure=False
        )
        whole, sums, claims_before = (
            [self.client.submit(operator.getitem, future, number, pure=False) for future in futures]
            for number in range(3)
        )
        del futures  # the workers keep each part's three results, not their tuple
        summed = _sums_in_place_order(self.client.gather(sums))
        del sums
        lines = current.lines
        if summed.lines != len(lines):
            raise ValueError(
                f"the workers' view as at {current.month}: {summed.lines:,} lines, the run's {len(lines):,}"
            )
        # the columns and dtypes of the largest part's lines (a part without lines may have others)
        largest = int(np.argmax(self.client.gather(self.client.map(len, whole, pure=False))))
        meta = self.client.submit(_columns_of, whole[largest], pure=False).result()
        moved = None
        if _kept_on_workers(len(lines), meta):
            places = self.client.gather(self.client.map(_places, whole, pure=False))
            self.kept = LinesOnWorkers(self.client, whole, np.sort(np.concatenate(places)))
        else:
            self.kept = None
            moved = _in_file_order(self.client.gather(whole)).set_axis(lines.index)
        del whole
        if previous is None:
            return Movements(moved, summed, None)
        return Movements(moved, summed, _in_file_order(self.client.gather(claims_before)).set_index("claim_id"))

    def lines_elsewhere(self) -> LinesOnWorkers | None:
        """The lines as at M of the last ``movements``, if they were kept on the workers."""
        return self.kept


def _places(lines: pd.DataFrame) -> np.ndarray:
    """The places in the whole file order (``POSITION``) of a part's lines."""
    return lines[POSITION].to_numpy()


def _sums_in_place_order(parts: list[LineSums]) -> LineSums:
    """The parts' ``line_sums`` put together (``line_sums_together``), the claims in the order of the
    places of their first lines (``POSITION``, dropped): the order the pandas engine gives."""
    together = line_sums_together(parts)
    per_claim = together.per_claim.sort_values(POSITION, kind="stable").drop(columns=POSITION)
    return replace(together, per_claim=per_claim)


def _kept_on_workers(rows: int, meta: pd.DataFrame) -> bool:
    """Whether the Dask engine keeps the lines as at M on the workers and writes their annotated
    sheet there: when the run would write it to Parquet (more lines than an Excel sheet holds) and
    its columns fit one (else the run's writer puts the columns beyond in a side file)."""
    columns = annotated_columns(meta, input_columns()["lines"], LINE_CONTEXT, LINE_COMPUTED)
    return rows + 1 > max_sheet_rows() and len(columns) <= max_sheet_columns()


class LinesOnWorkers:
    """The whole lines as at M kept on the workers (``movements_part``'s, one future per part of the
    history, each line with its place in the file order, ``POSITION``), ``places`` every line's place
    in order; ``sheet`` gives the annotated sheet written from there (``AnnotatedLinesOnWorkers``)."""

    def __init__(self, client: Client, parts: list[Future], places: np.ndarray) -> None:
        self.client, self.parts, self.places = client, parts, places

    def sheet(self, labels: Labels) -> SheetElsewhere:
        return SheetElsewhere("lines", len(self.places), AnnotatedLinesOnWorkers(self, labels))


class AnnotatedLinesOnWorkers(WrittenElsewhere):
    """The sheet ``lines`` of ``claims_annotated.xlsx`` written to Parquet by the workers that hold
    the lines: each part split where it is into its shares of the runs of ``parquet_part_rows()``
    consecutive lines of the file order (``runs_shares``), and each run's shares put together and
    written as the part of that number (``annotated_run_written``), the earlier runs first: the files
    the run's own writer would write."""

    def __init__(self, lines: LinesOnWorkers, labels: Labels) -> None:
        self.lines, self.labels = lines, labels

    def start(self, path: Path) -> Future:
        """Start writing to ``path``; the lines on the workers are let go once written (one start).
        Each part's shares become futures of their own as soon as the part is split (a higher
        priority than splitting the next part), so that no share waits in the list of all of a
        part's shares (which a worker short of memory could spill, and read back whole for each
        share); each run's task then takes only its shares, from wherever they are
        (pipeline/bench/MEASUREMENTS.md: at 20M lines 304 s from the start through dask's
        ``set_index`` shuffle, 123–132 s this way)."""
        lines, client = self.lines, self.lines.client
        places, part_rows = lines.places, parquet_part_rows()
        parts = parquet_parts(len(places), part_rows)
        if parts > 1:
            path.mkdir()
        starts = places[::part_rows]
        held, lines.parts = lines.parts, []  # held by the tasks from here, let go once split
        split = [client.submit(runs_shares, part, starts, pure=False) for part in held]
        del held
        shares = [
            [client.submit(operator.getitem, runs, number, priority=1, pure=False) for runs in split]
            for number in range(parts)
        ]
        del split
        written = [
            client.submit(annotated_run_written, shares[number], self.labels, str(path), parts, number, pure=False)
            for number in range(parts)
        ]
        return client.submit(_all_written, written, len(places), pure=False)


def _all_written(written: list[int], rows: int) -> None:
    """Check that the parts written (``annotated_run_written``'s row counts) hold every line."""
    if sum(written) != rows:
        raise ValueError(f"the workers wrote {sum(written)} annotated lines of {rows}")


def _each_gathered_per_claim(client: Client, submitted: dict[str, list[Future]]) -> Iterator[tuple[str, pd.DataFrame]]:
    """Per month of ``submitted`` in turn, its parts' ``claim_payables_as_at_part`` gathered: the
    ``claim_payables`` of the view as at it as the pandas engine gives them, in the order of each
    claim's first line (each claim with the place of its first line), indexed 0..n−1."""
    for month in list(submitted):
        rows = _in_file_order(client.gather(submitted.pop(month)))  # the month's futures let go once gathered
        yield month, rows.reset_index(drop=True)


def _in_file_order(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The parts' rows together, in the order of their places in the whole file order (``POSITION``,
    then dropped): the order of the whole view's rows. Parts without rows are left out (an empty
    part's columns may have other dtypes than a part's with rows) unless all are empty; ``parts`` is
    emptied once they are together, so each part is let go before the rows are put in order."""
    together = pd.concat([part for part in parts if len(part)] or parts[:1], ignore_index=True)
    parts.clear()
    return together.sort_values(POSITION, kind="stable").drop(columns=POSITION)


def _part_outcome(sheets: list[RowChecked], known: Known, month: str, book: ProductBook) -> MonthValidated:
    """The task of one part of a month on the workers: ``part_outcome`` of its rows of each sheet."""
    return part_outcome(MonthPart(sheets, known), month, book)


Item = TypeVar("Item")
Pending = TypeVar("Pending")
Taken = TypeVar("Taken")


def checked_pickled(task: ReadTask, read: FileReader, book: ProductBook) -> bytes:
    """The sheets ``checked_task`` gives, pickled on the worker that read them, for the run to
    unpickle on its own main thread (``_unpickled``). Sent as objects, they were unpickled by the
    client's communication thread, and glibc gives that thread an arena of its own, whose memory
    the run's main thread does not reuse once it has let the sheets go: the 5M-line book's read
    stage peaked at 4.19 GB in the run's process that way, 3.61 GB this way
    (pipeline/bench/MEASUREMENTS.md § Beyond one machine). The one block of bytes is a mapping of
    its own, handed back when let go."""
    return pickle.dumps(checked_task(task, read, book), protocol=pickle.HIGHEST_PROTOCOL)


def _unpickled(future: Future) -> Any:
    """A task's pickled result (``checked_pickled``), unpickled in this thread."""
    return pickle.loads(future.result())


def _taken_in_order(
    submit: Callable[[Item], Pending], take: Callable[[Pending], Taken], items: Iterable[Item], ahead: int
) -> Iterator[Taken]:
    """``take(submit(item))`` of each item in order, at most ``ahead`` items submitted and not yet
    taken (the workers hold what is submitted until it is taken: without a bound, every month of a
    large book's files while the run validates the first ones, or every valuation of the triangle),
    the next submitted as soon as the oldest is taken; nothing is kept here once handed over (the
    workers free a result once its future is let go)."""
    upcoming = iter(items)
    pending = deque(submit(item) for item in itertools.islice(upcoming, max(1, ahead)))
    while pending:
        handed = [take(pending.popleft())]  # no name of this frame keeps it once handed over
        pending.extend(submit(item) for item in itertools.islice(upcoming, 1))
        yield handed.pop()
