"""Work done at the same time in forked processes of this machine: the one home of the process pools
that read a large book's input files (``pipeline.engine.PandasEngine``) and write a run's output
files (``pipeline.io.outputs.started_files``), the annotated workbooks while the run goes on.

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
import itertools
import logging
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Generator, Hashable, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Generic, TypeVar

from pipeline.errors import FatalInputError

log = logging.getLogger(__name__)

Key = TypeVar("Key", bound=Hashable)
Result = TypeVar("Result")

_PR_SET_PDEATHSIG = 1
# The tasks of each pool started and not yet ended, by pool number: inherited by the pool's forked
# workers, never pickled.
_PENDING: dict[int, Mapping[Any, Callable[[], Any]]] = {}
_POOL_NUMBERS = itertools.count()


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


def _run_pending(pool: int, key: Hashable) -> Any:
    """In a forked worker: run the task ``key`` of the pool numbered ``pool``."""
    return _PENDING[pool][key]()


class Started(Generic[Key, Result]):
    """Tasks started at the same time in forked processes, running while this process goes on;
    ``results`` waits for them. With one process, without ``fork`` or without a pool, they run one
    after the other in this process when started (a task that raises then raises at once)."""

    def __init__(
        self,
        tasks: Mapping[Key, Callable[[], Result]],
        processes: int,
        start: Sequence[Key] | None = None,
        ahead: int | None = None,
    ) -> None:
        """Start each task in one of ``processes`` forked processes (at most one per task), in the
        order ``start`` (every key once: the longest first keeps the last to finish as early as it
        can be), by default the order of ``tasks``. With ``ahead``, at most that many tasks are
        started and not yet taken by ``each`` at any time (more only when the next task ``each``
        gives is not among them), so that results this process has not used yet do not pile up
        (a large book's read tasks each return a file's cells); by default all start at once."""
        self._keys = list(tasks)
        self._number = next(_POOL_NUMBERS)
        self._pool = _pool(min(processes, len(tasks)))
        self._done: dict[Key, Result] = {}
        if self._pool is None:
            self._done = {key: task() for key, task in tasks.items()}
            return
        _PENDING[self._number] = tasks  # the pool's workers are forked with it
        self._to_start = deque(tasks if start is None else start)
        self._ahead = len(self._keys) if ahead is None else max(1, ahead)
        self._running: dict[Key, Future[Result]] = {}
        self._start_for(self._keys[0] if self._keys else None)

    def _start_for(self, wanted: Key | None) -> None:
        """Start tasks in order until ``ahead`` are started and not yet taken and ``wanted`` (the
        next task ``each`` gives) is one of them."""
        assert self._pool is not None
        while self._to_start and (len(self._running) < self._ahead or wanted not in self._running):
            key = self._to_start.popleft()
            self._running[key] = self._pool.submit(_run_pending, self._number, key)

    def each(self) -> Generator[tuple[Key, Result], None, None]:
        """Each task's key and what it returned, in the order of the tasks, each as soon as it and
        every task before it have ended (this process can use the first results while the others
        run). A task that raised raises at its turn, after the results before it, as if the tasks
        ran one after the other in this process. Each result is given once and let go here as it is
        given (the caller keeps it as long as it needs it: a large book's read tasks return every
        month's sheets). Left before the end (closed, or the loop using it raises), the tasks not
        started yet are not run."""
        if self._pool is None:
            for key in list(self._done):
                yield key, self._done.pop(key)
            return
        try:
            with self._pool:
                try:
                    for number, key in enumerate(self._keys):
                        self._start_for(key)
                        taken = [self._running.pop(key)]  # no name of this frame keeps it once given
                        self._start_for(self._keys[number + 1] if number + 1 < len(self._keys) else None)
                        yield key, taken.pop().result()
                except BaseException:  # a task raised, or the iterator was left early
                    self._pool.shutdown(cancel_futures=True)  # the tasks not started yet are not run
                    raise
        finally:
            _PENDING.pop(self._number, None)

    def results(self) -> dict[Key, Result]:
        """What each task returned, by key, in the order of the tasks, once all have ended. A task
        that raised raises here: the first such task in the order of the tasks (``each``)."""
        return dict(self.each())

    def stop(self) -> None:
        """No results wanted: the tasks not started yet are not run; wait for the running ones."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            _PENDING.pop(self._number, None)


def _pool(processes: int) -> ProcessPoolExecutor | None:
    """A pool of ``processes`` forked workers, or None where the tasks run in this process."""
    if processes <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return None
    try:
        return ProcessPoolExecutor(
            max_workers=processes,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_die_with,
            initargs=(os.getpid(),),
        )
    except OSError as error:  # no semaphores or shared memory here (some sandboxes)
        log.warning("working one task after the other: no process pool (%s)", error)
        return None
