"""The order of stages of a run as at month M, nothing else (ARCHITECTURE.md; CALCULATION.md § Time).

read (the month folders; a month's workbooks only when the parse cache has no entry for it) ->
validate (month by month; a cached month as cached) -> versions (as at M and as at M−1) -> premium ->
claims (as at every month up to M, for the movements and the development triangle) -> reinsurance ->
reports -> write. Each stage logs one timed line to stderr: rows in, rows out, rows rejected, seconds.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

import pipeline
from pipeline.calendar import month_end, previous_month
from pipeline.engine import Engine, PandasEngine, open_engine
from pipeline.io.cache import CACHE_FOLDER, ParseCache, file_fingerprint, folder_fingerprint
from pipeline.io.outputs import check_output_folder, frame_records, output_files, write_outputs
from pipeline.io.read import find_bordereaux, input_files
from pipeline.io.workbook import Sheet
from pipeline.products import DEFAULT_PRODUCTS_DIR, ProductBook, load_products
from pipeline.reports.annotated import claims_annotated_sheets, policies_annotated_sheets
from pipeline.reports.labels import labels_for
from pipeline.reports.portfolio import PortfolioInputs, portfolio_summary_sheets
from pipeline.reports.rejected import rejected_sheets
from pipeline.reports.run_info import RunInfo, with_run
from pipeline.stages.claims import claim_totals, lines_with_movements, remaining_limits
from pipeline.stages.premium import accounted_policies, priced_policies
from pipeline.stages.reinsurance import Reinsurance, reinsurance, with_first_months
from pipeline.stages.validate import combined, reconciliation, validate_months
from pipeline.stages.versions import History, InForce, as_at

log = logging.getLogger("pipeline")
STAGES = ("products", "read", "validate", "versions", "premium", "claims", "reinsurance", "reports", "write")
STAGE_WIDTH = max(map(len, STAGES))  # the stage lines print as an aligned table


@dataclass
class RunResult:
    """What a run as at ``month`` produced: the rows in force as at M (priced policies, claim totals,
    adjudicated lines) and as at M−1 (as validated), the rejected rows, the counts per sheet (with
    the reconciliation), every sheet written (``sheets``: file -> sheets), timings and the output
    folder; the months whose parse came from the cache, and the sheets written as Parquet."""

    month: str
    policies: pd.DataFrame
    claims: pd.DataFrame
    lines: pd.DataFrame
    policies_previous: pd.DataFrame
    claims_previous: pd.DataFrame
    lines_previous: pd.DataFrame
    rejected: pd.DataFrame
    counts: pd.DataFrame
    reconciliation: pd.DataFrame
    timings: dict[str, float]
    output_folder: Path
    history: History
    book: ProductBook
    inputs: list[dict[str, Any]] = field(default_factory=list)
    reinsurance_policies: pd.DataFrame | None = None
    reinsurance_claims: pd.DataFrame | None = None
    reinsurance: Reinsurance | None = None
    payable_history: pd.DataFrame | None = None
    sheets: dict[str, list[Sheet]] = field(default_factory=dict)
    cached_months: list[str] = field(default_factory=list)
    parquet_sheets: list[dict[str, Any]] = field(default_factory=list)


class Stages:
    """Times each stage, logs one line per stage and drives a progress bar on a terminal."""

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
) -> RunResult:
    """Run the bordereaux of every month up to ``month`` and write ``<output_dir>/<month>/``. The
    parse cache lives in ``cache_dir`` (default ``<output_dir>/.cache``); ``use_cache=False`` reads
    and validates every month and writes no cache. ``engine`` adjudicates the claims: ``pandas`` in
    this process, ``dask`` on the dask.distributed cluster at ``scheduler`` (default: a LocalCluster
    of this machine), or a given ``pipeline.engine.Engine``."""
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    check_output_folder(input_dir, output_dir)
    stages = Stages(len(STAGES))
    resources = ExitStack()
    try:
        claims_engine = resources.enter_context(open_engine(engine, scheduler))
        with stages.stage("products"):
            book = load_products(products_dir or DEFAULT_PRODUCTS_DIR)

        with stages.stage("read") as rows:
            found = find_bordereaux(input_dir, month)
            cache = ParseCache.open(cache_dir or output_dir / CACHE_FOLDER, found, book.folder) if use_cache else None
            cached = cache.load_all() if cache else {}
            raw = claims_engine.sheets_by_month(found, [folder for folder in found.months if folder not in cached])
            parsed = sum(sheet.rows_read for sheets in raw.values() for sheet in sheets)
            if raw or not cached:
                rows.update(rows_in=parsed, months=len(raw))
            if cached:
                from_cache = sum(int(str(c["rows_read"])) for result in cached.values() for c in result.counts)
                served = f"{len(cached)} month" + ("s" if len(cached) != 1 else "")
                rows["cache"] = f"{served} ({from_cache:,} rows) from the parse cache"

        with stages.stage("validate") as rows:
            months = validate_months(found.months, raw, cached, book)
            if cache:
                cache.store_all(months, skip=cached)
            validated = combined(months)
            table = reconciliation(validated.counts, validated.rejected)
            rows.update(
                rows_in=int(table["rows_read"].iloc[-1]),
                rows_out=int(table["rows_processed"].iloc[-1]),
                rejected=int(table["rows_rejected"].iloc[-1]),
            )

        with stages.stage("versions") as rows:
            in_force = {
                valuation: as_at(validated.history, valuation)
                for valuation in bordereau_months(validated.history, month)
            }
            current = in_force[month]
            previous = in_force.get(previous_month(month)) or as_at(validated.history, previous_month(month))
            rows.update(rows_out=len(current.policies) + len(current.claims) + len(current.lines))

        with stages.stage("premium") as rows:
            priced = priced_policies(current.policies, book, month_end(month))
            priced_before = priced_policies(previous.policies, book, month_end(previous_month(month)))
            accounted = accounted_policies(priced, priced_before)
            rows.update(rows_in=len(current.policies), rows_out=len(accounted))

        with stages.stage("claims") as rows:
            adjudicated = adjudicated_by_month(in_force, book, claims_engine)
            lines_now = adjudicated[month]
            lines_before = adjudicated.get(previous_month(month))
            lines = lines_with_movements(lines_now, lines_before)
            claims = claim_totals(current.claims, lines_now, previous.claims, lines_before)
            policies = accounted.merge(
                remaining_limits(current.policies, lines_now, book), on="policy_id", how="left", validate="1:1"
            )
            history = payable_history(adjudicated)
            rows.update(rows_in=len(current.lines), rows_out=len(lines), months=len(adjudicated))

        with stages.stage("reinsurance") as rows:
            ceded_and_recovered = reinsurance(
                policies,
                with_first_months(claims, validated.history.claims, month),
                book.programme,
                policies_before=priced_before,
                claims_before=claim_totals(previous.claims, lines_before) if lines_before is not None else None,
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
            labels = labels_for(book, lang)
            summary_inputs = PortfolioInputs(
                month=month,
                policies=policies,
                claims=claims,
                lines=lines,
                reinsurance_policies=ceded,
                reinsurance_claims=recovered,
                payable_history=history,
                reconciliation=table,
                policies_previous=priced_before,
                claims_previous=previous.claims,
                reinsurance=ceded_and_recovered,
            )
            sheets, documents = with_run(
                {
                    "policies_annotated.xlsx": policies_annotated_sheets(policies, labels),
                    "claims_annotated.xlsx": claims_annotated_sheets(lines, claims, labels),
                    "portfolio_summary.xlsx": portfolio_summary_sheets(summary_inputs, book, labels),
                    "rejected.xlsx": rejected_sheets(validated.rejected, table, labels),
                },
                run_info(input_dir, month, found.months, book, lang, table),
                labels,
            )

        inputs = [{"file": f.file, "sha256": f.sha256, "rows": f.rows} for f in input_files(found, validated.counts)]
        files, parquet_sheets = output_files(sheets, documents=documents, note=labels.parquet_note())
        with stages.stage("write") as rows:
            manifest = {
                "package": "cyber-bordereaux",
                "version": pipeline.__version__,
                "month": month,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "input_folder": str(input_dir),
                "products_folder": str(book.folder),
                "lang": lang,
                "engine": claims_engine.describe(),
                "inputs": inputs,
                "counts": frame_records(table),
                "rejected_rows": len(validated.rejected),
                "cache": cache.describe(output_dir, cached) if cache else None,
                "sheets_as_parquet": parquet_sheets,
                "timings": stages.timings,
            }
            output_folder = write_outputs(output_dir, month, files, manifest)
            rows.update(rows_out=sum(len(sheet.frame) for file_sheets in sheets.values() for sheet in file_sheets))
    finally:
        stages.close()
        resources.close()

    return RunResult(
        month=month,
        policies=policies,
        claims=claims,
        lines=lines,
        policies_previous=previous.policies,
        claims_previous=previous.claims,
        lines_previous=previous.lines,
        rejected=validated.rejected,
        counts=validated.counts,
        reconciliation=table,
        timings=stages.timings,
        output_folder=output_folder,
        history=validated.history,
        book=book,
        inputs=inputs,
        reinsurance_policies=ceded,
        reinsurance_claims=recovered,
        reinsurance=ceded_and_recovered,
        payable_history=history,
        sheets=sheets,
        cached_months=sorted(cached),
        parquet_sheets=parquet_sheets,
    )


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
    first = min([*months.dropna().tolist(), month])
    return [str(period) for period in pd.period_range(first, month, freq="M")]


def adjudicated_by_month(
    in_force: dict[str, InForce], book: ProductBook, engine: Engine | None = None
) -> dict[str, pd.DataFrame]:
    """The adjudicated lines as at every bordereau month up to M (CALCULATION.md § Time): the last
    two give the month's movements, all of them the development triangle. ``engine`` runs
    ``adjudicated_lines`` (default: in this process)."""
    valuations = {valuation: (rows.lines, rows.claims, rows.policies) for valuation, rows in in_force.items()}
    return (engine or PandasEngine()).adjudicated_by_valuation(valuations, book)


def payable_history(adjudicated: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per claim, ``payable_total`` as at each valuation month (the triangle's input)."""
    frames = [
        claim_totals(lines[["claim_id"]].drop_duplicates(), lines)[["claim_id", "payable_total"]].assign(
            valuation_month=valuation
        )
        for valuation, lines in adjudicated.items()
    ]
    columns = ["claim_id", "valuation_month", "payable_total"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)
