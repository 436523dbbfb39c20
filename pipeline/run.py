"""The order of stages of a run as at month M, nothing else (ARCHITECTURE.md; CALCULATION.md § Time).

read -> validate -> versions (as at M and as at M−1) -> ... -> write. Each stage logs one timed line
to stderr: rows in, rows out, rows rejected, seconds.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

import pipeline
from pipeline.io.outputs import check_output_folder, frame_records, workbook_writer, write_outputs
from pipeline.io.read import read_bordereaux
from pipeline.io.workbook import Sheet
from pipeline.products import DEFAULT_PRODUCTS_DIR, ProductBook, load_products
from pipeline.stages.validate import reconciliation, validate_bordereaux
from pipeline.stages.versions import History, as_at, previous_month

log = logging.getLogger("pipeline")
STAGES = ("products", "read", "validate", "versions", "write")


@dataclass
class RunResult:
    """What a run as at ``month`` produced: the rows in force as at M and as at M−1, the rejected
    rows, the counts per sheet (with the reconciliation), timings and the output folder."""

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


class Stages:
    """Times each stage, logs one line per stage and drives a progress bar on a terminal."""

    def __init__(self, total: int) -> None:
        self.timings: dict[str, float] = {}
        self.bar = tqdm(total=total, file=sys.stderr, disable=not sys.stderr.isatty(), leave=False, unit="stage")

    @contextmanager
    def stage(self, name: str) -> Iterator[dict[str, int]]:
        """Time the block; the block fills ``rows_in``, ``rows_out``, ``rejected`` for the log line."""
        rows: dict[str, int] = {}
        self.bar.set_description(name)
        start = time.perf_counter()
        yield rows
        seconds = time.perf_counter() - start
        self.timings[name] = round(seconds, 3)
        self.bar.update(1)
        counts = ", ".join(f"{key} {value:,}" for key, value in rows.items())
        log.info("%-10s %s%s%.2f s", name, counts, ", " if counts else "", seconds)

    def close(self) -> None:
        self.bar.close()


def run_month(
    input_dir: Path, month: str, output_dir: Path, *, products_dir: Path | None = None, lang: str = "en"
) -> RunResult:
    """Run the bordereaux of every month up to ``month`` and write ``<output_dir>/<month>/``."""
    input_dir, output_dir = Path(input_dir), Path(output_dir)
    check_output_folder(input_dir, output_dir)
    stages = Stages(len(STAGES))
    try:
        with stages.stage("products"):
            book = load_products(products_dir or DEFAULT_PRODUCTS_DIR)

        with stages.stage("read") as rows:
            bordereaux = read_bordereaux(input_dir, month)
            rows["rows_in"] = sum(sheet.rows_read for sheet in bordereaux.sheets)

        with stages.stage("validate") as rows:
            validated = validate_bordereaux(bordereaux, book)
            table = reconciliation(validated.counts, validated.rejected)
            rows.update(
                rows_in=int(table["rows_read"].iloc[-1]),
                rows_out=int(table["rows_processed"].iloc[-1]),
                rejected=int(table["rows_rejected"].iloc[-1]),
            )

        with stages.stage("versions") as rows:
            current = as_at(validated.history, month)
            previous = as_at(validated.history, previous_month(month))
            rows.update(rows_out=len(current.policies) + len(current.claims) + len(current.lines))

        inputs = [{"file": f.file, "sha256": f.sha256, "rows": f.rows} for f in bordereaux.files]
        with stages.stage("write"):
            manifest = {
                "package": "cyber-bordereaux",
                "version": pipeline.__version__,
                "month": month,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "input_folder": str(input_dir),
                "products_folder": str(book.folder),
                "lang": lang,
                "inputs": inputs,
                "counts": frame_records(table),
                "rejected_rows": len(validated.rejected),
                "timings": stages.timings,
            }
            files = {
                "rejected.xlsx": workbook_writer(
                    [Sheet("rejected", validated.rejected), Sheet("reconciliation", table)]
                ),
            }
            output_folder = write_outputs(output_dir, month, files, manifest)
    finally:
        stages.close()

    return RunResult(
        month=month,
        policies=current.policies,
        claims=current.claims,
        lines=current.lines,
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
    )
