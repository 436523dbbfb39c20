"""Fixtures shared across the suite: one small dask.distributed LocalCluster for the Dask engine's
tests (two single-threaded worker processes, started once per test process — `make test` runs
several with pytest-xdist — and only if one of its tests asks). And hypothesis without its
per-example deadline: speed is measured by the benchmarks, not by timed tests, and on a loaded
2-core machine one slow example (a first call, a collection) failed a property that holds."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import settings

settings.register_profile("bordereaux", deadline=None)
settings.load_profile("bordereaux")


@pytest.fixture(scope="session")
def dask_client() -> Iterator[object]:
    """A client of a LocalCluster of 2 workers, 1 thread each, shared by every test that uses it."""
    distributed = pytest.importorskip("distributed")
    from pipeline.engine.cluster import local_cluster

    with local_cluster(workers=2, memory_limit="2GiB") as cluster, distributed.Client(cluster) as client:
        yield client
