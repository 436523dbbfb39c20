"""Fixtures shared across the suite: one small dask.distributed LocalCluster for the Dask engine's
tests (two single-threaded worker processes, started once per test process — `make test` runs
several with pytest-xdist — and only if one of its tests asks), and the sample book run as at its
last month, once per test process for the tests that only read it. And hypothesis without its
per-example deadline: speed is measured by the benchmarks, not by timed tests, and on a loaded
2-core machine one slow example (a first call, a collection) failed a property that holds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings

if TYPE_CHECKING:
    from pipeline.run import RunResult

settings.register_profile("bordereaux", deadline=None)
settings.load_profile("bordereaux")

SAMPLE_BOOK = Path(__file__).resolve().parents[1] / "sample_data" / "tokyo-agency"  # one cover-holder: ids as sent


@pytest.fixture(scope="session")
def dask_client() -> Iterator[object]:
    """A client of a LocalCluster of 2 workers, 1 thread each, shared by every test that uses it."""
    distributed = pytest.importorskip("distributed")
    from pipeline.engine.cluster import local_cluster

    with local_cluster(workers=2, memory_limit="2GiB") as cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="session")
def sample_last_month(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    """The sample book (its first cover-holder) run as at its last month, 2027-03, without the parse
    cache: one run per test process for the modules that only read it (the reinsurance it shows,
    its pinned reserves). A test must not change its output folder."""
    from pipeline.run import run_month

    return run_month(SAMPLE_BOOK, "2027-03", tmp_path_factory.mktemp("sample") / "out", use_cache=False)
