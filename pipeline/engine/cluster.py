"""The dask.distributed client of a run: an existing cluster named by its scheduler's address, or
a LocalCluster sized to this machine (one single-threaded worker process per core, each with an
equal share of the memory as its limit, or the limit the run is given: the pandas stages hold the
GIL, so processes, not threads, give parallelism).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psutil
from distributed import Client, LocalCluster
from distributed.client import FutureCancelledError
from distributed.scheduler import KilledWorker

from pipeline.errors import FatalInputError

MEMORY_SHARE = 0.8
"""Share of this machine's memory given to a LocalCluster's workers (the rest: the run itself)."""
CONNECT_TIMEOUT = "20s"
MIN_WORKER_MEMORY = 256 * 2**20
"""The smallest worker memory limit a run accepts (``worker_memory_bytes``)."""


def local_cluster(workers: int | None = None, memory_limit: int | str | None = None) -> LocalCluster:
    """A LocalCluster of ``workers`` worker processes (default: one per core), one thread each, each
    limited to ``memory_limit`` (bytes, or a size such as ``"6GiB"``; default: an equal share of 80%
    of this machine's memory). A worker spills what it holds to disk past 60% of its limit, pauses
    at 80% and is restarted by its nanny at 95% (dask.distributed's own thresholds)."""
    workers = workers or os.cpu_count() or 1
    limit = memory_limit or int(psutil.virtual_memory().total * MEMORY_SHARE / workers)
    return LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        memory_limit=limit,
        dashboard_address=":0",  # any free port: two runs on one machine never clash
        silence_logs=logging.WARNING,
    )


def worker_memory_bytes(size: int | str, scheduler: str | None = None) -> int:
    """A worker memory limit as a run is given it (``6GiB``, ``6 GB``, ``6000000000``), in bytes;
    ``ValueError`` with what is wrong when it is not a size of at least 256 MiB (a worker process
    alone holds about 150 MiB) or when the run is to use the cluster at ``scheduler``, whose workers
    have their own limits (the limit sizes the LocalCluster a run starts)."""
    from dask.utils import parse_bytes

    if scheduler:
        raise ValueError(
            f"sizes the workers of the LocalCluster a run starts, not the cluster at {scheduler}: "
            "a cluster given by its address has its workers' own limits"
        )
    try:
        limit = parse_bytes(size)
    except (ValueError, TypeError):
        raise ValueError(f"{size!r} is not a size: write it as 6GiB, 6GB or a number of bytes") from None
    if limit < MIN_WORKER_MEMORY:
        raise ValueError(f"{size!r} is less than a worker needs to start (at least 256MiB)")
    return int(limit)


@contextmanager
def dask_client(scheduler: str | None = None, worker_memory: int | str | None = None) -> Iterator[Client]:
    """A client of the cluster at ``scheduler``, or of a LocalCluster started (and closed) here, its
    workers limited to ``worker_memory`` each when given (``local_cluster``; a cluster given by its
    address has its own workers and their limits). dask.distributed's own log lines are kept to
    warnings: the run's stage lines stay readable. A worker lost while the run used the cluster
    stops the run with one line (``workers_lost``)."""
    logging.getLogger("distributed").setLevel(logging.WARNING)
    limit = None if worker_memory is None else worker_memory_bytes(worker_memory, scheduler)
    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as error:
            raise FatalInputError(scheduler, f"no dask scheduler answers at this address ({error})") from None
        with client, workers_lost(scheduler):
            yield client
        return
    with local_cluster(memory_limit=limit) as cluster, Client(cluster) as client, workers_lost("LocalCluster"):
        yield client


@contextmanager
def workers_lost(cluster: str) -> Iterator[None]:
    """What dask raises when a worker is lost while it holds what the run sent it (the history's
    parts live only on the worker they were scattered to: ``FutureCancelledError``) or dies again and
    again running a task (``KilledWorker``), as the run's one-line ``FatalInputError`` naming the
    cluster: a machine's problem, not a bug, and what to do about it."""
    try:
        yield
    except (FutureCancelledError, KilledWorker):
        raise FatalInputError(
            cluster,
            "a dask worker was lost while it held or computed part of the book (killed, or restarted by "
            "its nanny past its memory limit), and what it held cannot be sent again: run again, on "
            "workers with more memory",
        ) from None


def workers_now(client: Client) -> dict[str, dict[str, Any]]:
    """The cluster's workers now, as its scheduler describes each (one request to the scheduler)."""
    return client.scheduler_info(n_workers=-1).get("workers", {})


def workers_of(client: Client) -> int:
    """How many workers the cluster has now."""
    return len(workers_now(client))


def smallest_memory_limit(workers: dict[str, dict[str, Any]]) -> int | None:
    """The smallest memory limit of ``workers`` (``workers_now``), in bytes; None when one has none."""
    limits = [int(worker.get("memory_limit") or 0) for worker in workers.values()]
    return min(limits) if limits and min(limits) > 0 else None
