"""The benchmark harness (pipeline/bench) on tiny sizes: the synthetic engine frames are schema-valid,
the manifest timings are read whatever their shape, and a whole bench (book, run, floor, engine) writes
a results file with the expected keys and sane figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from python_calamine import CalamineWorkbook

from pipeline.bench import Options, bench
from pipeline.bench.book import ensure_book, stage_timings
from pipeline.bench.cli import fastest_run, main, table
from pipeline.bench.engine import make_frames, sizes
from pipeline.bench.floor import read_floor, rust_write_floor, write_floor
from pipeline.bench.measure import run_child
from schemas.claims import ClaimValid
from schemas.lines import LineValid
from schemas.policies import PolicyValid


def test_synthetic_frames_are_schema_valid() -> None:
    frames = make_frames(5_000, seed=7)
    assert {name: len(frame) for name, frame in frames.items()} == sizes(5_000)
    PolicyValid.validate(frames["policies"])
    ClaimValid.validate(frames["claims"])
    LineValid.validate(frames["lines"])
    assert frames["lines"]["claim_id"].isin(frames["claims"]["claim_id"]).all()
    assert frames["claims"]["policy_id"].isin(frames["policies"]["policy_id"]).all()
    again = make_frames(5_000, seed=7)
    assert again["lines"].equals(frames["lines"])


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        ({"timings": {"read": 1.5, "validate": 2}}, {"read": 1.5, "validate": 2.0}),
        ({"timings": {"read": {"seconds": 1.0, "rows_in": 5}}}, {"read": 1.0}),
        (
            {"timings": {"claims": {"eligibility": 0.5, "waterfall": 1.5}}},
            {"claims.eligibility": 0.5, "claims.waterfall": 1.5},
        ),
        ({"timings": [{"stage": "read", "seconds": 3}, {"name": "write", "seconds": 4}]}, {"read": 3.0, "write": 4.0}),
        ({"stages": {"read": 2.0}}, {"read": 2.0}),
        ({}, {}),
    ],
)
def test_stage_timings_tolerate_manifest_shapes(manifest: dict[str, Any], expected: dict[str, float]) -> None:
    assert stage_timings(manifest) == expected


def test_run_child_measures_and_guards(tmp_path: Path) -> None:
    import sys

    # The child holds its memory briefly, as a real run does, so the peak is polled while it lives;
    # the parent (pytest) is large, which must not count (ru_maxrss would carry it over the fork).
    grow = "import time; b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(0.3); print('ok')"
    child = run_child([sys.executable, "-c", grow], tmp_path, "alloc")
    assert child.ok and child.stdout == "ok"
    assert 200 <= child.peak_mb < 1_000
    # Memory held by a process the child forks (as a run's workbook writers are) counts too.
    forked = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(0.6); os._exit(0)\n"
        "os.wait(); print('ok')"
    )
    child = run_child([sys.executable, "-c", forked], tmp_path, "fork")
    assert child.ok and child.stdout == "ok"
    assert 300 <= child.peak_mb < 1_000
    stopped = run_child([sys.executable, "-c", "import time; time.sleep(30)"], tmp_path, "sleep", timeout=0.5)
    assert stopped.killed == "timeout" and not stopped.ok and stopped.seconds < 10


def test_floor_reads_and_writes_the_same_cells(tmp_path: Path) -> None:
    import datetime as dt

    import xlsxwriter

    source = tmp_path / "out.xlsx"
    workbook = xlsxwriter.Workbook(str(source))
    sheet = workbook.add_worksheet("lines")
    date = workbook.add_format({"num_format": "yyyy-mm-dd"})
    sheet.write_row(0, 0, ["id", "amount", "date"])
    for row in range(1, 51):
        sheet.write_row(row, 0, [f"L{row}", row * 1000])
        sheet.write_datetime(row, 2, dt.datetime(2026, 4, 1), date)
    workbook.close()
    read = read_floor([source])
    written = write_floor([source], tmp_path / "scratch")
    rust = rust_write_floor([source], tmp_path / "scratch")
    assert read["cells"] == written["cells"] == rust["cells"] == 51 * 3
    assert rust["seconds"] > 0 and rust["sheets"] == written["sheets"]
    rewritten = CalamineWorkbook.from_path(str(tmp_path / "scratch" / "rust-00-out.xlsx"))
    assert (
        rewritten.get_sheet_by_name("lines").to_python()
        == CalamineWorkbook.from_path(str(source)).get_sheet_by_name("lines").to_python()
    )
    assert written["sheets"] == [{"file": str(source), "sheet": "lines", "rows": 51, "columns": 3}]
    assert read["seconds"] >= 0 and written["seconds"] > 0
    assert read_floor(sorted((tmp_path / "scratch").glob("*.xlsx")))["cells"] == 2 * 51 * 3


def test_bench_run_on_a_tiny_book(tmp_path: Path) -> None:
    results = bench(Options(policies=200, skip_engine=True, workdir=tmp_path, timeout=120, runs=1), echo=False)
    assert results["run"].get("status") == "ok", results["run"].get("stderr", "")[-500:]
    saved = json.loads((tmp_path / "results.json").read_text())
    assert {"parameters", "machine", "book", "run", "floor", "engine", "targets", "ok"} <= set(saved)
    assert saved["ok"] is True and saved["engine"] == {"status": "skipped"}
    counts = saved["book"]["counts"]
    assert counts["policies"] == 200 and counts["lines"] > 0 and counts["files"] == 24
    run = saved["run"]
    assert 0 < run["seconds"] < 120 and 50 < run["peak_mb"] < 4096
    assert run["stages"] and all(seconds >= 0 for seconds in run["stages"].values())
    assert run["outputs"] and all(name.endswith(".xlsx") for name in run["outputs"])
    floor = saved["floor"]
    assert floor["status"] == "ok" and floor["read"]["files"] == 24
    assert floor["read"]["cells"] > counts["lines"] and floor["write"]["cells"] > 0
    assert floor["seconds"] == pytest.approx(floor["read"]["seconds"] + floor["write"]["seconds"], abs=0.01)
    rust = floor["rust_write"]
    assert rust["cells"] == floor["write"]["cells"] and rust["seconds"] > 0
    assert floor["rust_seconds"] == pytest.approx(floor["read"]["seconds"] + rust["seconds"], abs=0.01)
    assert saved["run_vs_rust_floor"] == pytest.approx(run["seconds"] / floor["rust_seconds"], abs=0.01)
    assert run["cpu_seconds"] > 0 and rust["cpu_seconds"] > 0 and floor["rust_cpu_seconds"] > 0
    statuses = {row["name"]: row["status"] for row in saved["targets"]}
    assert len(statuses) == 5 and set(statuses.values()) <= {"PASS", "MISS", "N/A"}
    assert "Rust-writer floor" in " ".join(statuses)
    assert "run as at" in table(results)

    again = ensure_book(tmp_path / "book", tmp_path / "book.marker.json", 200, tmp_path / "logs")
    assert again["reused"] is True and again["counts"] == counts


def test_bench_engine_on_tiny_frames(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--skip-run", "--engine-lines", "20000", "--workdir", str(tmp_path), "--max-memory-gib", "0"])
    assert code == 0
    saved = json.loads((tmp_path / "results.json").read_text())
    engine = saved["engine"]
    assert engine["status"] == "ok", engine
    assert engine["build"]["rows"] == sizes(20_000) and engine["build"]["reused"] is False
    for step in ("eligibility", "waterfall"):
        record = engine[step]
        assert record["status"] == "ok" and record["lines"] == 20_000
        assert 0 < record["seconds"] < record["wall_seconds"] and 50 < record["peak_mb"] < 4096
        assert 0 < record["eligible_lines"] < 20_000
        assert record["user_seconds"] > 0 and record["system_seconds"] >= 0
    assert engine["waterfall"]["payable_total"] > 0
    assert saved["run"] == {"status": "skipped"}
    assert "engine waterfall" in capsys.readouterr().out
    main(["--skip-run", "--engine-lines", "20000", "--workdir", str(tmp_path), "--skip-engine"])
    assert main(["--skip-run", "--engine-lines", "20000", "--workdir", str(tmp_path), "--budget", "0"]) == 0
    engine = json.loads((tmp_path / "results.json").read_text())["engine"]
    assert engine["build"]["reused"] is True
    assert engine["waterfall"]["status"] == "ok"  # the first step always gets at least 30 s
    assert engine["eligibility"] == {"status": "skipped (time budget)"}


def test_the_fastest_successful_run_is_reported_with_every_run() -> None:
    runs = [
        {"status": "ok", "seconds": 31.0, "peak_mb": 2000.0},
        {"status": "ok", "seconds": 27.5, "peak_mb": 1900.0},
        {"status": "failed", "seconds": 3.0, "peak_mb": 100.0},
    ]
    chosen = fastest_run(runs)
    assert chosen["seconds"] == 27.5 and chosen["peak_mb"] == 1900.0 and chosen["status"] == "ok"
    assert chosen["runs_seconds"] == [31.0, 27.5, 3.0] and chosen["runs_peak_mb"] == [2000.0, 1900.0, 100.0]
    failed = fastest_run([{"status": "failed", "seconds": 3.0, "peak_mb": 1.0}])
    assert failed["status"] == "failed" and failed["runs_seconds"] == [3.0]


def test_bench_scale_whole_runs_on_a_small_parquet_book(tmp_path: Path) -> None:
    """``make bench-scale WHOLE_RUNS=...``: a clean Parquet book from the sample generator (reused
    the second time), ``python -m pipeline run`` with each engine measured, and the engines' files
    compared (the same bytes)."""
    from pipeline.bench.scale import main as scale_main
    from pipeline.bench.scale import sample_book

    assert scale_main(["--lines", "--whole-runs", "60", "--workdir", str(tmp_path)]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert len(results) == 1
    measured = results[0]
    assert measured["policies"] == 60 and measured["lines"] > 0
    assert [run["engine"] for run in measured["runs"]] == ["pandas", "dask"]
    for run in measured["runs"]:
        assert run["ok"], run["error"]
        assert run["seconds"] > 0 and run["cpu_seconds"] > 0 and run["peak_mib"] > 50
    pandas_run, dask_run = measured["runs"]
    # the Dask run's workers limited as the engine-only runs' (--memory-limit), each measured on its own
    assert dask_run["worker_memory_limit"] == "6GiB" and "worker_memory_limit" not in pandas_run
    assert 50 < dask_run["largest_process_mib"] < dask_run["peak_mib"]
    assert measured["same_files"] is True
    assert sorted(p.name for p in (tmp_path / "sample-60" / "2026-04").iterdir()) == [
        "claims.parquet",
        "lines.parquet",
        "policies.parquet",
    ]
    generated = json.loads((tmp_path / "sample-60.marker.json").read_text())
    assert generated["lines"] == measured["lines"] and generated["peak_mib"] > 50  # generated in a child process
    assert sample_book(tmp_path / "sample-60", 60)["reused"] is True
    assert not list((tmp_path / "sample-60").glob("*.json"))  # the book holds only its months


def test_bench_scale_whole_runs_with_one_engine_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--engines pandas`` (a book too large for the other engine on this machine) runs that
    engine alone; ``whole_runs`` itself runs one engine in the test below, so here it only records."""
    from pipeline.bench import scale

    asked: list[tuple[tuple[str, ...], str]] = []

    def recorded(folder: Path, workdir: Path, *, engines: tuple[str, ...], memory_limit: str) -> dict[str, object]:
        asked.append((tuple(engines), memory_limit))
        return {"book": folder.name, "runs": [], "same_files": False}

    monkeypatch.setattr(scale, "sample_book", lambda folder, policies: {"reused": True, "seconds": 0, "lines": 3})
    monkeypatch.setattr(scale, "whole_runs", recorded)
    assert scale.main(["--lines", "--whole-runs", "60", "--engines", "pandas", "--workdir", str(tmp_path)]) == 0
    assert asked == [(("pandas",), "6GiB")]  # the engine-only runs' worker limit, for the Dask whole runs too
    (alone,) = json.loads((tmp_path / "results.json").read_text())
    assert alone["policies"] == 60 and alone["lines"] == 3


def test_bench_scale_limits_the_workers_of_the_dask_whole_run_alone(tmp_path: Path, monkeypatch) -> None:
    from pipeline.bench import scale
    from pipeline.bench.measure import Child

    commands: list[list[str]] = []

    def ran(command: list[str], *args: object, **kwargs: object) -> Child:
        commands.append(command)
        return Child(command, 0, 1.0, 100.0, "", "", largest_descendant_mb=60.0)

    monkeypatch.setattr(scale, "run_child", ran)
    monkeypatch.setattr(scale, "_output_digests", lambda output: {"same": "bytes"})
    measured = scale.whole_runs(tmp_path / "book", tmp_path, engines=("pandas", "dask"), memory_limit="3GiB")
    assert commands[0][-2:] == ["--engine", "pandas"]
    assert commands[1][-4:] == ["--engine", "dask", "--worker-memory", "3GiB"]
    assert [run.get("worker_memory_limit") for run in measured["runs"]] == [None, "3GiB"]
    assert [run["largest_process_mib"] for run in measured["runs"]] == [60, 60]


def test_bench_scale_reports_a_whole_run_that_failed_by_its_error_line(tmp_path: Path) -> None:
    from pipeline.bench.scale import whole_runs

    measured = whole_runs(tmp_path / "no-such-book", tmp_path, engines=("pandas",))
    (run,) = measured["runs"]
    assert not run["ok"] and run["error"].startswith("error:") and "no-such-book" in run["error"]
    assert measured["same_files"] is False


def test_generated_data_is_reused_only_when_its_marker_records_what_is_wanted(tmp_path: Path) -> None:
    from pipeline.bench.reuse import recorded, reused

    marker = tmp_path / "book.marker.json"
    assert reused(marker, {"lines": 10}) is None  # nothing made yet
    record = recorded(marker, {"lines": 10}, rows=10, seconds=1.5)
    assert record == {"wanted": {"lines": 10}, "rows": 10, "seconds": 1.5}
    assert reused(marker, {"lines": 10}) == record
    assert reused(marker, {"lines": 10}, there=False) is None and not marker.exists()  # data gone
    recorded(marker, {"lines": 10}, rows=10)
    assert reused(marker, {"lines": 20}) is None and not marker.exists()  # made for another size
