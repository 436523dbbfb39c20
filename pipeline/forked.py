"""Work done at the same time in forked processes of this machine: the one home of the process pool
that reads a large book's input files (``pipeline.engine.PandasEngine``) and writes a run's output
files (``pipeline.io.outputs.write_files``).

The processes are forked, so each task (a function of no arguments) and everything it refers to
(frames, the product book, a layout's reader) are inherited rather than pickled; only what a task
returns, or the exception it raises, comes back by pickle. A worker ends when the run that forked it
ends, however it ends (Linux ``PR_SET_PDEATHSIG``), so a killed run leaves none behind. Where
``fork`` is not available (not Linux or macOS), or the machine refuses a pool (no semaphores or
shared memory in some sandboxes), or one process is asked for, the tasks run one after the other in
this process, with the same results. Spreading work over machines is the Dask engine's
(``pipeline.engine.partitioned``), not this module's.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Hashable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from pipeline.errors import FatalInputError

log = logging.getLogger(__name__)

Key = TypeVar("Key", bound=Hashable)
Result = TypeVar("Result")

_PR_SET_PDEATHSIG = 1
_PENDING: Mapping[Any, Callable[[], Any]] = {}  # the tasks of the pool being run (inherited, not pickled)


def cores() -> int:
    """The cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def processes_from(variable: str, default: int) -> int:
    """The number of processes the environment variable ``variable`` asks for, or ``default`` when it
    is unset; a one-line error naming the variable when it is not a whole number from 1."""
    value = os.environ.get(variable, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise FatalInputError(variable, f"expected a whole number from 1, got {value!r}")
    return int(value)


def _die_with(parent: int) -> None:
    """In a forked worker: end when the run that started it ends, however it ends."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux: it ends when its task queue closes
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the run ended before the call above
        os._exit(1)


def _run_pending(key: Hashable) -> Any:
    """In a forked worker: run the pending task ``key``."""
    return _PENDING[key]()


def forked_results(
    tasks: Mapping[Key, Callable[[], Result]], processes: int, start: Sequence[Key] | None = None
) -> dict[Key, Result]:
    """What each task returns, by key, in the order of ``tasks``, each task run in one of
    ``processes`` forked processes (at most one per task); they start in the order ``start`` (every
    key once: the longest first keeps the last to finish as early as it can be), by default the
    order of ``tasks``. A task that raises raises here: the first such task in the order of
    ``tasks``, as if they ran one after the other in this process."""
    global _PENDING
    processes = min(processes, len(tasks))
    if processes <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return {key: task() for key, task in tasks.items()}
    try:
        pool = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_die_with,
            initargs=(os.getpid(),),
        )
    except OSError as error:
        log.warning("working one task after the other: no process pool (%s)", error)
        return {key: task() for key, task in tasks.items()}
    _PENDING = tasks
    try:
        with pool:
            running = {key: pool.submit(_run_pending, key) for key in (tasks if start is None else start)}
            try:
                return {key: running[key].result() for key in tasks}
            except BaseException:
                pool.shutdown(cancel_futures=True)  # the tasks not started yet are not run
                raise
    finally:
        _PENDING = {}
