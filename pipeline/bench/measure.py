"""Time a child process and read its peak memory, its own and that of the processes it starts.

The peak is the larger of the child's ``VmHWM`` (high-water mark of its own address space, reset by
``exec``) and the largest total, polled while it runs, of the proportional set size (``Pss`` in
``/proc/<pid>/smaps_rollup``) of the child and its descendants: a run writes its workbooks in forked
processes that share the run's pages, and ``Pss`` counts a shared page once across them where a sum
of resident sizes would count it in every process. ``ru_maxrss`` from ``os.wait4`` is only the
fallback where /proc is missing: Linux carries the pre-``exec`` resident size into it, so a child
forked from a large parent (a test run) would report the parent's memory."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

MB = 1024 * 1024
MIN_CHILD_SECONDS = 30.0


@dataclass
class Budget:
    """The time the bench may still spend: an overall ``deadline`` (``time.perf_counter()``) and a
    cap per child process; a child always gets at least ``MIN_CHILD_SECONDS``."""

    deadline: float
    per_child: float

    @classmethod
    def of(cls, seconds: float, per_child: float) -> Budget:
        return cls(time.perf_counter() + seconds, per_child)

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def child_timeout(self) -> float:
        return max(MIN_CHILD_SECONDS, min(self.per_child, self.left()))


def peak_rss_self_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports ``ru_maxrss`` in KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kib / 1024 if sys.platform != "darwin" else kib / MB, 1)


@dataclass
class Child:
    """What a child process did: exit code, wall seconds, peak resident memory (MiB) and the tails
    of its stdout and stderr."""

    command: list[str]
    returncode: int
    seconds: float
    peak_mb: float
    stdout: str
    stderr: str
    killed: str | None = None  # "timeout" or "memory" when the bench stopped it
    cpu_seconds: float = 0.0  # user + system CPU of the child and the processes it waited for
    largest_descendant_mb: float = 0.0  # the largest Pss of one process it started (a dask worker, a forked writer)

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def rss_mb(pid: int, field: str = "VmRSS") -> float | None:
    """Resident memory of process ``pid`` in MiB: now (``VmRSS``) or its peak so far (``VmHWM``);
    None where /proc is not available."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


def descendants(pid: int) -> list[int]:
    """The processes started by ``pid``, their children and so on (Linux ``/proc``; [] elsewhere)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{parent}/task/{task}/children", encoding="ascii") as children:
                    pids = [int(text) for text in children.read().split()]
            except (OSError, ValueError):
                continue
            found += pids
            pending += pids
    return found


def pss_mb(pid: int) -> float | None:
    """Proportional set size of process ``pid`` in MiB (``/proc/<pid>/smaps_rollup``); None if unknown."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


def tree_pss_by_process(pid: int) -> dict[int, float]:
    """The ``Pss`` in MiB of ``pid`` and of each of its descendants that could be read, by pid."""
    sizes = {p: pss_mb(p) for p in (pid, *descendants(pid))}
    return {p: size for p, size in sizes.items() if size is not None}


TREE_POLL_SECONDS = 0.1  # smaps_rollup walks the page tables: polled less often than VmHWM ...
# ... and never more than 1/TREE_POLL_SHARE of the time: on a 2 GiB run one poll of the process tree
# took 45 ms on average (up to 200 ms, page tables locked meanwhile), so polling every 0.1 s took 9 s
# of CPU from a 30 s run on two cores and slowed it by a fifth.
TREE_POLL_SHARE = 20


def run_child(
    command: list[str], log_dir: Path, name: str, *, timeout: float = 3600.0, max_rss_mb: float | None = None
) -> Child:
    """Run ``command`` with stdout/stderr to ``log_dir/<name>.out|.err`` and measure it; kill it after
    ``timeout`` seconds or when its resident memory passes ``max_rss_mb`` (a guard for a shared
    machine: the figures are then those at the kill)."""
    log_dir.mkdir(parents=True, exist_ok=True)
    out_path, err_path = log_dir / f"{name}.out", log_dir / f"{name}.err"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with out_path.open("wb") as out, err_path.open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        deadline = started + timeout
        killed: str | None = None
        peak: float | None = None
        next_tree_poll, tree_peak, largest_descendant = 0.0, 0.0, 0.0
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            peak = rss_mb(process.pid, "VmHWM") or peak
            if time.perf_counter() >= next_tree_poll:
                polling = time.perf_counter()
                sizes = tree_pss_by_process(process.pid)
                if len(sizes) > 1:
                    tree_peak = max(tree_peak, sum(sizes.values()))
                    largest_descendant = max(largest_descendant, *(v for p, v in sizes.items() if p != process.pid))
                took = time.perf_counter() - polling
                next_tree_poll = polling + max(TREE_POLL_SECONDS, TREE_POLL_SHARE * took)
            if time.perf_counter() > deadline:
                killed = "timeout"
            elif max_rss_mb is not None and (rss_mb(process.pid) or 0.0) > max_rss_mb:
                killed = "memory"
            if killed:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.02)
        seconds = time.perf_counter() - started
    returncode = os.waitstatus_to_exitcode(status)
    process.returncode = returncode  # reaped here, so Popen must not wait again
    kib = usage.ru_maxrss
    if peak is None:
        peak = kib / 1024 if sys.platform != "darwin" else kib / MB
    peak = max(peak, tree_peak)
    return Child(
        command=command,
        returncode=returncode,
        seconds=round(seconds, 3),
        peak_mb=round(peak, 1),
        stdout=_tail(out_path),
        stderr=_tail(err_path),
        killed=killed,
        cpu_seconds=round(usage.ru_utime + usage.ru_stime, 3),
        largest_descendant_mb=round(largest_descendant, 1),
    )


def _tail(path: Path, lines: int = 40) -> str:
    text = path.read_text(encoding="utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])
