"""Atomic outputs (DATA_CONTRACT.md § Run: "Outputs are written to a temporary folder and moved into
place only when complete"): a run killed at any moment leaves the previous outputs of the month
intact and no half-written file in their place; leftovers of killed runs never break the next run;
runs into different output folders never interfere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from python_calamine import CalamineWorkbook

from pipeline import forked
from pipeline.errors import FatalInputError
from pipeline.io import outputs
from pipeline.io.cache import CACHE_FOLDER
from pipeline.io.outputs import clean_stale_folders, write_outputs
from tests.commands import ROOT, cli

SAMPLE = ROOT / "sample_data" / "tokyo-agency"  # one cover-holder: ids as sent
MONTH = "2026-04"


def start(output: Path) -> subprocess.Popen[str]:
    """A run to kill. It skips the parse cache (which the first run warmed), so that it reads and
    validates every month as a cold run does and the kill points fall inside it."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pipeline",
            "run",
            "--input",
            SAMPLE,
            "--month",
            MONTH,
            "--output",
            output,
            "--no-cache",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def assert_complete(folder: Path) -> None:
    """Every output listed by the manifest is there, nothing else, and every workbook opens."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(manifest["outputs"]) == sorted(path.name for path in folder.iterdir())
    assert manifest["month"] == MONTH
    for name in manifest["outputs"]:
        if name.endswith(".xlsx"):
            workbook = CalamineWorkbook.from_path(str(folder / name))
            assert workbook.sheet_names
            for sheet in workbook.sheet_names:
                workbook.get_sheet_by_name(sheet).to_python()


@pytest.fixture(scope="module")
def previous(tmp_path_factory) -> tuple[Path, dict[str, bytes]]:
    output = tmp_path_factory.mktemp("atomic") / "out"
    done = cli("run", "--input", SAMPLE, "--month", MONTH, "--output", output)
    assert done.returncode == 0, done.stderr
    assert_complete(output / MONTH)
    return output, snapshot(output / MONTH)


def _wait_for(condition, process: subprocess.Popen[str], timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if condition():
            return True
        time.sleep(0.002)
    return False


def _staged(output: Path, process: subprocess.Popen[str]) -> int:
    """How many files the run has in its temporary folder so far (-1: no folder yet)."""
    staging = output / f".tmp-{MONTH}-{process.pid}"
    try:
        return len(list(staging.iterdir()))
    except OSError:
        return -1


def _after(seconds: float) -> bool:
    time.sleep(seconds)
    return True


def _when_staged(count: int):
    return lambda output, process: _wait_for(lambda: _staged(output, process) >= count, process)


# From the start of the process: importing, then reading and validating (after a delay), then each
# step of writing, found by polling the run's own temporary folder.
KILL_POINTS = {
    "after 1 s": lambda output, process: _after(1.0),
    "as the temporary folder appears": _when_staged(0),
    "while writing the second workbook": _when_staged(2),
    "while writing the manifest": _when_staged(5),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_killed_run_leaves_the_previous_outputs_intact(previous, point):
    output, before = previous
    process = start(output)
    caught = KILL_POINTS[point](output, process)
    finished = process.poll() is not None
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    month = output / MONTH
    assert_complete(month)
    if point != "while writing the manifest":  # the last window is too short to be sure to catch
        assert caught and not finished
    if not finished:
        # Killed before the swap: the very same files as before, byte for byte. Killed after the swap
        # but before the process ended: the new, complete outputs, which equal the old ones but for
        # the manifest's creation time and timings (reruns are byte-identical).
        after = snapshot(month)
        assert after.keys() == before.keys()
        changed = [name for name in after if after[name] != before[name]]
        assert changed in ([], ["manifest.json"]), changed
        if changed:
            new, old = (json.loads(files["manifest.json"]) for files in (after, before))
            for manifest in (new, old):
                del manifest["created"], manifest["timings"], manifest["cache"]  # cache: months it served
            assert new == old
    assert not [p.name for p in output.iterdir() if not p.name.startswith(".") and p.name != MONTH]


def test_the_next_run_cleans_up_after_killed_runs(previous):
    output, before = previous
    done = cli("run", "--input", SAMPLE, "--month", MONTH, "--output", output)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in output.iterdir() if p.name != CACHE_FOLDER) == [MONTH]
    after = snapshot(output / MONTH)
    assert {name: data for name, data in after.items() if name != "manifest.json"} == {
        name: data for name, data in before.items() if name != "manifest.json"
    }


def test_sigterm_cleans_up_and_says_so(previous):
    """Terminated as soon as its temporary folder appears: the annotated workbooks are being written
    in forked writers, and the triangle, reinsurance, reports (seconds) and the other files are still
    to come. (This test used to skip itself when the run ended with exit 0, taken for a run that
    finished before the signal; it was the signal lost in a fork: test_a_sigterm_during_a_fork_is_not_lost.)"""
    output, before = previous
    process = start(output)
    assert _wait_for(lambda: _staged(output, process) >= 0, process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143, stderr
    assert "Traceback" not in stderr and stderr.strip().splitlines()[-1] == "error: terminated"
    assert sorted(p.name for p in output.iterdir() if p.name != CACHE_FOLDER) == [MONTH]
    assert snapshot(output / MONTH).keys() == before.keys()


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_signal_raised_as_the_staging_folder_is_made_leaves_no_folder(tmp_path, monkeypatch):
    """Python raises a signal's exception at the end of the call that was running (here the one that
    made the staging folder), before ``month_outputs`` has a ``MonthOutputs`` to close: the window
    ``test_sigterm_cleans_up_and_says_so`` hit now and then, its signal sent as the folder appeared.
    Made deterministic: the folder made, then the run's ``Terminated`` raised there."""
    from pipeline.__main__ import Terminated

    made = Path.mkdir

    def made_then_terminated(self: Path, *args: object, **kwargs: object) -> None:
        made(self, *args, **kwargs)  # type: ignore[arg-type]
        if self.name.startswith(".tmp-"):
            raise Terminated

    monkeypatch.setattr(Path, "mkdir", made_then_terminated)
    with pytest.raises(Terminated), outputs.month_outputs(tmp_path / "out", MONTH):
        pass
    assert not list((tmp_path / "out").iterdir())


def test_previous_outputs_left_mid_swap_are_put_back(tmp_path):
    """Without an atomic exchange, a run killed between its two renames leaves the previous outputs
    under .old-<month>-<pid>: the next run restores them before anything else."""
    first = write_outputs(tmp_path, MONTH, {"a.txt": lambda path: path.write_text("old")}, {"month": MONTH})
    retired = tmp_path / f".old-{MONTH}-{_dead_pid()}"
    first.rename(retired)
    stale = tmp_path / f".tmp-{MONTH}-{_dead_pid()}"
    stale.mkdir()
    (stale / "a.txt").write_text("half")
    clean_stale_folders(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [MONTH]
    assert (tmp_path / MONTH / "a.txt").read_text() == "old"


def test_folders_of_live_runs_are_left_alone(tmp_path):
    mine = tmp_path / f".tmp-2026-06-{os.getppid()}"
    mine.mkdir()
    clean_stale_folders(tmp_path)
    assert mine.exists()


def test_the_fallback_swap_without_an_atomic_exchange(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "_exchange", lambda first, second: False)
    write_outputs(tmp_path, MONTH, {"a.txt": lambda path: path.write_text("old")}, {"month": MONTH})
    final = write_outputs(tmp_path, MONTH, {"a.txt": lambda path: path.write_text("new")}, {"month": MONTH})
    assert (final / "a.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == [MONTH]


def test_the_swap_is_an_atomic_exchange_on_linux(tmp_path):
    if not sys.platform.startswith("linux"):
        pytest.skip("renameat2 is Linux only")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "1").write_text("a")
    (tmp_path / "b").mkdir()
    if not outputs._exchange(tmp_path / "a", tmp_path / "b"):
        pytest.skip("this file system cannot exchange")
    assert (tmp_path / "b" / "1").read_text() == "a" and not list((tmp_path / "a").iterdir())


def test_two_concurrent_runs_into_different_folders_give_identical_outputs(tmp_path):
    processes = [start(tmp_path / name) for name in ("one", "two")]
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
    one, two = snapshot(tmp_path / "one" / MONTH), snapshot(tmp_path / "two" / MONTH)
    assert one.keys() == two.keys()
    for name in one:
        if name != "manifest.json":
            assert one[name] == two[name], name
    assert sorted(p.name for p in (tmp_path / "one").iterdir() if p.name != CACHE_FOLDER) == [MONTH]


def _pid_writer(path: Path) -> None:
    path.write_text(str(os.getpid()))


def test_files_are_written_by_a_pool_of_processes(tmp_path, monkeypatch):
    """One process per core, at most one per file (here two, set by PIPELINE_WRITE_PROCESSES): each
    file is written by a forked worker, not by the run itself; with 1, all by the run."""
    files = {f"{name}.txt": _pid_writer for name in "abcd"}
    monkeypatch.setenv(outputs.WRITE_PROCESSES_VARIABLE, "2")
    final = write_outputs(tmp_path, MONTH, files, {"month": MONTH})
    writers = {int((final / name).read_text()) for name in files}
    assert os.getpid() not in writers and 1 <= len(writers) <= 2
    timings = json.loads((final / "manifest.json").read_text())["timings"]
    assert {f"write:{name}" for name in files} <= set(timings) and "write" in timings
    monkeypatch.setenv(outputs.WRITE_PROCESSES_VARIABLE, "1")
    final = write_outputs(tmp_path, MONTH, files, {"month": MONTH})
    assert {int((final / name).read_text()) for name in files} == {os.getpid()}
    monkeypatch.setenv(outputs.WRITE_PROCESSES_VARIABLE, "two")
    with pytest.raises(FatalInputError, match=outputs.WRITE_PROCESSES_VARIABLE):
        write_outputs(tmp_path, MONTH, files, {"month": MONTH})


def _failing_writer(path: Path) -> None:
    raise ValueError(f"cannot write {path.name}")


def test_a_file_failing_in_a_worker_fails_the_write_and_keeps_the_previous_outputs(tmp_path, monkeypatch):
    monkeypatch.setenv(outputs.WRITE_PROCESSES_VARIABLE, "2")
    write_outputs(tmp_path, MONTH, {"a.txt": lambda path: path.write_text("old")}, {"month": MONTH})
    files = {"a.txt": lambda path: path.write_text("new"), "b.txt": _failing_writer}
    with pytest.raises(ValueError, match=r"cannot write b\.txt"):
        write_outputs(tmp_path, MONTH, files, {"month": MONTH})
    assert (tmp_path / MONTH / "a.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == [MONTH]


def test_without_a_process_pool_the_files_are_written_one_by_one(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("no semaphores here")

    monkeypatch.setenv(outputs.WRITE_PROCESSES_VARIABLE, "2")
    monkeypatch.setattr(forked, "ProcessPoolExecutor", refuse)
    files = {f"{name}.txt": _pid_writer for name in "ab"}
    final = write_outputs(tmp_path, MONTH, files, {"month": MONTH})
    assert {int((final / name).read_text()) for name in files} == {os.getpid()}


def _slow_pid_writer(path: Path) -> None:
    time.sleep(0.5)
    path.write_text(str(os.getpid()))


def test_files_started_early_are_written_while_the_run_goes_on(tmp_path, monkeypatch):
    """The annotated workbooks start before the summary's figures exist: start returns at once (a
    forked worker writes them), the run finishes the other files, and the manifest lists every file
    in the order given with its seconds."""
    monkeypatch.setenv(outputs.WRITE_PROCESSES_VARIABLE, "2")
    with outputs.month_outputs(tmp_path, MONTH) as month:
        started = time.perf_counter()
        month.start({"a.txt": _slow_pid_writer, "b.txt": _slow_pid_writer})
        assert time.perf_counter() - started < 0.4  # not waited for
        assert not (month.staging / "a.txt").exists()
        final = month.finish({"c.txt": _pid_writer}, {"month": MONTH, "timings": {"read": 1.0}})
    assert {int((final / name).read_text()) for name in ("a.txt", "b.txt")}.isdisjoint({os.getpid()})
    manifest = json.loads((final / "manifest.json").read_text())
    assert manifest["outputs"] == ["a.txt", "b.txt", "c.txt", "manifest.json"]
    timings = manifest["timings"]
    assert timings["read"] == 1.0 and timings["write:a.txt"] >= 0.5 and "write" in timings
    assert sorted(p.name for p in tmp_path.iterdir()) == [MONTH]


def test_a_run_failing_after_files_started_keeps_the_previous_outputs_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv(outputs.WRITE_PROCESSES_VARIABLE, "2")
    previous = write_outputs(tmp_path, MONTH, {"a.txt": lambda path: path.write_text("old")}, {"month": MONTH})
    with pytest.raises(RuntimeError, match="the summary failed"), outputs.month_outputs(tmp_path, MONTH) as month:
        month.start({"a.txt": _slow_pid_writer, "b.txt": _slow_pid_writer})
        raise RuntimeError("the summary failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == [MONTH]
    assert (previous / "a.txt").read_text() == "old" and sorted(p.name for p in previous.iterdir()) == [
        "a.txt",
        "manifest.json",
    ]
    assert not forked._PENDING  # the started pool was stopped and forgotten


def test_an_early_file_failing_fails_the_finish_and_keeps_the_previous_outputs(tmp_path, monkeypatch):
    monkeypatch.setenv(outputs.WRITE_PROCESSES_VARIABLE, "2")
    write_outputs(tmp_path, MONTH, {"a.txt": lambda path: path.write_text("old")}, {"month": MONTH})
    with pytest.raises(ValueError, match=r"cannot write b\.txt"), outputs.month_outputs(tmp_path, MONTH) as month:
        month.start({"a.txt": _slow_pid_writer, "b.txt": _failing_writer})
        month.finish({"c.txt": _pid_writer}, {"month": MONTH})
    assert sorted(p.name for p in tmp_path.iterdir()) == [MONTH]
    assert (tmp_path / MONTH / "a.txt").read_text() == "old"


SIGNAL_DURING_FORK = """
import os, signal, sys, time
from pipeline import __main__ as cli
signal.signal(signal.SIGTERM, cli._terminate)
sys.unraisablehook = cli._quiet_unraisable
# the signal arrives while Python runs its handlers around fork, where an exception cannot be raised
os.register_at_fork(after_in_parent=lambda: signal.raise_signal(signal.SIGTERM) or sum(range(10_000)))
try:
    child = os.fork()
    if child == 0:
        os._exit(0)
    os.waitpid(child, 0)
    time.sleep(5)
    print("went on")
except cli.Terminated:
    print("terminated")
"""


def test_a_sigterm_during_a_fork_is_not_lost() -> None:
    """A run forks its readers and writers; a SIGTERM that came while Python ran its handlers around
    the fork raised where Python ignores exceptions, and the run went on to the end with exit 0 (seen
    about once in eight runs of the test above, which then skipped itself). It is sent again."""
    done = subprocess.run(
        [sys.executable, "-c", SIGNAL_DURING_FORK],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "terminated"
