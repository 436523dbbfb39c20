"""The dask.distributed client of a run: an existing cluster named by its scheduler's address, or
a LocalCluster sized to this machine (one single-threaded worker process per core, each with an
equal share of the memory as its limit: the pandas stages hold the GIL, so processes, not threads,
give parallelism).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import psutil
from distributed import Client, LocalCluster
from distributed.client import FutureCancelledError
from distributed.scheduler import KilledWorker

from pipeline.errors import FatalInputError

MEMORY_SHARE = 0.8
"""Share of this machine's memory given to a LocalCluster's workers (the rest: the run itself)."""
CONNECT_TIMEOUT = "20s"


def local_cluster(workers: int | None = None, memory_limit: int | str | None = None) -> LocalCluster:
    """A LocalCluster of ``workers`` worker processes (default: one per core), one thread each, each
    limited to ``memory_limit`` (default: an equal share of 80% of this machine's memory)."""
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


@contextmanager
def dask_client(scheduler: str | None = None) -> Iterator[Client]:
    """A client of the cluster at ``scheduler``, or of a LocalCluster started (and closed) here.
    dask.distributed's own log lines are kept to warnings: the run's stage lines stay readable. A
    worker lost while the run used the cluster stops the run with one line (``workers_lost``)."""
    logging.getLogger("distributed").setLevel(logging.WARNING)
    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as error:
            raise FatalInputError(scheduler, f"no dask scheduler answers at this address ({error})") from None
        with client, workers_lost(scheduler):
            yield client
        return
    with local_cluster() as cluster, Client(cluster) as client, workers_lost("LocalCluster"):
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


def workers_of(client: Client) -> int:
    """How many workers the cluster has now."""
    return len(client.scheduler_info(n_workers=-1).get("workers", {}))
