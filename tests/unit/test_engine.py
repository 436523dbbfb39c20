"""The Dask engine (pipeline/engine/) gives what the pandas engine gives: the same adjudicated lines
(rows, order, index, columns, dtypes and values) on hypothesis-generated books, the same lines on every
golden case (to the yen), and byte-identical workbooks on the sample book. One LocalCluster (2 workers,
1 thread each) is shared by every test here (tests/conftest.py)."""

from __future__ import annotations

import gc
import json
import os
import tempfile
import time
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from pipeline.cell_columns import PackedFrame
from pipeline.engine import READ_PROCESSES_VARIABLE, PandasEngine, ValuedHistory, open_engine, read_processes
from pipeline.engine.partitioned import (
    LINE_COLUMNS_HERE,
    LINE_KEY,
    LOCAL,
    PART,
    DaskEngine,
    part_count,
    policy_part,
)
from pipeline.errors import FatalInputError
from pipeline.forked import cores
from pipeline.io.find import BordereauFiles, find_bordereaux
from pipeline.io.outputs import MAX_SHEET_ROWS_VARIABLE, PARQUET_PART_ROWS_VARIABLE, parquet_writer
from pipeline.reports.annotated import lines_annotated_sheet
from pipeline.reports.labels import labels_for
from pipeline.run import bordereau_months, run_month
from pipeline.sample import generate_book
from pipeline.stages.claims import (
    LineSums,
    Movements,
    claim_payables,
    each_claim_payables,
    lines_adjudicated,
)
from pipeline.stages.versions import History, Versions, versions_of
from pipeline.stages.waterfall import (
    PAYABLE_COLUMNS,
    adjudicated_lines,
    columns_read,
    line_payables,
)
from pipeline.tables import RowChecked
from tests import factories
from tests.commands import ROOT
from tests.golden.make_cases import CASES, GOLDEN
from tests.golden.test_golden import NAMES, _previous, _rows_as_at, case_month, compare
from tests.helpers import lines_of, run_keeping_history
from tests.property.strategies import PRODUCTS, Book, books, reproducible
from tests.unit.test_validate import CLAIM, LINE, LITE, WIDE
from tests.workbooks import write_bordereau

SAMPLE = ROOT / "sample_data"
RESULT_FRAMES = ["policies", "claims", "lines", "rejected", "reinsurance_policies", "reinsurance_claims"]
VARYING = {"created", "timings", "cache", "engine"}
LANGS = ("en", "ja")


def test_a_policys_part_is_the_same_in_every_frame_and_in_range() -> None:
    ids = pd.Series(["P1", "P2", "P3", "P1", "ポリシー"] * 20)
    parts = policy_part(ids, 7)
    assert parts.between(0, 6).all()
    assert (parts.groupby(ids).nunique() == 1).all()
    assert parts.nunique() > 1
    assert policy_part(ids.astype(object), 7).equals(parts)
    assert part_count(0, 2) == 4 and part_count(10_000_000, 2) == 40
    # hashed a few ids at a time (a market book's ids are not all made Python strings at once): the
    # same parts, on the same index
    expected = pd.util.hash_array(ids.astype(object).to_numpy()) % np.uint64(7)
    on_index = ids.set_axis(pd.RangeIndex(5, 5 + len(ids)))
    for at_once in (1, 3, len(ids)):
        with mock.patch("pipeline.engine.IDS_HASHED_AT_ONCE", at_once):
            hashed = policy_part(on_index, 7)
        assert hashed.to_numpy().tolist() == expected.astype(np.int64).tolist()
        assert hashed.index.equals(on_index.index)
    assert policy_part(ids.iloc[:0], 7).empty


@reproducible(8, suppressed=(HealthCheck.too_slow,))
@given(book=books(max_portfolios=10))
def test_what_the_triangle_reads_of_a_month_is_what_the_lines_say(book: Book) -> None:
    """``line_payables`` (what the run reads of the lines as at M−1 and the triangle of every earlier
    month) gives ``adjudicated_lines``' payable columns of the same lines, rows, order and index (an
    index that is not 0..n−1 too), and ``each_claim_payables`` sums them per claim in the order of
    each claim's first line."""
    lines, claims, policies = book.frames()
    lines = lines.set_axis(np.arange(len(lines))[::-1] * 3)
    valuations = {"2026-08": (lines, claims, policies), "2026-07": (lines.iloc[::2], claims, policies)}
    per_claim_here = dict(each_claim_payables(valuations, PRODUCTS))
    for month, frames in valuations.items():
        expected = adjudicated_lines(*frames, PRODUCTS)
        pd.testing.assert_frame_equal(line_payables(*frames, PRODUCTS), expected[PAYABLE_COLUMNS], obj=month)
        whole = claim_payables(month, expected).reset_index(drop=True)
        pd.testing.assert_frame_equal(per_claim_here[month], whole, obj=month)


def restated_history(book: Book) -> History:
    """Three months of a generated book: in April every row; in May every third claim moved onto the
    policy of the claim after it (its lines with it: the claim's versions join the two policies) and
    every fourth line restated under the claim after its own with twice its amount (the line's
    versions join its claims' policies); in June every fifth line restated as it was in April."""
    lines, claims, policies = book.frames()
    lines = lines.drop(columns="first_month")

    def of_month(frame: pd.DataFrame, month: str) -> pd.DataFrame:
        return frame.assign(bordereau_month=month, excel_row=np.arange(2, len(frame) + 2, dtype=np.int64))

    ids = claims["claim_id"].tolist()
    after = {claim: ids[(number + 1) % len(ids)] for number, claim in enumerate(ids)}
    moved = claims.iloc[::3].assign(policy_id=claims["policy_id"].shift(-1, fill_value=claims["policy_id"].iloc[0]))
    restated = lines.iloc[::4].assign(claim_id=lines["claim_id"].map(after), amount=lines["amount"] * 2)
    return History(
        policies=of_month(policies, "2026-04"),
        claims=pd.concat([of_month(claims, "2026-04"), of_month(moved, "2026-05")], ignore_index=True),
        lines=pd.concat(
            [of_month(lines, "2026-04"), of_month(restated, "2026-05"), of_month(lines.iloc[::5], "2026-06")],
            ignore_index=True,
        ),
    )


@reproducible(8, suppressed=(HealthCheck.too_slow,))
@given(
    book=books(max_portfolios=10),
    parts=st.integers(2, 7),
    chunk_rows=st.integers(1, 6),
    part_rows=st.integers(1, 9),
    lang=st.sampled_from(LANGS),
)
def test_the_history_valued_on_the_workers_is_the_one_valued_here(
    book: Book, parts: int, chunk_rows: int, part_rows: int, lang: str, dask_client
) -> None:
    """The history valued with its parts kept on the workers (``valued_history``: the history split
    once into parts that hold every version of their claims and lines with every policy they were
    ever under, each month's view made there) gives the pandas engine's per-claim payables of the
    triangle's earlier months, row for row and in order, with no view made in the run's process,
    and the pandas engine's lines as at M (``adjudicated_lines``, every column of the run's view) and
    M−1 (``line_payables``) beside the views the run made, on a history whose claims move policy and
    whose lines move claim, in 2 to 7 parts; every row of a claim or line id is in one part with its
    policies; the history's lines kept on the workers in runs of 1 to 6 lines (``_lines_kept``),
    each part's whole lines taken from there. When the lines as at M are more than a sheet holds,
    only their sums come back and the workers write their annotated sheet: the files the run's own
    writer writes of the pandas engine's lines, in parts of 1 to 9 lines, in either language."""
    import pipeline.engine.partitioned as partitioned
    from pipeline.engine.components import history_parts

    versions = versions_of(restated_history(book))
    history = versions.history
    policy_of, claim_of, line_of = history_parts(versions, parts)
    for frame, of, key in ((history.claims, claim_of, "claim_id"), (history.lines, line_of, "line_id")):
        assert (pd.Series(of).groupby(frame[key].to_numpy()).nunique() == 1).all(), f"a {key} in two parts"
    claim_part = dict(zip(history.claims["claim_id"], claim_of, strict=True))
    policy_part_of = dict(zip(history.policies["policy_id"], policy_of, strict=True))
    assert all(claim_part[c] == p for c, p in zip(history.lines["claim_id"], line_of, strict=True))
    assert all(policy_part_of[c] == p for c, p in zip(history.claims["policy_id"], claim_of, strict=True))
    month, before, earlier = "2026-06", "2026-05", ["2026-04", "2026-05", "2026-06"]
    current = versions.as_at(month)  # the views a run makes before its engine values the history
    placed = versions.as_at(month, line_columns=DaskEngine.view_line_columns)  # the Dask engine's run's
    previous = versions.as_at(before, line_columns=PandasEngine.previous_view_line_columns)
    previous_placed = versions.as_at(before, line_columns=DaskEngine.previous_view_line_columns)
    no_view_here = mock.patch.object(Versions, "as_at", side_effect=AssertionError("a view made in the run's process"))
    with (
        mock.patch.object(partitioned, "part_count", lambda lines, workers, per_worker=2: parts),
        mock.patch.object(partitioned, "LINES_PER_PART", chunk_rows),
        no_view_here,
    ):
        valued = DaskEngine(dask_client).valued_history(versions, earlier, PRODUCTS)
        got = list(valued.earlier)
        moved = valued.movements(placed, previous_placed)
        moved_alone = valued.movements(placed, None)  # M−1 not a month of the book
    assert valued.lines_elsewhere() is None  # the lines fit a sheet: they came back whole
    here = PandasEngine().valued_history(versions, earlier, PRODUCTS)
    expected = list(here.earlier)
    _assert_valued_alike(got, expected, earlier, (moved, here.movements(current, previous)), (month, before))
    expected_alone = here.movements(current, None)
    pd.testing.assert_frame_equal(_lines(moved_alone), _lines(expected_alone), obj=f"{month} alone")
    _assert_sums_alike(moved_alone.sums, expected_alone.sums)
    assert moved_alone.before is None and expected_alone.before is None

    # more lines than a sheet of 2 rows holds: the whole lines stay on the workers and are written there
    with mock.patch.object(partitioned, "max_sheet_rows", lambda: 2), no_view_here:
        kept = valued.movements(placed, previous_placed)
    elsewhere = valued.lines_elsewhere()
    expected_moved = here.movements(current, previous)
    whole = _lines(expected_moved)
    _assert_sums_alike(kept.sums, expected_moved.sums)
    if len(whole) < 2:
        assert elsewhere is None and kept.lines is not None
        return
    assert elsewhere is not None and kept.lines is None  # only the lines' sums came back
    labels = labels_for(PRODUCTS, lang)
    with (
        tempfile.TemporaryDirectory() as folder,
        mock.patch.dict(os.environ, {PARQUET_PART_ROWS_VARIABLE: str(part_rows)}),
    ):
        sheet = elsewhere.sheet(labels)
        assert (sheet.name, sheet.rows) == ("lines", len(whole))
        sheet.writer(Path(folder) / "workers")
        parquet_writer(lines_annotated_sheet(whole, labels).frame)(Path(folder) / "here")
        assert _files(Path(folder) / "workers") == _files(Path(folder) / "here")
        assert len(_files(Path(folder) / "here")) == -(-len(whole) // part_rows)


def _files(path: Path) -> dict[str, bytes]:
    """The bytes of a Parquet file, or of each part of a dataset, by name."""
    if path.is_file():
        return {"": path.read_bytes()}
    return {part.name: part.read_bytes() for part in sorted(path.iterdir())}


@reproducible(60, suppressed=())
@given(
    places=st.lists(st.integers(0, 10_000), min_size=1, max_size=60, unique=True),
    parts=st.integers(1, 5),
    run_rows=st.integers(1, 12),
    seed=st.integers(0, 2**32 - 1),
)
def test_each_run_of_the_annotated_lines_takes_its_share_of_every_part(
    places: list[int], parts: int, run_rows: int, seed: int
) -> None:
    """The lines as at M kept on the workers are written run by run (``AnnotatedLinesOnWorkers``):
    each part is split where it is into its shares of the runs of ``run_rows`` lines of the file
    order (``runs_shares``, by each line's place), each share in the part's own order, and a run's
    shares of every part put in file order are that run's lines, every line in exactly one run."""
    from pipeline.engine.partitioned import POSITION, _in_file_order, runs_shares

    rng = np.random.default_rng(seed)
    lines = pd.DataFrame({POSITION: places, "line_id": [f"L{place}" for place in places]})
    part = rng.integers(0, parts, len(lines))
    pieces = [lines[part == number].reset_index(drop=True) for number in range(parts)]  # each in its own order
    starts = np.sort(lines[POSITION].to_numpy())[::run_rows]
    shares = [runs_shares(piece, starts) for piece in pieces]
    in_order = lines.sort_values(POSITION, ignore_index=True)
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else np.inf
        for piece, runs in zip(pieces, shares, strict=True):
            assert len(runs) == len(starts)
            inside = piece[(piece[POSITION] >= start) & (piece[POSITION] < end)]
            pd.testing.assert_frame_equal(runs[number], inside)  # the part's rows of the run, in its order
        run = _in_file_order([runs[number] for runs in shares]).reset_index(drop=True)
        expected = in_order.iloc[number * run_rows : (number + 1) * run_rows].drop(columns=POSITION)
        pd.testing.assert_frame_equal(run, expected.reset_index(drop=True))


def _assert_valued_alike(
    got: list[tuple[str, pd.DataFrame]],
    expected: list[tuple[str, pd.DataFrame]],
    earlier: list[str],
    movements: tuple[Movements, Movements],
    months: tuple[str, str],
) -> None:
    """Two engines' ``ValuedHistory`` alike: the triangle's ``earlier`` months in order with the same
    per-claim payables, and the same ``Movements`` as at ``months`` (M, M−1), row for row."""
    assert [valuation for valuation, _ in got] == [valuation for valuation, _ in expected] == earlier
    for (valuation, totals), (_, whole) in zip(got, expected, strict=True):
        pd.testing.assert_frame_equal(totals, whole, obj=valuation)
    moved, expected_moved = movements
    pd.testing.assert_frame_equal(_lines(moved), _lines(expected_moved), obj=months[0])
    _assert_sums_alike(moved.sums, expected_moved.sums)
    assert moved.before is not None and expected_moved.before is not None
    pd.testing.assert_frame_equal(moved.before, expected_moved.before, obj=months[1])


def _lines(moved: Movements) -> pd.DataFrame:
    """The lines as at M of ``moved``, which the engine gave (not kept elsewhere)."""
    assert moved.lines is not None, "the lines as at M were kept elsewhere"
    return moved.lines


def _assert_sums_alike(got: LineSums, expected: LineSums) -> None:
    """Two ``LineSums`` alike, row for row and in order (the claims in the order of their first
    lines), dtype for dtype; the policies' and the items' in any order (the run looks the one up and
    sorts the other in catalogue order)."""

    def by_item(sums: LineSums) -> pd.DataFrame:
        return sums.per_item.sort_values(["product", "item"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(got.per_claim, expected.per_claim, obj="sums per claim")
    pd.testing.assert_frame_equal(got.per_policy.sort_index(), expected.per_policy.sort_index(), obj="per policy")
    pd.testing.assert_frame_equal(by_item(got), by_item(expected), obj="sums per item")
    pd.testing.assert_series_equal(got.this_month_by_part, expected.this_month_by_part, obj="month by part")
    assert got.lines == expected.lines


def _small_versions() -> Versions:
    """The versions of a history of one policy and claim and two lines, one of them restated in May."""
    return versions_of(
        History(
            policies=factories.policies({}),
            claims=factories.claims({}),
            lines=factories.lines({}, {"bordereau_month": "2026-05", "amount": 2_000_000}),
        )
    )


def test_the_workers_hold_of_the_lines_kept_there_only_what_the_run_does_not(dask_client) -> None:
    """A month's lines kept on the workers (``kept_month``): the run keeps the columns it reads of them
    (``LINE_COLUMNS_HERE``) with where each line is there; the workers every other column and each
    line's id (by which a part checks the rows it takes), so that no column the run keeps is sent
    to them or held twice. The history valued from there is the pandas engine's
    (``test_the_history_valued_on_the_workers_is_the_one_valued_here``)."""
    lines = factories.lines({}, {"bordereau_month": "2026-05", "amount": 2_000_000}).assign(coverholder="")
    engine = DaskEngine(dask_client)
    here = engine._lines_kept("2026-05", lines)
    there = pd.concat(dask_client.gather(engine.chunks))
    assert list(here.columns) == [*(c for c in lines.columns if c in LINE_COLUMNS_HERE), LINE_KEY]
    assert {"source_file", "claim_id", "bordereau_month", "excel_row", "coverholder"} <= set(here.columns)
    kept_there = [c for c in lines.columns if c not in LINE_COLUMNS_HERE or c == "line_id"]
    assert list(there.columns) == kept_there and "amount" in kept_there and "first_month" in kept_there
    pd.testing.assert_frame_equal(there, lines[kept_there])


def test_the_pandas_engine_lets_the_history_go_once_the_triangle_is_taken() -> None:
    """The pandas engine holds the run's history only in ``ValuedHistory.earlier`` (the triangle's
    earlier months, each view made when its turn comes): once they are taken, the history is gone,
    while the lines as at M are still to be adjudicated (the run lets it go before them)."""
    versions = _small_versions()
    # the engine keeps the history's columns it reads (new frames of the same data) and its file orders
    history = weakref.ref(versions.lines)
    valued = PandasEngine().valued_history(versions, ["2026-04", "2026-05"], PRODUCTS)
    del versions
    gc.collect()
    assert history() is not None, "let go before the triangle"
    assert [month for month, _ in valued.earlier] == ["2026-04", "2026-05"]
    gc.collect()
    assert history() is None, "the history is held after the triangle"


class ViewsMadeWhenAsked(Mapping[str, tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]]):
    """Valuations whose frames are made (copied) each time they are asked for, as the run's
    ``Versions.each_as_at`` makes its views, remembering weakly every frame it handed out: asking
    for a month while a view handed out before is still alive fails."""

    def __init__(self, frames: dict[str, tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]]) -> None:
        self.frames = frames
        self.asked: list[str] = []
        self.handed_out: list[weakref.ref[pd.DataFrame]] = []

    def __getitem__(self, month: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        gc.collect()
        alive = [ref for ref in self.handed_out if ref() is not None]
        assert not alive, f"{len(alive)} frames of an earlier view still alive when {month} is asked for"
        self.asked.append(month)
        view = tuple(frame.copy() for frame in self.frames[month])
        self.handed_out.extend(weakref.ref(frame) for frame in view)
        return view[0], view[1], view[2]

    def __iter__(self) -> Iterator[str]:
        return iter(self.frames)

    def __len__(self) -> int:
        return len(self.frames)


def test_the_pandas_triangle_takes_each_valuation_once_and_holds_one_at_a_time() -> None:
    """``each_claim_payables`` (the pandas engine's triangle): every valuation's frames are asked for
    once, in order, and let go once adjudicated, before the next is asked for, and the results, in
    the same order, are each valuation's ``line_payables`` summed per claim."""
    golden = _golden_valuations()
    frames = {key: golden[key] for key in list(golden)[:6]}
    views = ViewsMadeWhenAsked(frames)
    per_claim = list(each_claim_payables(views, PRODUCTS))
    assert views.asked == list(frames)
    assert [month for month, _ in per_claim] == list(frames)
    for month, totals in per_claim:
        expected = claim_payables(month, line_payables(*frames[month], PRODUCTS)).reset_index(drop=True)
        pd.testing.assert_frame_equal(totals, expected, obj=month)


def test_dask_engine_hands_the_heap_back_once_a_large_history_is_scattered(dask_client, monkeypatch) -> None:
    """The parts of a history of at least ``KEEP_FREED_MEMORY_FROM_ROWS`` lines are copies made here
    only to be scattered: once they are sent, glibc's freed pages are handed back, once; a smaller
    history is not trimmed."""
    from pipeline import memory

    trims: list[str] = []
    monkeypatch.setattr(memory, "freed_memory_returned", lambda: trims.append("trimmed"))
    DaskEngine(dask_client).valued_history(_small_versions(), ["2026-04"], PRODUCTS)
    assert trims == []  # below the threshold: nothing trimmed
    monkeypatch.setattr(memory, "KEEP_FREED_MEMORY_FROM_ROWS", 1)
    DaskEngine(dask_client).valued_history(_small_versions(), ["2026-04"], PRODUCTS)
    assert trims == ["trimmed"]


@reproducible(10, suppressed=(HealthCheck.too_slow,))
@given(book=books(max_portfolios=10))
def test_the_stages_read_only_the_columns_they_declare(book: Book) -> None:
    """What the Dask engine relies on to send only ``columns_read`` to the workers and put the
    lines' own columns back itself: on those columns alone each stage adds the same columns, and
    neither stage rewrites a column of the lines it was given. A rule that starts reading another
    column fails here (KeyError) until the column is declared."""
    frames = book.frames()
    lines, claims, policies = columns_read(*frames, PRODUCTS)
    for stage in (adjudicated_lines, line_payables):
        full, alone = stage(*frames, PRODUCTS), stage(lines, claims, policies, PRODUCTS)
        kept = [column for column in full.columns if column in frames[0].columns]
        pd.testing.assert_frame_equal(full[kept], frames[0][kept])  # the lines' own columns, untouched
        added = [column for column in full.columns if column not in frames[0].columns]
        pd.testing.assert_frame_equal(alone[added], full[added])


def _golden_valuations() -> dict[str, tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]]:
    """Every golden case's rows in force as at its month and the month before, keyed ``case/month``."""
    valuations = {}
    for name in NAMES:
        case = CASES[name]
        for month in (case.month, _previous(case.month)):
            rows = {
                table: _rows_as_at(case, month, table, key)
                for table, key in [("policies", "policy_id"), ("claims", "claim_id"), ("lines", "line_id")]
            }
            if rows["lines"]:
                frames = (factories.lines(*rows["lines"]), factories.claims(*rows["claims"]))
                valuations[f"{name}/{month}"] = (*frames, factories.policies(*rows["policies"]))
    return valuations


@pytest.mark.parametrize("name", NAMES)
def test_dask_engine_values_every_golden_cases_history_as_pandas(name: str, dask_client) -> None:
    """Each golden case's history as a run validates it, valued by both engines as a run values it
    (the views as at M and M−1 made first, each engine keeping the history's columns it reads,
    every earlier month summed per claim): the same per-claim payables and the same lines as at M
    (every column: the Dask engine's workers make them whole) and M−1, and the case's hand-worked
    lines to the yen."""
    from pipeline.io.read import read_bordereaux
    from tests.helpers import validate_bordereaux

    month = case_month(name)
    history = validate_bordereaux(read_bordereaux(GOLDEN / name / "input", month), PRODUCTS).history
    versions = versions_of(history)
    current = versions.as_at(month)
    placed = versions.as_at(month, line_columns=DaskEngine.view_line_columns)  # the Dask engine's run's
    previous = versions.as_at(_previous(month), line_columns=PandasEngine.previous_view_line_columns)
    previous_placed = versions.as_at(_previous(month), line_columns=DaskEngine.previous_view_line_columns)
    earlier = [valuation for valuation in bordereau_months(history, month) if valuation < _previous(month)]
    on_workers = DaskEngine(dask_client).valued_history(versions, earlier, PRODUCTS)
    here = PandasEngine().valued_history(versions, earlier, PRODUCTS)
    got, expected = list(on_workers.earlier), list(here.earlier)
    moved = on_workers.movements(placed, previous_placed)
    _assert_valued_alike(got, expected, earlier, (moved, here.movements(current, previous)), (month, _previous(month)))
    compare(_lines(moved), name)


def _outputs(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.mark.slow
def test_dask_engine_writes_the_same_workbooks_as_pandas_on_the_sample(dask_client, tmp_path: Path) -> None:
    pandas_run = run_month(SAMPLE, "2027-03", tmp_path / "pandas", use_cache=False)
    # the cross-row part of validation in parts on the workers (``validation_parts``), as whole here
    engine = DaskEngine(dask_client, in_parts=True)
    # the triangle's earlier months made on the workers: no earlier view made in the run's process
    no_earlier_view_here = mock.patch.object(Versions, "each_as_at", side_effect=AssertionError("a view made here"))
    with no_earlier_view_here:
        dask_run = run_month(SAMPLE, "2027-03", tmp_path / "dask", use_cache=False, engine=engine)
    expected, got = _outputs(pandas_run.output_folder), _outputs(dask_run.output_folder)
    assert got.keys() == expected.keys()
    assert [name for name in got if name.endswith(".xlsx")], "no workbook written"
    for name in expected.keys() - {"manifest.json"}:
        assert got[name] == expected[name], f"{name} differs between the engines"
    manifests = [json.loads(files["manifest.json"]) for files in (expected, got)]
    assert manifests[0]["engine"] == {"name": "pandas"}
    assert manifests[1]["engine"] == {
        "name": "dask",
        "version": manifests[1]["engine"]["version"],
        "workers": 2,
        "worker_memory_limit": 2 * 2**30,  # the shared cluster's (tests/conftest.py)
        "scheduler": LOCAL,
        "cross_row_validation": "in parts on the workers",
    }
    constant = [{key: value for key, value in manifest.items() if key not in VARYING} for manifest in manifests]
    assert constant[0] == constant[1]


def test_the_dask_engine_writes_lines_beyond_a_sheet_on_its_workers(dask_client, tmp_path: Path, monkeypatch) -> None:
    """A book whose lines as at M are more than a sheet holds: the Dask engine's run writes the
    annotated lines from its workers, in parts, and no annotated lines sheet is made in the run's
    process, which gets the lines' sums and holds of the history's lines only the columns it reads
    (the lines kept on the workers month by month as validated, in runs of 10 lines); every file is
    the pandas engine's, byte for byte, in Japanese too."""
    import pipeline.engine.partitioned as partitioned

    generate_book(tmp_path / "in", policies=80, months=3)
    monkeypatch.setattr(partitioned, "LINES_PER_PART", 10)
    monkeypatch.setenv(MAX_SHEET_ROWS_VARIABLE, "20")
    monkeypatch.setenv(PARQUET_PART_ROWS_VARIABLE, "7")
    pandas_run = run_month(tmp_path / "in", "2026-06", tmp_path / "pandas", use_cache=False, lang="ja")
    not_here = mock.patch("pipeline.run.claims_annotated_sheets", side_effect=AssertionError("lines annotated here"))
    with not_here:
        dask_run = run_keeping_history(
            tmp_path / "in", "2026-06", tmp_path / "dask", use_cache=False, lang="ja", engine=DaskEngine(dask_client)
        )
    expected, got = _all_files(pandas_run.output_folder), _all_files(dask_run.output_folder)
    assert got.keys() == expected.keys()
    parts = [name for name in got if name.startswith("claims_annotated.lines.parquet/part-")]
    assert len(parts) == -(-pandas_run.line_sums.lines // 7) > 1
    for name in expected.keys() - {"manifest.json"}:
        assert got[name] == expected[name], f"{name} differs between the engines"
    assert dask_run.parquet_sheets == pandas_run.parquet_sheets
    assert dask_run.lines is None  # only the lines' sums came to the run's process
    _assert_sums_alike(dask_run.line_sums, pandas_run.line_sums)
    kept = dask_run.history.lines
    assert set(kept.columns) == {*LINE_COLUMNS_HERE, LINE_KEY}
    assert len(kept) > 2 * 10  # several runs of lines on the workers


def _all_files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (a dataset's parts too) by its path there."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


class RecordingEngine(PandasEngine):
    """The pandas engine, noting which valuations each call asks for and with which stage."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[str, ...], str]] = []

    def valued_history(self, versions: Any, earlier: Any, book: Any) -> ValuedHistory:
        self.calls.append(("per claim", tuple(earlier), "line_payables"))
        return super().valued_history(versions, earlier, book)

    def lines_adjudicated(self, view: Any, book: Any, stage: Any = adjudicated_lines) -> Any:
        """``pipeline.engine.lines_adjudicated``, noting the view's month and the stage."""
        self.calls.append(("lines", (view.month,), stage.__name__))
        return lines_adjudicated(view, book, stage)


def test_a_run_adjudicates_every_column_only_as_at_its_month(tmp_path: Path) -> None:
    """What a run asks of its engine: every column of every line as at M (the annotated lines), only
    ``line_payables`` as at M−1 (the movements and the totals before) and, for every earlier month,
    the per-claim totals of the triangle (summed where the engine adjudicates), asked first so that
    the history is let go before the month's own lines are adjudicated."""
    generate_book(tmp_path / "in", policies=60, months=4)  # 2026-04 to 2026-07: two months before M−1
    engine = RecordingEngine()
    with mock.patch("pipeline.engine.lines_adjudicated", engine.lines_adjudicated):
        run_month(tmp_path / "in", "2026-07", tmp_path / "out", use_cache=False, engine=engine)
    ((kind, earlier, _), *latest) = engine.calls
    assert kind == "per claim" and list(earlier) == ["2026-04", "2026-05"]
    assert sorted(latest) == [("lines", ("2026-06",), "line_payables"), ("lines", ("2026-07",), "adjudicated_lines")]


def test_dask_engine_row_checks_on_the_workers_what_the_pandas_engine_row_checks_here(dask_client, tmp_path) -> None:
    """The read task (one input file read and each sheet row-checked) on the workers gives the same
    row-checked sheets, and so the same valid history, rejected rows (in order) and counts, as the
    pandas engine in this process, on a book whose rows fail parsing, row rules and cross-row rules."""
    from pipeline.io.read import read_file
    from pipeline.stages.validate import combined, validate_months

    found = _book_with_rejections(tmp_path)
    on_workers = dict(DaskEngine(dask_client, in_parts=False).checked_months(found, found.months, read_file, PRODUCTS))
    here = dict(PandasEngine().checked_months(found, found.months, read_file, PRODUCTS))
    _assert_same_sheets(on_workers, here)
    got = combined(validate_months(found.months, on_workers.items(), {}, PRODUCTS))
    expected = combined(validate_months(found.months, here.items(), {}, PRODUCTS))
    for table in ("policies", "claims", "lines"):
        pd.testing.assert_frame_equal(getattr(got.history, table), getattr(expected.history, table), obj=table)
    pd.testing.assert_frame_equal(got.rejected, expected.rejected)
    pd.testing.assert_frame_equal(got.counts, expected.counts)
    assert got.history.policies["policy_id"].tolist() == ["P1", "L1"]
    assert got.history.lines["line_id"].tolist() == ["X1"]
    cells = got.rejected[["month", "sheet", "row", "column"]].itertuples(index=False, name=None)
    assert list(cells) == [
        ("2026-04", "policies", 4, "revenue"),
        ("2026-04", "policies", 4, "plan"),
        ("2026-04", "claims", 3, "policy_id"),
        ("2026-04", "claims", 4, "event_type"),
        ("2026-04", "lines", 3, "claim_id"),
        ("2026-04", "lines", 4, "item"),
        ("2026-05", "policies", 2, "product"),
        ("2026-05", "policies", 3, "policy_id"),
        ("2026-05", "policies", 4, "policy_id"),
        ("2026-05", "claims", 2, "exclusion_code"),
        ("2026-05", "lines", 2, "amount"),
        ("2026-05", "lines", 3, "spent_date"),
    ]
    assert got.rejected["reason"].iloc[6] == (
        "product must be one of leak_lite, cyber_security; product differs from the version on file and its "
        "claims or lines on file do not fit the new product (send a new policy_id instead)"
    )
    assert got.counts["rows_rejected"].tolist() == [1, 2, 2, 3, 1, 2]


def test_a_run_uses_an_existing_cluster_by_its_address(dask_client, tmp_path: Path) -> None:
    address = dask_client.scheduler.address
    name = NAMES[0]
    result = run_month(GOLDEN / name / "input", case_month(name), tmp_path / "out", engine="dask", scheduler=address)
    compare(lines_of(result), name)
    manifest = json.loads((result.output_folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["engine"]["scheduler"] == address
    assert manifest["engine"]["workers"] == 2
    # on a cluster given by its address each month is validated in parts there
    assert manifest["engine"]["cross_row_validation"] == "in parts on the workers"


def test_a_run_limits_the_memory_of_its_own_clusters_workers(tmp_path: Path) -> None:
    """``worker_memory`` (``--worker-memory``): the LocalCluster the run starts has workers of that
    limit, which the manifest records; the figures are the same."""
    name = NAMES[0]
    result = run_month(
        GOLDEN / name / "input", case_month(name), tmp_path / "out", engine="dask", worker_memory="1.5GiB"
    )
    compare(lines_of(result), name)
    manifest = json.loads((result.output_folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["engine"]["scheduler"] == LOCAL
    assert manifest["engine"]["worker_memory_limit"] == 3 * 2**29
    assert "cross_row_validation" not in manifest["engine"]  # a run's own cluster: validated in its process


@pytest.mark.parametrize(("size", "limit"), [("6GiB", 6 * 2**30), ("6 GB", 6 * 10**9), ("300000000", 300_000_000)])
def test_a_worker_memory_limit_is_read_as_dask_reads_sizes(size: str, limit: int) -> None:
    from pipeline.engine.cluster import worker_memory_bytes

    assert worker_memory_bytes(size) == limit


@pytest.mark.parametrize("size", ["lots", "", "-1GiB", "255MiB"])
def test_a_worker_memory_limit_that_is_no_size_or_too_small_is_refused(size: str) -> None:
    from pipeline.engine.cluster import worker_memory_bytes

    with pytest.raises(ValueError, match=r"not a size|less than a worker needs"):
        worker_memory_bytes(size)


def test_a_worker_memory_limit_for_a_cluster_given_by_address_is_refused() -> None:
    """From Python as on the command line: the limit sizes the run's own LocalCluster only (refused
    before any connection is tried)."""
    with (
        pytest.raises(ValueError, match="not the cluster at tcp://"),
        open_engine("dask", "tcp://192.0.2.1:8786", "1GiB"),
    ):
        pass


def test_an_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown engine"), open_engine("spark"):
        pass


def test_a_market_book_read_lazily_from_parquet_parts_gives_the_pandas_engines_lines(dask_client, tmp_path) -> None:
    """The scale path (make bench-scale): Parquet folders of parts read lazily, parts keyed on the
    cluster (a join of lines to claims), shuffled, adjudicated: the pandas engine's values."""
    import dask
    import dask.dataframe as dd

    from pipeline.bench.scale import generate_book
    from pipeline.engine.partitioned import DASK_CONFIG, adjudicated_parts, with_parts

    folder = tmp_path / "book"
    generated = generate_book(folder, 2_500, PRODUCTS, chunk_lines=1_000)
    assert generated["rows"]["lines"] == 2_500
    assert len(list((folder / "lines").glob("part-*.parquet"))) == 3
    read = {name: pd.read_parquet(folder / name) for name in ("policies", "claims", "lines")}
    assert read["lines"]["line_id"].is_unique and read["claims"]["claim_id"].is_unique
    with dask.config.set(DASK_CONFIG):
        lazy = [dd.read_parquet(folder / name) for name in ("lines", "claims", "policies")]
        keyed = with_parts(lazy[0], lazy[1], lazy[2], parts=5)
        got = adjudicated_parts(keyed[0], keyed[1], keyed[2], PRODUCTS, 5).compute()
    expected = adjudicated_lines(read["lines"], read["claims"], read["policies"], PRODUCTS)
    got = got.drop(columns=[PART]).set_index("line_id").sort_index()
    pd.testing.assert_frame_equal(got[expected.columns.drop("line_id")], expected.set_index("line_id").sort_index())


def test_the_command_line_runs_on_a_cluster_given_by_address(dask_client, tmp_path) -> None:
    from pipeline.engine.partitioned import VALIDATE_IN_PARTS_VARIABLE
    from tests.commands import cli

    name = NAMES[0]
    address = dask_client.scheduler.address
    args = ["run", "--input", GOLDEN / name / "input", "--month", case_month(name), "--output", tmp_path / "out"]
    done = cli(*args, "--engine", "dask", "--scheduler", address)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "distributed" not in done.stderr
    manifest = json.loads((tmp_path / "out" / case_month(name) / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["engine"]["name"] == "dask" and manifest["engine"]["scheduler"] == address
    assert manifest["engine"]["cross_row_validation"] == "in parts on the workers"
    whole = cli(*args, "--engine", "dask", "--scheduler", address, environment={VALIDATE_IN_PARTS_VARIABLE: "0"})
    assert whole.returncode == 0, whole.stderr
    manifest = json.loads((tmp_path / "out" / case_month(name) / "manifest.json").read_text(encoding="utf-8"))
    assert "cross_row_validation" not in manifest["engine"]  # asked to validate in the run's process
    refused = cli(*args, "--scheduler", address)
    assert refused.returncode == 2 and "--scheduler needs --engine dask" in refused.stderr


def test_a_file_that_cannot_be_read_on_a_worker_stops_the_run_with_the_same_line(dask_client, tmp_path) -> None:
    write_bordereau(tmp_path / "in", "2026-04", policies=[WIDE], claims=[CLAIM], lines=[LINE])
    (tmp_path / "in" / "2026-04" / "claims.xlsx").write_bytes(b"PK not a workbook")
    messages = []
    for engine in ("pandas", DaskEngine(dask_client)):
        with pytest.raises(FatalInputError) as raised:
            run_month(tmp_path / "in", "2026-04", tmp_path / "out", use_cache=False, engine=engine)
        messages.append(str(raised.value))
    assert messages[0] == messages[1] and messages[0].startswith("2026-04/claims.xlsx: ")


def _book_with_rejections(tmp_path: Path) -> BordereauFiles:
    """Two months whose rows fail parsing, row rules and cross-row rules."""
    write_bordereau(
        tmp_path,
        "2026-04",
        policies=[WIDE, LITE, {**WIDE, "policy_id": "P2", "plan": "gold", "revenue": "3億"}],
        claims=[CLAIM, {**CLAIM, "claim_id": "C2", "policy_id": "P2"}, {**CLAIM, "claim_id": "C3", "event_type": "x"}],
        lines=[LINE, {**LINE, "line_id": "X2", "claim_id": "C2"}, {**LINE, "line_id": "X3", "item": "bribe"}],
    )
    write_bordereau(
        tmp_path,
        "2026-05",
        policies=[{**WIDE, "product": "bogus"}, {**LITE, "policy_id": "L2"}, {**LITE, "policy_id": "L2"}],
        claims=[{**CLAIM, "claim_id": "C4", "policy_id": "L1", "exclusion_code": "war"}],
        lines=[{**LINE, "line_id": "X4", "amount": "1.5"}, {**LINE, "line_id": "X5", "spent_date": "2026-06-01"}],
    )
    return find_bordereaux(tmp_path, "2026-05")


def _assert_same_sheets(got: dict[str, list[RowChecked]], expected: dict[str, list[RowChecked]]) -> None:
    assert list(got) == list(expected) == ["2026-04", "2026-05"]
    for month, sheets in expected.items():
        assert [sheet.raw.sheet for sheet in got[month]] == [sheet.raw.sheet for sheet in sheets]
        for one, other in zip(got[month], sheets, strict=True):
            pd.testing.assert_frame_equal(one.frame, other.frame)
            pd.testing.assert_frame_equal(one.parse_failures, other.parse_failures)
            pd.testing.assert_frame_equal(one.row_failures, other.row_failures)
            pd.testing.assert_frame_equal(one.raw.frame, other.raw.frame)


def test_forked_reading_row_checks_what_this_process_row_checks(tmp_path, monkeypatch) -> None:
    """Read in forked processes (a large book's files, or PIPELINE_READ_PROCESSES), each file gives
    the same row-checked sheets, in the same order, as read one after the other in this process."""
    from pipeline.io.read import read_file

    found = _book_with_rejections(tmp_path)
    monkeypatch.setenv(READ_PROCESSES_VARIABLE, "1")
    here = dict(PandasEngine().checked_months(found, found.months, read_file, PRODUCTS))
    monkeypatch.setenv(READ_PROCESSES_VARIABLE, "2")
    forked = dict(PandasEngine().checked_months(found, found.months, read_file, PRODUCTS))
    _assert_same_sheets(forked, here)


def test_a_month_comes_to_validation_while_later_months_are_still_read(tmp_path, monkeypatch) -> None:
    """The pandas engine hands over each month as soon as its files are read and row-checked, in
    month order, while the later months are read in the forked processes: here the second month's
    files wait until the first month has been handed over (were the months handed over all at the
    end, they would time out), and the months validated as they come give what the months read
    first and validated after give."""
    import time

    from pipeline.io.read import read_file
    from pipeline.stages.validate import combined, validate_months

    found = _book_with_rejections(tmp_path)
    first_handed_over = tmp_path / "first month handed over"

    def read_after_the_first_month(source):
        deadline = time.monotonic() + 30
        while source.month != "2026-04" and not first_handed_over.exists():
            if time.monotonic() > deadline:
                raise AssertionError("the first month was not handed over before the second was read")
            time.sleep(0.01)
        return read_file(source)

    monkeypatch.setenv(READ_PROCESSES_VARIABLE, "2")
    arriving = PandasEngine().checked_months(found, found.months, read_after_the_first_month, PRODUCTS)

    def handed_over():
        for month, sheets in arriving:
            first_handed_over.touch()
            yield month, sheets

    as_they_come = combined(validate_months(found.months, handed_over(), {}, PRODUCTS))
    read_first = dict(PandasEngine().checked_months(found, found.months, read_file, PRODUCTS))
    expected = combined(validate_months(found.months, read_first.items(), {}, PRODUCTS))
    for table in ("policies", "claims", "lines"):
        pd.testing.assert_frame_equal(getattr(as_they_come.history, table), getattr(expected.history, table))
    pd.testing.assert_frame_equal(as_they_come.rejected, expected.rejected)
    pd.testing.assert_frame_equal(as_they_come.counts, expected.counts)


def test_months_as_read_gives_every_month_in_order_with_its_sheets() -> None:
    """A month with no file comes with no sheet, in its place (the parts of a folder sheet coming
    as one sheet: test_a_folder_sheet_is_row_checked_part_by_part_as_it_is_whole)."""
    from pipeline.engine import ReadTask, months_as_read
    from pipeline.io.find import SourceFile

    def source(month: str, file: str) -> SourceFile:
        return SourceFile(month, f"{month}/{file}", Path(file), (), "")

    def sheet(name: str) -> RowChecked:
        return RowChecked(raw=None, frame=pd.DataFrame({"name": [name]}), parse_failures=None, row_failures=None)  # type: ignore[arg-type]

    tasks = [ReadTask(source("2026-04", "policies.xlsx")), ReadTask(source("2026-06", "claims.xlsx"))]
    results = [[sheet("policies 04")], [sheet("claims 06")]]
    got = [
        (month, [checked.frame["name"].iloc[0] for checked in sheets])
        for month, sheets in months_as_read(["2026-04", "2026-05", "2026-06", "2026-07"], tasks, results)
    ]
    assert got == [("2026-04", ["policies 04"]), ("2026-05", []), ("2026-06", ["claims 06"]), ("2026-07", [])]


def test_the_files_are_read_in_forked_processes_only_when_the_book_is_large(tmp_path, monkeypatch) -> None:
    from pipeline.engine import read_tasks
    from pipeline.io.read import read_file

    found = _book_with_rejections(tmp_path)
    tasks = read_tasks(found.files, read_file)
    monkeypatch.delenv(READ_PROCESSES_VARIABLE, raising=False)
    assert read_processes(tasks) == 1  # a few kilobytes: this process
    monkeypatch.setattr("pipeline.engine.PARALLEL_READ_BYTES", 1)
    assert read_processes(tasks) == cores()
    monkeypatch.setenv(READ_PROCESSES_VARIABLE, "3")
    assert read_processes(tasks) == 3
    monkeypatch.setenv(READ_PROCESSES_VARIABLE, "0")
    with pytest.raises(FatalInputError, match=READ_PROCESSES_VARIABLE):
        read_processes(tasks)


def test_a_file_that_cannot_be_read_in_a_forked_process_stops_the_run_with_the_same_line(tmp_path, monkeypatch):
    """Two files fail: the first in file order is named, as when they are read one after the other."""
    write_bordereau(tmp_path / "in", "2026-04", policies=[WIDE], claims=[CLAIM], lines=[LINE])
    write_bordereau(tmp_path / "in", "2026-05", policies=[WIDE], claims=[CLAIM], lines=[LINE])
    (tmp_path / "in" / "2026-04" / "claims.xlsx").write_bytes(b"PK not a workbook")
    (tmp_path / "in" / "2026-05" / "policies.xlsx").write_bytes(b"PK not a workbook either, and longer" * 100)
    messages = []
    for processes in ("1", "2"):
        monkeypatch.setenv(READ_PROCESSES_VARIABLE, processes)
        with pytest.raises(FatalInputError) as raised:
            run_month(tmp_path / "in", "2026-05", tmp_path / "out", use_cache=False)
        messages.append(str(raised.value))
    assert messages[0] == messages[1] and messages[0].startswith("2026-04/claims.xlsx: ")


def _folder_book(root: Path) -> BordereauFiles:
    """A month whose lines are a folder of three Parquet parts that differ as real parts do: whole
    yen as integers in two parts and as floats in one, a carried column (``memo``) of numbers in one
    part, all empty in another (Parquet's null type) and missing from the third, an unnamed column
    empty everywhere and one with a value in one part only, an empty row, and rows failing parsing,
    row rules and cross-row rules (an id twice across parts, an unknown claim)."""
    from tests.workbooks import write_parquet_bordereau

    write_parquet_bordereau(root, "2026-04", policies=[WIDE, LITE], claims=[CLAIM, {**CLAIM, "claim_id": "C2"}])
    folder = root / "2026-04" / "lines"
    folder.mkdir()
    base = {key: [value] * 3 for key, value in LINE.items()}
    parts = [
        {
            **base,
            "line_id": ["X1", None, "X2"],
            "claim_id": ["C1", None, "C1"],
            "item": ["damages", None, "damages"],
            "amount": [1_000_000, None, 2_000],
            "spent_date": ["2026-04-20", None, "2026-04-20"],
            "memo": [1, None, 2],
        },
        {
            **base,
            "line_id": ["X3", "X2", "X4"],
            "amount": [10_000.0, 5_000.0, 1.5],
            "memo": pa.nulls(3),
            "": [None, "kept", None],
        },
        {
            **base,
            "line_id": ["X5", "X6", "X7"],
            "claim_id": ["C2", "C9", "C1"],
            "amount": [3_000, 4_000, 5_000],
            "spent_date": ["2026-04-21", "x", None],
        },
    ]
    for number, columns in enumerate(parts):
        pq.write_table(pa.table({**columns, " ": pa.nulls(3, pa.string())}), folder / f"part-{number:05d}.parquet")
    return find_bordereaux(root, "2026-04")


def test_a_folder_sheet_is_row_checked_part_by_part_as_it_is_whole(tmp_path, monkeypatch) -> None:
    """Each Parquet part of a folder sheet is read and row-checked in a task of its own; put back
    together they are the sheet read and row-checked whole: the same cells, Excel rows, parsed and
    carried columns, failures, and so the same valid rows, rejected rows and counts."""
    from pipeline.engine import checked_sheets, read_tasks
    from pipeline.io.read import read_file
    from pipeline.stages.validate import combined, validate_months

    found = _folder_book(tmp_path)
    tasks = read_tasks(found.files, read_file)
    assert [(task.source.file, task.part and (task.part.path.name, task.part.first_row)) for task in tasks] == [
        ("2026-04/policies.parquet", None),
        ("2026-04/claims.parquet", None),
        ("2026-04/lines/", ("part-00000.parquet", 2)),
        ("2026-04/lines/", ("part-00001.parquet", 5)),
        ("2026-04/lines/", ("part-00002.parquet", 8)),
    ]
    whole = {"2026-04": [sheet for source in found.files for sheet in checked_sheets(source, read_file, PRODUCTS)]}
    for processes in ("1", "2"):
        monkeypatch.setenv(READ_PROCESSES_VARIABLE, processes)
        by_parts = dict(PandasEngine().checked_months(found, found.months, read_file, PRODUCTS))
        lines, expected = by_parts["2026-04"][2], whole["2026-04"][2]
        got_outcome = combined(validate_months(found.months, by_parts.items(), {}, PRODUCTS))
        # parts sent by the forked readers are put together packed, and validation unpacks only
        # the rows it rejects (pipeline.cell_columns)
        assert isinstance(lines.raw.cells, PackedFrame) == (processes == "2")
        assert processes == "1" or "frame" not in vars(lines.raw)
        pd.testing.assert_frame_equal(lines.raw.frame, expected.raw.frame)
        assert lines.raw.extra_columns == expected.raw.extra_columns == ("memo", "(column H)")
        pd.testing.assert_frame_equal(lines.frame, expected.frame)
        for failures in ("parse_failures", "row_failures"):
            got, want = (getattr(sheet, failures).sort_values(["index", "column"]) for sheet in (lines, expected))
            pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True), obj=failures)
        want_outcome = combined(validate_months(found.months, whole.items(), {}, PRODUCTS))
        pd.testing.assert_frame_equal(got_outcome.history.lines, want_outcome.history.lines)
        pd.testing.assert_frame_equal(got_outcome.rejected, want_outcome.rejected)
        pd.testing.assert_frame_equal(got_outcome.counts, want_outcome.counts)
    rejected = got_outcome.rejected[got_outcome.rejected["sheet"] == "lines"]
    assert rejected[["row", "column"]].values.tolist() == [
        [4, "line_id"],
        [6, "line_id"],
        [7, "amount"],
        [9, "claim_id"],
        [9, "spent_date"],
        [10, "spent_date"],
    ]
    assert got_outcome.history.lines["line_id"].tolist() == ["X1", "X3", "X5"]
    assert got_outcome.history.lines["memo"].tolist() == [1, pd.NA, pd.NA]


def test_parts_whose_columns_cannot_be_one_column_stop_the_run_with_the_same_line(tmp_path) -> None:
    """Whole yen as integers in one part and as text in another cannot be one Parquet column: read
    part by part, the run stops with the line it gives when the folder is read whole."""
    from pipeline.engine import checked_sheets
    from pipeline.io.read import read_file

    found = _folder_book(tmp_path)
    part = tmp_path / "2026-04" / "lines" / "part-00002.parquet"
    pq.write_table(pq.read_table(part).set_column(3, "amount", pa.array(["3,000", "4,000", "5,000"])), part)
    messages = []
    for read in (
        lambda: [checked_sheets(source, read_file, PRODUCTS) for source in found.files],
        lambda: dict(PandasEngine().checked_months(found, found.months, read_file, PRODUCTS)),
    ):
        with pytest.raises(FatalInputError) as raised:
            read()
        messages.append(str(raised.value))
    assert messages[0] == messages[1] == "2026-04/lines/: cannot be read as a Parquet file (ArrowTypeError)"


def test_dask_engine_row_checks_a_folder_sheet_part_by_part_on_the_workers(dask_client, tmp_path) -> None:
    from pipeline.io.read import read_file

    found = _folder_book(tmp_path)
    on_workers = dict(DaskEngine(dask_client, in_parts=False).checked_months(found, found.months, read_file, PRODUCTS))
    here = dict(PandasEngine().checked_months(found, found.months, read_file, PRODUCTS))
    assert list(on_workers) == list(here) == ["2026-04"]
    for on_worker, in_process in zip(on_workers["2026-04"], here["2026-04"], strict=True):
        pd.testing.assert_frame_equal(on_worker.raw.frame, in_process.raw.frame)
        pd.testing.assert_frame_equal(on_worker.frame, in_process.frame)
        pd.testing.assert_frame_equal(on_worker.parse_failures, in_process.parse_failures)
        pd.testing.assert_frame_equal(on_worker.row_failures, in_process.row_failures)


@pytest.mark.parametrize(("engine", "processes"), [("pandas", "1"), ("pandas", "2"), ("dask", "2")])
def test_a_run_lets_each_months_sheets_go_once_validated(engine: str, processes: str, tmp_path, monkeypatch, request):
    """The sheets as read and row-checked (every cell of a large book, as Python values) are let go
    once their month is validated: none is alive when the run makes its views of the book (it failed
    while the run kept the read tasks' results, in the pandas engine's futures or its list of
    results read here, to the end of the run). Nor are the months' validated rows once the history,
    a copy of them, is made (it failed while the run kept the months to the end of the triangle)."""
    import pipeline.run as run

    _book_with_rejections(tmp_path / "in")
    monkeypatch.setenv(READ_PROCESSES_VARIABLE, processes)
    given: list[weakref.ref[pd.DataFrame]] = []
    validated: list[weakref.ref[pd.DataFrame]] = []

    engine_class = DaskEngine if engine == "dask" else PandasEngine
    validated_month = engine_class.validated_month

    def watched(self, month, sheets, known, book):
        sheets = list(sheets)
        given.extend(weakref.ref(frame) for sheet in sheets for frame in (sheet.raw.frame, sheet.frame))
        result = validated_month(self, month, sheets, known, book)
        outcome = result[0]
        validated.extend(weakref.ref(frame) for frame in (outcome.policies, outcome.claims, outcome.lines))
        return result

    def after_validation(history):
        gc.collect()
        alive = [ref for ref in given if ref() is not None]
        assert given and not alive, f"{len(alive)} of {len(given)} sheets still alive after validation"
        kept = [ref for ref in validated if ref() is not None]
        assert validated and not kept, f"{len(kept)} of {len(validated)} months' rows alive beside the history"
        return versions_of(history)

    versions_of = run.versions_of
    monkeypatch.setattr(engine_class, "validated_month", watched)
    monkeypatch.setattr(run, "versions_of", after_validation)
    runs = DaskEngine(request.getfixturevalue("dask_client")) if engine == "dask" else engine
    result = run_month(tmp_path / "in", "2026-05", tmp_path / "out", use_cache=False, engine=runs)
    assert len(result.rejected) > 0 and len(given) == 12  # two months of three sheets, raw and parsed


@pytest.mark.parametrize("cached", [False, True], ids=["read", "from the parse cache"])
def test_a_run_lets_the_validated_history_go_before_the_annotated_workbooks_start(cached: bool, tmp_path, monkeypatch):
    """The validated history (every valid version of every row, all months) and the months' outcomes
    the parse cache gave are let go once the triangle has read them: none is alive when the annotated
    workbooks are built, so the writers forked to write them do not share it (it failed while the
    run kept them to its end)."""
    import pipeline.run as run
    from pipeline.io.cache import ParseCache

    _book_with_rejections(tmp_path / "in")
    if cached:
        run_month(tmp_path / "in", "2026-05", tmp_path / "out")  # the second run's months come from the cache
    held: list[weakref.ref[pd.DataFrame]] = []

    def watched(history):
        held.extend(weakref.ref(frame) for frame in (history.policies, history.claims, history.lines))
        return versions_of(history)

    def loaded(cache):
        outcomes = load_all(cache)
        held.extend(weakref.ref(o) for month in outcomes.values() for o in (month.policies, month.claims, month.lines))
        return outcomes

    def when_annotated(*arguments):
        gc.collect()
        alive = [ref for ref in held if ref() is not None]
        assert held and not alive, f"{len(alive)} of {len(held)} frames of the history still alive"
        return policies_annotated_sheets(*arguments)

    versions_of, load_all = run.versions_of, ParseCache.load_all
    policies_annotated_sheets = run.policies_annotated_sheets
    monkeypatch.setattr(run, "versions_of", watched)
    monkeypatch.setattr(ParseCache, "load_all", loaded)
    monkeypatch.setattr(run, "policies_annotated_sheets", when_annotated)
    result = run_month(tmp_path / "in", "2026-05", tmp_path / "out")
    assert len(held) == (9 if cached else 3) and result.cached_months == (["2026-04", "2026-05"] if cached else [])
    assert len(result.rejected) > 0


@pytest.mark.parametrize("engine", ["pandas", "dask"])
def test_a_run_makes_its_views_once_the_history_is_handed_to_the_engine(engine: str, tmp_path, monkeypatch, request):
    """The Dask engine splits the history and sends it to its workers when it is handed the history
    (``valued_history``): the run's views as at M and M−1 (at 5M lines more than 1 GB of policies and
    claims) are made after that, not held beside it (it failed while the run made them first). The
    pandas engine is handed it first too and does nothing with it yet: its triangle runs after the
    views, as before."""
    _book_with_rejections(tmp_path / "in")
    events: list[str] = []
    engine_class = DaskEngine if engine == "dask" else PandasEngine
    valued_history, as_at = engine_class.valued_history, Versions.as_at

    def handed(self, versions, earlier, book):
        events.append("history handed")
        valued = valued_history(self, versions, earlier, book)

        def taken():
            events.append("triangle")
            yield from valued.earlier

        return replace(valued, earlier=taken())

    def view(self, month, line_columns=None):
        events.append(f"view as at {month}")
        return as_at(self, month, line_columns)

    monkeypatch.setattr(engine_class, "valued_history", handed)
    monkeypatch.setattr(Versions, "as_at", view)
    runs = DaskEngine(request.getfixturevalue("dask_client")) if engine == "dask" else engine
    run_month(tmp_path / "in", "2026-05", tmp_path / "out", use_cache=False, engine=runs)
    assert events[:4] == ["history handed", "view as at 2026-05", "view as at 2026-04", "triangle"]


def test_the_dask_engine_keeps_at_most_ahead_read_tasks_submitted_and_not_taken() -> None:
    """The Dask engine submits the read tasks as the run takes their results (a worker holds each
    result until it is taken): never more than ``ahead`` submitted and not taken, all in order."""
    from concurrent.futures import Future

    from pipeline.engine.partitioned import _taken_in_order

    submitted: list[int] = []

    def submit(task: int) -> Any:
        submitted.append(task)
        future: Future[int] = Future()
        future.set_result(task * 10)
        return future

    taken: list[int] = []
    for result in _taken_in_order(submit, Future.result, list(range(7)), ahead=3):
        taken.append(result)
        assert len(submitted) - len(taken) <= 3
    assert taken == [task * 10 for task in range(7)] and submitted == list(range(7))


class MappingClient:
    """A dask client that records the function and the number of tasks of each ``map``."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.maps: list[tuple[str, int]] = []

    def map(self, function: Any, *iterables: Any, **kwargs: Any) -> Any:
        futures = self.client.map(function, *iterables, **kwargs)
        self.maps.append((function.__name__, len(futures)))
        return futures

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def test_the_dask_engine_validates_each_month_across_rows_in_parts_on_the_workers(dask_client) -> None:
    """The Dask engine's cross-row validation: each month one task per part on the workers (as many
    parts as a valuation of its rows), the outcome and what it makes known those of
    ``validate_month`` on the whole month, on months whose ids join policies in every way."""
    from pipeline.stages.validate import nothing_known, validate_month
    from tests.unit.test_validation_parts import assert_same_outcome, tangled_months

    mapping = MappingClient(dask_client)
    engine = DaskEngine(mapping, in_parts=True)  # type: ignore[arg-type]
    known = nothing_known()
    for month, sheets in tangled_months().items():
        got, got_known = engine.validated_month(month, sheets, known, PRODUCTS)
        expected, known = validate_month(month, sheets, known, PRODUCTS)
        assert_same_outcome(got, expected, month)
        for table in ("policies", "claims", "lines"):
            pd.testing.assert_frame_equal(getattr(got_known, table), getattr(known, table), obj=f"{month} {table}")
        assert got_known.rejected_policies == known.rejected_policies
        assert got_known.rejected_claims == known.rejected_claims
    assert mapping.maps == []  # the parts' tasks submitted one by one
    mapping = MappingClient(dask_client)
    here = DaskEngine(mapping, in_parts=False)  # type: ignore[arg-type]
    for month, sheets in tangled_months().items():
        assert_same_outcome(
            here.validated_month(month, sheets, nothing_known(), PRODUCTS)[0],
            validate_month(month, sheets, nothing_known(), PRODUCTS)[0],
            month,
        )
    assert mapping.maps == []  # validated in this process


def test_the_dask_engine_validates_in_parts_on_a_given_cluster_or_when_asked(monkeypatch) -> None:
    """``PIPELINE_VALIDATE_IN_PARTS`` decides when set; unset, in parts on a cluster given by its
    address and in the run's process on the LocalCluster a run starts itself."""
    from pipeline.engine.partitioned import VALIDATE_IN_PARTS_VARIABLE, validates_in_parts
    from pipeline.errors import FatalInputError

    for on_a_given_cluster in (False, True):
        for value, expected in (("", on_a_given_cluster), ("0", False), ("1", True), (" 1 ", True), (" 0", False)):
            monkeypatch.setenv(VALIDATE_IN_PARTS_VARIABLE, value)
            assert validates_in_parts(on_a_given_cluster) is expected
        monkeypatch.delenv(VALIDATE_IN_PARTS_VARIABLE)
        assert validates_in_parts(on_a_given_cluster) is on_a_given_cluster
    assert validates_in_parts() is False
    monkeypatch.setenv(VALIDATE_IN_PARTS_VARIABLE, "yes")
    with pytest.raises(FatalInputError, match="expected 0 or 1"):
        validates_in_parts()


def _keys(client: Any) -> set[str]:
    """The keys of every task the scheduler holds (the shared cluster's, other tests' included)."""
    return set(client.run_on_scheduler(lambda dask_scheduler: [str(key) for key in dask_scheduler.tasks]))


def _tasks_left(client: Any, before: set[str]) -> set[str]:
    """The keys on the scheduler that were not there ``before``, once it has had time to release them."""
    for _ in range(50):
        left = _keys(client) - before
        if not left:
            break
        time.sleep(0.1)
    return left


@pytest.mark.parametrize("book", ["rejections", "folder"])
def test_sheets_left_on_the_workers_are_validated_in_parts_as_here(book: str, dask_client, tmp_path) -> None:
    """With ``in_parts`` the read tasks' sheets stay on the workers: the run's process gets only their
    id columns and row labels (no cell), each part's task takes its rows from them (a folder sheet's
    Parquet parts put together on the workers), and the history, rejected rows and counts are those
    of the pandas engine, on a book whose rows fail parsing, row and cross-row rules, and on a folder
    sheet whose parts differ. Once validated, nothing of the months is left on the cluster."""
    from pipeline.io.read import read_file
    from pipeline.stages.validate import combined, validate_months

    found = (_book_with_rejections if book == "rejections" else _folder_book)(tmp_path)
    engine = DaskEngine(dask_client, in_parts=True)
    before = _keys(dask_client)
    months = list(engine.checked_months(found, found.months, read_file, PRODUCTS))
    assert all(sheet.raw.frame.columns.empty and sheet.raw.rows_read for _, sheets in months for sheet in sheets)
    got = combined(validate_months(found.months, months, {}, PRODUCTS, engine.validated_month))
    del months
    gc.collect()
    assert _tasks_left(dask_client, before) == set()
    here = PandasEngine()
    expected = combined(
        validate_months(found.months, here.checked_months(found, found.months, read_file, PRODUCTS), {}, PRODUCTS)
    )
    for table in ("policies", "claims", "lines"):
        pd.testing.assert_frame_equal(getattr(got.history, table), getattr(expected.history, table), obj=table)
    pd.testing.assert_frame_equal(got.rejected, expected.rejected)
    pd.testing.assert_frame_equal(got.counts, expected.counts)
    assert len(got.rejected) and len(got.history.lines)


def test_a_run_whose_dask_workers_are_lost_stops_with_one_line(tmp_path: Path) -> None:
    """The same inside a run (``--engine dask``, its own LocalCluster): the workers killed once the
    history is on them, the run's error is the one line, not ``FutureCancelledError``, and nothing
    is left of its outputs."""
    import os
    import signal

    valued_history = DaskEngine.valued_history

    def killed_once_sent(engine: DaskEngine, *args: Any) -> ValuedHistory:
        valued = valued_history(engine, *args)
        for pid in engine.client.run(os.getpid).values():
            os.kill(pid, signal.SIGKILL)
        return valued

    generate_book(tmp_path / "in", policies=60, months=3)
    with mock.patch.object(DaskEngine, "valued_history", killed_once_sent), pytest.raises(FatalInputError) as raised:
        run_month(tmp_path / "in", "2026-06", tmp_path / "out", use_cache=False, engine="dask")
    assert str(raised.value).startswith("LocalCluster: a dask worker was lost") and "\n" not in str(raised.value)
    assert not list((tmp_path / "out").glob("2026-06*")) and not list((tmp_path / "out").glob(".tmp-*"))


def test_a_worker_lost_while_it_holds_the_history_stops_the_run_with_one_line() -> None:
    """The history's parts live only on the worker they were scattered to: the workers killed while
    the run holds them stop the run with one line that names the cluster and says what to do (the
    command line's ``error:`` line, exit 2), not dask's ``FutureCancelledError`` as an internal error."""
    import os
    import signal

    from pipeline.engine.cluster import dask_client

    versions = _small_versions()
    current = versions.as_at("2026-05")
    with pytest.raises(FatalInputError, match="a dask worker was lost") as raised, dask_client() as client:
        valued = DaskEngine(client).valued_history(versions, [], PRODUCTS)
        for pid in client.run(os.getpid).values():
            os.kill(pid, signal.SIGKILL)
        valued.movements(current, None)
    assert str(raised.value).startswith("LocalCluster: ") and "\n" not in str(raised.value)
    assert "more memory" in str(raised.value)
