"""``make bench-scale``: the claims engine on a LocalCluster over a market book of millions of lines.

A market book is generated as Parquet in chunks (``<workdir>/book-<lines>/{policies,claims,lines}/
part-NNNNN.parquet``, one part per chunk of at most ``CHUNK_LINES`` lines: the synthetic, schema-valid
frames of ``pipeline.bench.engine`` with each chunk's ids prefixed so that they stay unique), reused
when it is there. It is then read lazily (``dask.dataframe.read_parquet``), each row given its
policy's part, shuffled by part, adjudicated part by part by the pandas stage
(``pipeline.engine.partitioned.adjudicated_parts``) and written as a partitioned Parquet dataset, all
on the cluster: the run's own process holds no line. Reported per size: wall seconds, lines per
second, and each worker's peak memory (its process's maximum resident set) against its limit.

What it measures is the claims engine as at one month (the stage that grows with the lines), not a
whole run: reading and validating the month folders, versions and reports still run in one process
(README, Beyond one machine). ``--whole-runs`` measures that too: for each number of policies, a
clean 12-month book from the sample generator as Parquet sheets (``<workdir>/sample-<policies>/``,
reused while the generator is unchanged) is run with ``python -m pipeline run`` once per engine,
reporting wall and CPU seconds, the peak memory of all the run's processes together, and whether
the engines wrote the same files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import multiprocessing
import resource
import shutil
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.bench.engine import FRAMES, make_frames
from pipeline.bench.measure import run_child
from pipeline.bench.reuse import recorded, reused
from pipeline.products import ProductBook, load_products

CHUNK_LINES = 1_000_000
SCALE_VERSION = 1
"""Bump when the generated book changes: a book on disk with another version is generated again."""
ID_COLUMNS = {
    "policies": ["policy_id"],
    "claims": ["claim_id", "policy_id", "series_id"],
    "lines": ["line_id", "claim_id"],
}


def _prefixed(values: pd.Series, prefix: str) -> pd.Series:
    """``prefix`` + each id (an empty id stays empty), with pyarrow kernels."""
    joined = pc.binary_join_element_wise(pa.scalar(prefix), pa.array(values, type=pa.string()), "")
    return pd.Series(joined.to_pandas(), index=values.index, dtype=values.dtype)


def generate_book(folder: Path, lines: int, book: ProductBook, *, chunk_lines: int = CHUNK_LINES) -> dict[str, Any]:
    """Write a market book of ``lines`` lines as Parquet parts under ``folder`` unless it is there."""
    marker = folder / "marker.json"
    wanted = {"version": SCALE_VERSION, "lines": lines, "chunk_lines": chunk_lines}
    if found := reused(marker, wanted):
        return {"reused": True, **found}
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    rows = dict.fromkeys(FRAMES, 0)
    for chunk, first in enumerate(range(0, lines, chunk_lines)):
        frames = make_frames(min(chunk_lines, lines - first), seed=2026 + chunk, book=book)
        for name, frame in frames.items():
            renamed = frame.assign(**{c: _prefixed(frame[c], f"K{chunk:04d}") for c in ID_COLUMNS[name]})
            (folder / name).mkdir(parents=True, exist_ok=True)
            renamed.to_parquet(folder / name / f"part-{chunk:05d}.parquet", index=False)
            rows[name] += len(frame)
        del frames
    seconds = round(time.perf_counter() - started, 1)
    return {"reused": False, **recorded(marker, wanted, rows=rows, seconds=seconds)}


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_book(
    folder: Path, output: Path, book: ProductBook, *, workers: int, memory_limit: str, shuffle: str = "p2p"
) -> dict[str, Any]:
    """The book at ``folder`` adjudicated on a fresh LocalCluster and written to ``output`` (a
    partitioned Parquet dataset); time and each worker's peak memory."""
    import dask
    import dask.dataframe as dd
    from distributed import Client

    from pipeline.engine.cluster import local_cluster
    from pipeline.engine.partitioned import DASK_CONFIG, PART, adjudicated_parts, part_count, with_parts

    shutil.rmtree(output, ignore_errors=True)
    logging.getLogger("distributed.shuffle").setLevel(logging.ERROR)  # one line per shuffle otherwise
    lines_total = sum(pq_rows(path) for path in sorted((folder / "lines").glob("part-*.parquet")))
    with (
        local_cluster(workers, memory_limit) as cluster,
        Client(cluster) as client,
        dask.config.set({**DASK_CONFIG, "dataframe.shuffle.method": shuffle}),
    ):
        started = time.perf_counter()
        frames = [dd.read_parquet(folder / name) for name in FRAMES]
        parts = part_count(lines_total, workers)
        keyed = with_parts(frames[2], frames[1], frames[0], parts)
        adjudicated = adjudicated_parts(keyed[0], keyed[1], keyed[2], book, parts).drop(columns=[PART])
        adjudicated.to_parquet(output, write_index=False)
        seconds = time.perf_counter() - started
        peaks = client.run(_peak_rss_mib)
        restarts = sum(1 for _ in cluster.workers)  # workers alive at the end
    return {
        "lines": lines_total,
        "parts": parts,
        "workers": workers,
        "memory_limit": memory_limit,
        "shuffle": shuffle,
        "seconds": round(seconds, 1),
        "lines_per_second": round(lines_total / seconds),
        "peak_mib_per_worker": sorted(round(value) for value in peaks.values()),
        "workers_alive_at_end": restarts,
        "output_files": len(list(output.glob("*.parquet"))),
    }


ENGINES = ("pandas", "dask")


def sample_book(folder: Path, policies: int) -> dict[str, Any]:
    """A clean Parquet book of ``policies`` policies from the sample generator in ``folder``,
    unless it is there for the same generator."""
    from pipeline.bench.book import generator_version

    marker = folder.parent / f"{folder.name}.marker.json"  # beside the book: the run reads only its months
    wanted = {"version": SCALE_VERSION, "policies": policies, "generator": generator_version()}
    if found := reused(marker, wanted, there=folder.is_dir()):
        return {"reused": True, **found}
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    # in a process of its own: the generator holds the whole book (17.1 GiB at 6.8M policies),
    # which this process would keep beside the runs it then measures
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as child:
        lines, peak_mib = child.submit(_generated_sample, folder, policies).result()
    seconds = round(time.perf_counter() - started, 1)
    return {"reused": False, **recorded(marker, wanted, lines=lines, seconds=seconds, peak_mib=peak_mib)}


def _generated_sample(folder: Path, policies: int) -> tuple[int, int]:
    """The sample book generated (``sample_book``, in a child process): its lines and the process's
    peak memory (MiB)."""
    from pipeline.sample import generate_book as generate_sample

    counts = generate_sample(folder, policies=policies, messy=False, file_format="parquet")
    return int(counts["lines"]), round(_peak_rss_mib())


def _output_digests(folder: Path) -> dict[str, str]:
    """SHA-256 of every file a run wrote (the manifest aside: it names the engine and the times)."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != "manifest.json" and ".cache" not in path.parts
    }


def whole_runs(
    book_folder: Path,
    workdir: Path,
    *,
    engines: Sequence[str] = ENGINES,
    memory_limit: str | None = None,
    max_rss_mb: float | None = None,
) -> dict[str, Any]:
    """``python -m pipeline run`` on ``book_folder`` as at its last month with each engine, in a
    child process measured by ``pipeline.bench.measure.run_child``; the Dask engine's LocalCluster
    with workers of ``memory_limit`` each (``--worker-memory``) when given."""
    runs = []
    digests = []
    for engine in engines:
        output = workdir / f"run-{book_folder.name}-{engine}"
        shutil.rmtree(output, ignore_errors=True)
        command = [sys.executable, "-m", "pipeline", "run", "--input", str(book_folder), "--output", str(output)]
        limited = engine == "dask" and memory_limit is not None
        command += ["--no-cache", "--engine", engine, *(["--worker-memory", str(memory_limit)] if limited else [])]
        child = run_child(command, workdir / "logs", output.name, max_rss_mb=max_rss_mb)
        runs.append(
            {
                "engine": engine,
                "ok": child.ok,
                "seconds": round(child.seconds, 1),
                "cpu_seconds": round(child.cpu_seconds, 1),
                "peak_mib": round(child.peak_mb),
                # the largest single process the run started: with dask a worker (or, at the end, a forked writer)
                "largest_process_mib": round(child.largest_descendant_mb),
                **({"worker_memory_limit": memory_limit} if limited else {}),
                "error": "" if child.ok else child.killed or next(iter(child.stderr.strip().splitlines()[-1:]), ""),
            }
        )
        digests.append(_output_digests(output) if child.ok else None)
        shutil.rmtree(output, ignore_errors=True)
    same = len(digests) > 1 and all(d is not None and d == digests[0] for d in digests)
    return {"book": book_folder.name, "runs": runs, "same_files": same}


def pq_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--lines", type=int, nargs="*", default=[2_000_000], help="engine-only book sizes (default 2,000,000)"
    )
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster workers, 1 thread each (default 2)")
    parser.add_argument(
        "--memory-limit", default="6GiB", help="per worker, and per worker of the Dask whole runs (default 6GiB)"
    )
    parser.add_argument("--workdir", type=Path, default=Path("bench_results/scale"))
    parser.add_argument(
        "--shuffle",
        choices=("p2p", "tasks"),
        default="p2p",
        help="dask's shuffle: p2p (on disk, memory stays flat; default) or tasks (in memory)",
    )
    parser.add_argument("--keep-output", action="store_true", help="keep the adjudicated Parquet datasets")
    parser.add_argument(
        "--engines",
        nargs="+",
        choices=ENGINES,
        default=list(ENGINES),
        help="the engines of the whole runs (default both; a book too large for the Dask engine's run and "
        "workers together on this machine, such as 20M lines: pandas)",
    )
    parser.add_argument(
        "--whole-runs",
        type=int,
        nargs="*",
        default=[],
        metavar="POLICIES",
        help="also run python -m pipeline run with each engine on a clean Parquet book of this many policies "
        "(about 3 lines each)",
    )
    args = parser.parse_args(argv)
    book = load_products()
    results: list[dict[str, Any]] = []
    for policies in args.whole_runs:
        folder = args.workdir / f"sample-{policies}"
        generated = sample_book(folder, policies)
        print(
            f"{policies:,} policies: book {'reused' if generated['reused'] else 'generated'} ({generated['seconds']} s"
            + (f", peak {generated['peak_mib']:,} MiB)" if "peak_mib" in generated else ")")
        )
        measured = {
            "policies": policies,
            "lines": generated["lines"],
            **whole_runs(folder, args.workdir, engines=args.engines, memory_limit=args.memory_limit),
        }
        for run in measured["runs"]:
            outcome = "ok" if run["ok"] else f"FAILED {run['error']}"
            print(
                f"  whole run, {run['engine']}: {outcome} in {run['seconds']} s, CPU {run['cpu_seconds']} s, "
                f"peak {run['peak_mib']:,} MiB (all its processes; the largest process it started "
                f"{run['largest_process_mib']:,} MiB"
                + (f", workers limited to {run['worker_memory_limit']})" if "worker_memory_limit" in run else ")"),
                flush=True,
            )
        if len(args.engines) > 1:
            print(f"  the engines wrote the same files: {'yes' if measured['same_files'] else 'NO'}", flush=True)
        results.append(measured)
    for lines in args.lines:
        folder = args.workdir / f"book-{lines}"
        generated = generate_book(folder, lines, book)
        print(f"{lines:,} lines: book {'reused' if generated['reused'] else 'generated'} ({generated['seconds']} s)")
        output = args.workdir / f"adjudicated-{lines}"
        measured = run_book(
            folder, output, book, workers=args.workers, memory_limit=args.memory_limit, shuffle=args.shuffle
        )
        measured["generate_seconds"] = generated["seconds"]
        if not args.keep_output:
            shutil.rmtree(output, ignore_errors=True)
        print(
            f"{measured['lines']:,} lines in {measured['parts']} parts on {measured['workers']} workers: "
            f"{measured['seconds']} s ({measured['lines_per_second']:,} lines/s, {measured['shuffle']} shuffle), "
            "peak MiB per worker "
            f"{measured['peak_mib_per_worker']} (limit {measured['memory_limit']})",
            flush=True,
        )
        results.append(measured)
    args.workdir.mkdir(parents=True, exist_ok=True)
    (args.workdir / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
