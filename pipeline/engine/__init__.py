"""Where the claims engine runs: in this process (``pandas``, the default) or on a dask.distributed
cluster (``dask``: ``pipeline.engine.partitioned`` and ``pipeline.engine.cluster``).

Both engines read the month folders with the same ``pipeline.io.read.read_file`` (the Dask engine
one file per task, in parallel on the workers) and run the same stage function,
``pipeline.stages.waterfall.adjudicated_lines``: every cap of the waterfall lives inside one policy
(line, claim, series and policy limits), so the Dask engine splits the lines by policy and runs it
unchanged on each part. Everything that crosses policies (validation, versions, totals,
reinsurance, reports) runs in the run's process on the gathered results, as in the pandas engine.
``run.py`` only chooses the engine (``open_engine``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import pandas as pd

from pipeline.io.find import BordereauFiles, SourceFile
from pipeline.products.load import ProductBook
from pipeline.stages.claims import Valuations, adjudicated_by_valuation
from pipeline.tables import RawSheet

ENGINES = ("pandas", "dask")

FileReader = Callable[[SourceFile], list[RawSheet]]
"""Reads one input file into its raw sheets (``pipeline.io.layouts.file_reader`` of a cover-holder)."""


class Engine(Protocol):
    """What a run needs of an engine: the raw sheets of the months to read, the adjudicated lines
    as at every valuation, and what the manifest says about the engine."""

    def sheets_by_month(
        self, found: BordereauFiles, months: Sequence[str], read: FileReader
    ) -> dict[str, list[RawSheet]]: ...

    def adjudicated_by_valuation(self, valuations: Valuations, book: ProductBook) -> dict[str, pd.DataFrame]: ...

    def describe(self) -> dict[str, Any]: ...


class PandasEngine:
    """The single-machine engine: each month read and each valuation's lines adjudicated in this process."""

    def sheets_by_month(
        self, found: BordereauFiles, months: Sequence[str], read: FileReader
    ) -> dict[str, list[RawSheet]]:
        return {month: [sheet for source in found.of_month(month) for sheet in read(source)] for month in months}

    def adjudicated_by_valuation(self, valuations: Valuations, book: ProductBook) -> dict[str, pd.DataFrame]:
        return adjudicated_by_valuation(valuations, book)

    def describe(self) -> dict[str, Any]:
        return {"name": "pandas"}


@contextmanager
def open_engine(name: str | Engine = "pandas", scheduler: str | None = None) -> Iterator[Engine]:
    """The engine called ``name`` for the length of a run: ``pandas``, or ``dask`` on the cluster at
    ``scheduler`` (an address such as ``tcp://host:8786``) or, without one, on a LocalCluster sized
    to this machine that is closed afterwards. An ``Engine`` object is used as it is."""
    if not isinstance(name, str):
        yield name
        return
    if name == "pandas":
        yield PandasEngine()
        return
    if name != "dask":
        raise ValueError(f"unknown engine {name!r}: choose one of {', '.join(ENGINES)}")
    from pipeline.engine.cluster import dask_client
    from pipeline.engine.partitioned import LOCAL, DaskEngine

    with dask_client(scheduler) as client:
        yield DaskEngine(client, scheduler or LOCAL)
