"""The order of stages of a run as at month M, nothing else (ARCHITECTURE.md; CALCULATION.md § Time).

read (the month folders, each sheet parsed and checked row by row where it is read; a month's
workbooks only when the parse cache has no entry for it; each month validated against what earlier
months made known as soon as it is read, while the engine reads the later months, then stored in
the parse cache, marked with its cover-holder and its lines sent where the engine keeps them: the
Dask engine's workers; a cached month as cached) -> validate (the months put together: the
history, the rejected rows, the reconciliation) -> versions (the history in file order, handed to
the engine, which keeps what it reads of it: the Dask engine sends it to its workers; then the views
as at M and as at M−1 and the validated history let go) -> triangle (the versions and claims as at
every earlier month: the payable history of the development triangle; then what the pandas engine
kept of the history is let go) -> premium -> claims (as at M and M−1: the month's
movements) -> annotate (the annotated workbooks built and started: they are written while the run
goes on; the Dask engine's workers write the annotated lines beyond a sheet's rows) ->
reinsurance -> reports -> write (the summary and rejected workbooks, then every file done, the
manifest, the swap).
Each stage logs one timed line to stderr: rows in, rows out, rows rejected, seconds.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
from tqdm import tqdm

import pipeline
from pipeline.calendar import month_end, months_from, previous_month
from pipeline.engine import Engine, LinesElsewhere, open_engine
from pipeline.io.cache import CACHE_FOLDER, file_fingerprint, folder_fingerprint
from pipeline.io.find import input_files
from pipeline.io.holders import HolderRead, cache_description, check_month, no_bordereau_warnings
from pipeline.io.layouts import coverholders, file_reader, outside_the_months
from pipeline.io.outputs import (
    SheetElsewhere,
    check_output_folder,
    manifest,
    month_outputs,
    output_files,
    sheet_rows,
)
from pipeline.io.workbook import Sheet
from pipeline.memory import freed_memory_returned
from pipeline.products import DEFAULT_PRODUCTS_DIR, ProductBook, load_products
from pipeline.reports.annotated import claims_annotated_sheet, claims_annotated_sheets, policies_annotated_sheets
from pipeline.reports.coverholders import coverholder_sheets
from pipeline.reports.labels import labels_for
from pipeline.reports.portfolio import PortfolioInputs, portfolio_summary_sheets
from pipeline.reports.rejected import rejected_sheets
from pipeline.reports.run_info import RunInfo, with_run
from pipeline.stages.claims import (
    LineSums,
    claim_payables_of,
    claim_totals_of,
    payable_history,
    remaining_limits,
)
from pipeline.stages.coverholders import coverholder_month, data_quality, in_month_order
from pipeline.stages.premium import accounted_policies, priced_policies
from pipeline.stages.reinsurance import Reinsurance, claim_first_months, reinsurance, with_first_months
from pipeline.stages.validate import combined, reconciliation, validate_months
from pipeline.stages.versions import History, versions_of
from pipeline.tables import MonthValidated

log = logging.getLogger("pipeline")
T = TypeVar("T")
STAGES = (
    "products",
    "read",
    "validate",
    "versions",
    "triangle",
    "premium",
    "claims",
    "annotate",
    "reinsurance",
    "reports",
    "write",
)
STAGE_WIDTH = max(map(len, STAGES))  # the stage lines print as an aligned table


@dataclass
class RunResult:
    """What a run as at ``month`` produced: the rows in force as at M (priced policies, claim totals,
    adjudicated lines: None when the engine wrote them from elsewhere; ``line_sums``, what the
    figures read of them, either way) and
    the policies and claims as at M−1 (as validated; the lines as at M−1 are let go after the claims
    stage, the validated history after the triangle: the months validated again and
    ``pipeline.stages.versions.as_at`` give them), the rejected rows, the counts per sheet (with the
    reconciliation), every sheet written (``sheets``: file -> sheets, here or elsewhere), timings and the
    output folder; the months whose parse came from the cache, and the sheets written as Parquet."""

    month: str
    policies: pd.DataFrame
    claims: pd.DataFrame
    lines: pd.DataFrame | None
    line_sums: LineSums
    policies_previous: pd.DataFrame
    claims_previous: pd.DataFrame
    rejected: pd.DataFrame
    counts: pd.DataFrame
    reconciliation: pd.DataFrame
    timings: dict[str, float]
    output_folder: Path
    book: ProductBook
    inputs: list[dict[str, Any]] = field(default_factory=list)
    reinsurance_policies: pd.DataFrame | None = None
    reinsurance_claims: pd.DataFrame | None = None
    reinsurance: Reinsurance | None = None
    payable_history: pd.DataFrame | None = None
    sheets: dict[str, list[Sheet | SheetElsewhere]] = field(default_factory=dict)
    cached_months: list[str] = field(default_factory=list)
    parquet_sheets: list[dict[str, Any]] = field(default_factory=list)


class Stages:
    """Times each stage, logs one line per stage and drives a progress bar on a terminal. At the end
    of every stage glibc's freed pages are handed back (``freed_memory_returned``): what the stage let
    go (the months as validated, the history, the views, the engine's columns, the tables of the
    reinsurance and the reports) is not kept resident beside the next stage's tables, nor shared
    with the writers forked later (README § Beyond one machine, What is not distributed yet)."""

    def __init__(self, total: int) -> None:
        self.timings: dict[str, float] = {}
        self.bar = tqdm(total=total, file=sys.stderr, disable=not sys.stderr.isatty(), leave=False, unit="stage")

    @contextmanager
    def stage(self, name: str) -> Iterator[dict[str, int | str]]:
        """Time the block; the block fills ``rows_in``, ``rows_out``, ``rejected`` (counts) or a
        phrase (text, shown as is) for the log line."""
        rows: dict[str, int | str] = {}
        self.bar.set_description(name)
        start = time.perf_counter()
        yield rows
        freed_memory_returned()
        seconds = time.perf_counter() - start
        self.timings[name] = round(seconds, 3)
        self.bar.update(1)
        counts = ", ".join(value if isinstance(value, str) else f"{key} {value:,}" for key, value in rows.items())
        log.info("%-*s %s%s%.2f s", STAGE_WIDTH, name, counts, ", " if counts else "", seconds)

    def close(self) -> None:
        self.bar.close()


def run_month(
    input_dir: Path,
    month: str,
    output_dir: Path,
    *,
    products_dir: Path | None = None,
    lang: str = "en",
    cache_dir: Path | None = None,
    use_cache: bool = True,
    engine: str | Engine = "pandas",
    scheduler: str | None = None,
    worker_memory: int | str | None = None,
) -> RunResult:
    """Run the bordereaux of every month up to ``month`` and write ``<output_dir>/<month>/``. The
    parse cache lives in ``cache_dir`` (default ``<output_dir>/.cache``); ``use_cache=False`` reads
    and validates every month and writes no cache. ``engine`` adjudicates the claims: ``pandas`` in
    this process, ``dask`` on the dask.distributed cluster at ``scheduler`` (default: a LocalCluster
    of this machine, each worker limited to ``worker_memory`` when given), or a given
    ``pipeline.engine.Engine``."""
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    check_output_folder(input_dir, output_dir)
    stages = Stages(len(STAGES))
    resources = ExitStack()
    try:
        claims_engine = resources.enter_context(open_engine(engine, scheduler, worker_memory))
        with stages.stage("products"):
            book = load_products(products_dir or DEFAULT_PRODUCTS_DIR)

        with stages.stage("read") as rows:
            holders = coverholders(input_dir, book)
            several = bool(holders[0].prefix)  # cover-holder folders: ids scoped (LAYOUTS.md)
            check_month(input_dir, month, holders)
            outside = outside_the_months(input_dir, holders)
            cache_root = cache_dir or output_dir / CACHE_FOLDER
            reads = [HolderRead.of(holder, month, cache_root, book, use_cache=use_cache) for holder in holders]
            no_bordereau_warnings(input_dir, reads)
            # each month validated as soon as it is read, while the engine reads the later months
            waited, validating = Waited(), 0.0
            validated_by_holder = []
            for read in reads:
                # no name keeps the months as they arrive: each month's sheets are let go once validated
                started = time.perf_counter()
                validated_by_holder.append(
                    validate_months(
                        read.found.months,
                        waited.for_each(
                            read.counted(
                                claims_engine.checked_months(
                                    read.found, read.months_to_read, file_reader(read.holder), book
                                )
                            )
                        ),
                        read.cached,
                        book,
                        claims_engine.validated_month,
                        # each month stored, marked and its lines sent where the engine keeps them
                        # as soon as it is validated: the run never holds the book's lines whole
                        # with the Dask engine
                        KeptMonths(read, claims_engine, scoped=several),
                    )
                )
                validating += time.perf_counter() - started
            validating -= waited.seconds  # the time spent waiting for the engine's reading is the read's
            parsed = sum(read.rows_read for read in reads)
            cached_months = {(read.holder.code, m) for read in reads for m in read.cached}
            months_read = sum(len(read.months_read) for read in reads)
            if months_read or not cached_months:
                rows.update(rows_in=parsed, months=months_read)
            if cached_months:
                from_cache = sum(
                    int(str(c["rows_read"])) for read in reads for result in read.cached.values() for c in result.counts
                )
                served = f"{len(cached_months)} month" + ("s" if len(cached_months) != 1 else "")
                rows["cache"] = f"{served} ({from_cache:,} rows) from the parse cache"
            if several:
                rows["coverholders"] = f"{len(holders)} cover-holders"
            if months_read:
                rows["validated"] = f"{validating:.2f} s of it validating the months across rows"
        stages.timings["validate:months"] = round(validating, 3)

        with stages.stage("validate") as rows:
            every_month = in_month_order(validated_by_holder)
            validated = combined(every_month)
            table = reconciliation(validated.counts, validated.rejected)
            quality = data_quality(every_month)
            # the history is a copy of the months' rows (``combined``): the months are let go now,
            # not kept beside it to the end of the triangle
            del validated_by_holder, every_month
            for read in reads:
                read.outcomes_let_go()
            rows.update(
                rows_in=int(table["rows_read"].iloc[-1]),
                rows_out=int(table["rows_processed"].iloc[-1]),
                rejected=int(table["rows_rejected"].iloc[-1]),
            )
        found_months = sorted({m for read in reads for m in read.found.months})

        with stages.stage("versions") as rows:
            valuations = bordereau_months(validated.history, month)
            versions = versions_of(validated.history)  # the history in file order, once for every month
            month_before = previous_month(month)  # M−1
            previous_valued = month_before in valuations  # M−1 a month of the book (not before its first)
            latest = [month, *([month_before] if previous_valued else [])]
            # each claim's first month, for reinsurance: the last read of the history's whole rows here
            # (from here the engine reads the history, and keeps of it only the columns it reads)
            first_months = claim_first_months(validated.history.claims, month)
            rejected, counts = validated.rejected, validated.counts
            del validated
            # the history handed to the engine first, with the claims as at every month before M−1 for
            # the triangle (the pandas engine values them here one at a time when the triangle asks;
            # the Dask engine sends the history to its workers now, where they are valued while the
            # run goes on), and what it needs of it for the lines as at M and M−1 (the Dask engine:
            # its parts on the workers; the pandas engine nothing: it has the views). Then the views
            # as at M and M−1: with the Dask engine they are not held while the history is split
            earlier = [v for v in valuations if v not in latest]
            valued = claims_engine.valued_history(versions, earlier, book)
            # the lines' columns the engine needs of the run's own view (the pandas engine: every
            # column, it adjudicates the view; the Dask engine: their ids, its workers make them whole)
            current = versions.as_at(month, line_columns=claims_engine.view_line_columns)
            # as at M−1 only the claims engine reads the lines: the view keeps the columns it reads
            # (the pandas engine: those of the stage; the Dask engine: none, its workers make their own)
            previous = versions.as_at(month_before, line_columns=claims_engine.previous_view_line_columns)
            del versions
            rows.update(rows_out=len(current.policies) + len(current.claims) + len(current.lines))

        with stages.stage("triangle") as rows:
            # the claims as at every month before M−1, each month's view made when the engine gets to
            # it (the pandas engine here, one at a time, of the history narrowed to the columns it
            # reads; the Dask engine on the workers) and its lines summed per claim as they come. Done
            # before the month's own claims, so that the history is let go (and glibc's freed pages
            # returned at the stage's end) before the lines as at M are adjudicated: neither they nor
            # the annotated workbooks' writers, forked later, are held beside it
            earlier_payables = dict(valued.earlier)
            rows.update(rows_out=sum(map(len, earlier_payables.values())), months=len(earlier_payables))

        with stages.stage("premium") as rows:
            priced = priced_policies(current.policies, book, month_end(month))
            priced_before = priced_policies(previous.policies, book, month_end(month_before))
            accounted = accounted_policies(priced, priced_before)
            rows.update(rows_in=len(current.policies), rows_out=len(accounted))

        with stages.stage("claims") as rows:
            # as at M every column of every line and its movement (none where the engine keeps them
            # whole: beyond a sheet's rows on the Dask engine's workers) and what the figures read
            # of them, summed; of M−1 only the sums per claim that the claim totals and the triangle
            # read (the engine lets the lines go once summed)
            moved = valued.movements(current, previous if previous_valued else None)
            lines, sums, before = moved.lines, moved.sums, moved.before
            lines_elsewhere = valued.lines_elsewhere()  # None: ``lines`` are the lines
            claims = claim_totals_of(current.claims, sums.per_claim, previous.claims, before)
            claims_before = None if before is None else claim_totals_of(previous.claims, before)
            policies = accounted.merge(
                remaining_limits(current.policies, sums.per_policy, book), on="policy_id", how="left", validate="1:1"
            )
            payables = {**earlier_payables, month: claim_payables_of(month, sums.per_claim)}
            if before is not None:
                payables[previous.month] = claim_payables_of(previous.month, before)
            history = payable_history(payables[valuation] for valuation in valuations)
            policies_previous, claims_previous = previous.policies, previous.claims
            claims_with_first_months = with_first_months(claims, first_months)
            rows.update(rows_in=len(current.lines), rows_out=sums.lines, months=len(latest))
            # the engine's and the views' tables let go (and glibc's freed pages handed back at the
            # stage's end) before the writers are forked
            del moved, before, previous, current, payables, earlier_payables, valued

        info = run_info(input_dir, month, found_months, book, lang, table)
        labels = labels_for(book, lang)
        with stages.stage("annotate") as rows:
            annotated, annotated_documents = with_run(
                {
                    "policies_annotated.xlsx": policies_annotated_sheets(policies, labels),
                    "claims_annotated.xlsx": (
                        claims_annotated_sheets(lines, claims, labels)
                        if lines is not None
                        else [_elsewhere(lines_elsewhere).sheet(labels), claims_annotated_sheet(claims, labels)]
                    ),
                },
                info,
                labels,
            )
            early, early_parquet = output_files(annotated, documents=annotated_documents, note=labels.parquet_note())
            outputs = resources.enter_context(month_outputs(output_dir, month))
            outputs.start(early)  # written while the run goes on: reinsurance, reports, the summary
            rows["files"] = f"{len(early)} files started"

        with stages.stage("reinsurance") as rows:
            ceded_and_recovered = reinsurance(
                policies,
                claims_with_first_months,
                book.programme,
                policies_before=priced_before,
                claims_before=claims_before,
            )
            ceded, recovered = ceded_and_recovered.policies, ceded_and_recovered.claims
            if ceded_and_recovered.outside_policies:
                log.warning(
                    "%d policies in no treaty year of the programme: they cede nothing and their claims "
                    "recover nothing (treaty sheet, layer 'outside')",
                    ceded_and_recovered.outside_policies,
                )
            rows.update(rows_out=len(ceded) + len(recovered))

        with stages.stage("reports"):
            summary_inputs = PortfolioInputs(
                month=month,
                policies=policies,
                claims=claims,
                line_sums=sums,
                reinsurance_policies=ceded,
                reinsurance_claims=recovered,
                payable_history=history,
                reconciliation=table,
                policies_previous=priced_before,
                claims_previous=claims_previous,
                reinsurance=ceded_and_recovered,
                by_coverholder=several,
            )
            reports, documents = with_run(
                {
                    "portfolio_summary.xlsx": portfolio_summary_sheets(summary_inputs, book, labels)
                    + (coverholder_sheets(policies, claims, month, book, quality, labels) if several else []),
                    "rejected.xlsx": rejected_sheets(rejected, table, labels),
                },
                info,
                labels,
            )
            sheets = {**annotated, **reports}

        inputs = [
            {"file": f.file, "sha256": f.sha256, "rows": f.rows}
            for read in reads
            for f in input_files(read.found, counts)
        ]
        files, parquet_sheets = output_files(reports, documents=documents, note=labels.parquet_note())
        parquet_sheets = early_parquet + parquet_sheets
        with stages.stage("write") as rows:
            described = manifest(
                month=month,
                input_folder=input_dir,
                products_folder=book.folder,
                lang=lang,
                engine=claims_engine.describe(),
                inputs=inputs,
                not_read=[vars(entry) for entry in (*outside, *(e for read in reads for e in read.found.not_read))],
                reconciliation=table,
                rejected_rows=len(rejected),
                cache=cache_description(reads, output_dir, several) if use_cache else None,
                coverholders=[read.describe() for read in reads],
                sheets_as_parquet=parquet_sheets,
                timings=stages.timings,
            )
            output_folder = outputs.finish(files, described)
            rows.update(rows_out=sum(sheet_rows(sheet) for file_sheets in sheets.values() for sheet in file_sheets))
    except BaseException as error:
        stages.close()
        # the engine and the outputs see the run's error as they close (``resources.close`` would
        # tell them none): a dask worker lost while it held part of the book becomes one line
        resources.__exit__(type(error), error, error.__traceback__)
        raise
    stages.close()
    resources.close()

    return RunResult(
        month=month,
        policies=policies,
        claims=claims,
        lines=lines,
        line_sums=sums,
        policies_previous=policies_previous,
        claims_previous=claims_previous,
        rejected=rejected,
        counts=counts,
        reconciliation=table,
        timings=stages.timings,
        output_folder=output_folder,
        book=book,
        inputs=inputs,
        reinsurance_policies=ceded,
        reinsurance_claims=recovered,
        reinsurance=ceded_and_recovered,
        payable_history=history,
        sheets=sheets,
        cached_months=sorted({m for read in reads for m in read.served}),
        parquet_sheets=parquet_sheets,
    )


def _elsewhere(lines: LinesElsewhere | None) -> LinesElsewhere:
    """Where the engine keeps the lines as at M that it did not give the run (``Movements.lines`` None)."""
    if lines is None:
        raise ValueError("the engine gave no lines as at M and keeps none elsewhere")
    return lines


@dataclass
class KeptMonths:
    """What a run keeps of each month of one cover-holder as soon as it is validated (or given by
    the parse cache): the month stored in the cover-holder's parse cache (but a month the cache
    gave; after a month that cannot be stored, no other is tried: one warning per run), marked
    with its code (``coverholder_month``, ids scoped when there are ``scoped`` cover-holders) and
    what the engine keeps of it elsewhere sent there (``Engine.kept_month``: the Dask engine's
    workers keep its lines)."""

    read: HolderRead
    engine: Engine
    scoped: bool
    storing: bool = True

    def __call__(self, month: MonthValidated) -> MonthValidated:
        cache = self.read.cache
        if cache and self.storing and month.month not in self.read.cached:
            self.storing = cache.store(month)
        return self.engine.kept_month(coverholder_month(month, self.read.holder.code, scoped=self.scoped))


class Waited:
    """The seconds this process waited for the items of iterators (the months the engine reads)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def for_each(self, items: Iterable[T]) -> Iterator[T]:
        """``items`` one by one, the time waited for each added to ``seconds``."""
        iterator = iter(items)
        while True:
            start = time.perf_counter()
            try:
                item = next(iterator)
            except StopIteration:
                return
            finally:
                self.seconds += time.perf_counter() - start
            yield item


def run_info(
    input_dir: Path, month: str, months: Sequence[str], book: ProductBook, lang: str, table: pd.DataFrame
) -> RunInfo:
    """What every workbook of the run states about it (``table``: the reconciliation, total last)."""
    shipped = Path(book.folder).resolve() == Path(DEFAULT_PRODUCTS_DIR).resolve()
    total = table.iloc[-1]
    return RunInfo(
        month=month,
        first_month=months[0] if months else month,
        input_folder=str(input_dir),
        products_folder="pipeline/products/data (shipped)" if shipped else str(book.folder),
        products_sha256=folder_fingerprint(book.folder),
        treaty_name=str(book.treaty.get("name", "")),
        treaty_sha256=file_fingerprint(Path(book.folder) / "treaty.toml"),
        package="cyber-bordereaux",
        version=pipeline.__version__,
        lang=lang,
        rows_read=int(total["rows_read"]),
        rows_processed=int(total["rows_processed"]),
        rows_rejected=int(total["rows_rejected"]),
    )


def bordereau_months(history: History, month: str) -> list[str]:
    """Every calendar month from the first bordereau month on file to ``month``."""
    months = pd.concat([frame["bordereau_month"] for frame in (history.policies, history.claims, history.lines)])
    return months_from(min([*months.dropna().tolist(), month]), month)
