"""The large book and the full run: generate the sample book once (clean, reused while the parameters
and the generator are unchanged) and time ``python -m pipeline run`` on it as at its last month."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pipeline
from pipeline.bench.floor import MONTH_FOLDER
from pipeline.bench.measure import Budget, Child, run_child
from pipeline.bench.reuse import recorded, reused

PACKAGE = Path(pipeline.__file__).resolve().parent
GENERATOR_SOURCES = ("sample/*.py", "io/columns.toml", "products/data/**/*.toml")
SEED = 2026
FIRST_MONTH = "2026-04"
MONTHS = 12


def generator_version() -> str:
    """The package version and a digest of the generator's sources and the product data it draws on."""
    digest = hashlib.sha256()
    for pattern in GENERATOR_SOURCES:
        for path in sorted(PACKAGE.glob(pattern)):
            digest.update(str(path.relative_to(PACKAGE)).encode())
            digest.update(path.read_bytes())
    return f"{pipeline.__version__}+{digest.hexdigest()[:12]}"


def book_parameters(policies: int) -> dict[str, Any]:
    return {
        "policies": policies,
        "seed": SEED,
        "first_month": FIRST_MONTH,
        "months": MONTHS,
        "messy": False,
        "generator": generator_version(),
    }


def month_folders(book: Path) -> list[str]:
    return sorted(p.name for p in Path(book).iterdir() if p.is_dir() and MONTH_FOLDER.match(p.name))


def ensure_book(book: Path, marker: Path, policies: int, logs: Path) -> dict[str, Any]:
    """Generate the book into ``book`` unless ``marker`` records the same parameters (and the month
    folders are there); return the parameters, the counts and whether it was reused."""
    wanted = book_parameters(policies)
    if found := reused(marker, wanted, there=book.is_dir() and len(month_folders(book)) == MONTHS):
        return {**found, "reused": True, "seconds": 0.0}
    shutil.rmtree(book, ignore_errors=True)
    counts_file = logs / "generate.json"
    counts_file.unlink(missing_ok=True)
    child = run_child(
        [sys.executable, "-m", "pipeline.bench", "generate-worker", "--output", str(book),
         "--policies", str(policies), "--result", str(counts_file)],
        logs,
        "generate",
    )  # fmt: skip
    if not child.ok:
        raise BenchError(f"generating the book failed (exit {child.returncode}):\n{child.stderr}")
    counts = json.loads(counts_file.read_text())
    record = recorded(marker, wanted, counts=counts, generate_seconds=child.seconds, generate_peak_mb=child.peak_mb)
    return {**record, "reused": False, "seconds": child.seconds}


def generate_worker(output: Path, policies: int, result: Path) -> None:
    """In a child process: write the book and the counts of what it holds."""
    from pipeline.sample import generate_book

    counts = generate_book(output, policies=policies, seed=SEED, first_month=FIRST_MONTH, months=MONTHS, messy=False)
    summary: dict[str, Any] = {key: counts[key] for key in ("policies", "claims", "lines", "months") if key in counts}
    summary["files"] = len(counts.get("files", []))
    summary["rows_written"] = sum(sum(sheets.values()) for sheets in counts.get("rows", {}).values())
    Path(result).write_text(json.dumps(summary, indent=1) + "\n")


class BenchError(Exception):
    """The bench itself could not do what it was asked (not a missed target)."""


def stage_timings(manifest: dict[str, Any]) -> dict[str, float]:
    """The stage timings of a manifest as ``name -> seconds``, whatever their shape: a mapping of
    numbers, of mappings with ``seconds`` (or nested stages: ``outer.inner``), or a list of records
    with ``stage``/``name`` and ``seconds``."""
    timings = manifest.get("timings", manifest.get("stages", {}))
    flat: dict[str, float] = {}

    def visit(prefix: str, value: Any) -> None:
        if isinstance(value, bool):
            return
        if isinstance(value, int | float):
            flat[prefix or "total"] = float(value)
        elif isinstance(value, dict):
            if isinstance(value.get("seconds"), int | float):
                flat[prefix or "total"] = float(value["seconds"])
                return
            for key, inner in value.items():
                visit(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list):
            for number, record in enumerate(value):
                if isinstance(record, dict):
                    name = str(record.get("stage", record.get("name", number)))
                    visit(f"{prefix}.{name}" if prefix else name, record)

    visit("", timings)
    return flat


def run_pipeline(
    book: Path, output: Path, logs: Path, *, budget: Budget, max_rss_mb: float | None
) -> tuple[Child, dict[str, Any]]:
    """Time ``python -m pipeline run`` as at the book's last month into a fresh ``output``; return
    the child and what the bench records of it."""
    month = month_folders(book)[-1]
    shutil.rmtree(output, ignore_errors=True)
    command = [sys.executable, "-m", "pipeline", "run", "--input", str(book), "--month", month, "--output", str(output)]
    child = run_child(command, logs, "run", timeout=budget.child_timeout(), max_rss_mb=max_rss_mb)
    record: dict[str, Any] = {
        "command": " ".join(command[1:]),
        "month": month,
        "returncode": child.returncode,
        "seconds": child.seconds,
        "cpu_seconds": child.cpu_seconds,
        "peak_mb": child.peak_mb,
        "killed": child.killed,
    }
    folder = output / month
    manifest_path = folder / "manifest.json"
    if child.ok and manifest_path.exists():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        stages = stage_timings(manifest)
        record["stages"] = stages
        record["stages_seconds"] = round(sum(stages.values()), 3)
        # ``stage:part`` entries break a stage down (``write:<file>`` by file, ``validate:months`` the
        # validation inside ``read``): count them once, through their stage.
        stage_total = sum(seconds for name, seconds in stages.items() if ":" not in name)
        record["outside_stages_seconds"] = round(child.seconds - stage_total, 3)
        listed = [name for name in manifest.get("outputs", []) if str(name).endswith(".xlsx")]
        outputs = [folder / name for name in listed] or sorted(folder.rglob("*.xlsx"))
        record["outputs"] = [str(path.relative_to(folder)) for path in outputs if path.exists()]
        record["status"] = "ok"
    elif child.killed:  # a measurement (too slow, too big), not a failure of the bench
        record["status"] = f"stopped ({child.killed})"
        record["error"] = (
            f"stopped by the bench ({child.killed}) after {child.seconds:.0f} s, peak {child.peak_mb:,.0f} MiB"
        )
    else:
        record["status"] = "failed"
        record["stderr"] = child.stderr
    return child, record
