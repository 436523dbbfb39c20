"""The Dask engine (pipeline/engine/) gives what the pandas engine gives: the same adjudicated lines
(rows, order, index, columns, dtypes and values) on hypothesis-generated books, the same lines on every
golden case (to the yen), and byte-identical workbooks on the sample book. One LocalCluster (2 workers,
1 thread each) is shared by every test here (tests/conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

from pipeline.engine import PandasEngine, open_engine
from pipeline.engine.partitioned import LOCAL, DaskEngine, part_count, policy_part
from pipeline.run import run_month
from pipeline.stages.claims import lines_with_movements
from pipeline.stages.waterfall import adjudicated_lines
from tests import factories
from tests.commands import ROOT
from tests.golden.make_cases import CASES, GOLDEN
from tests.golden.test_golden import NAMES, _previous, _rows_as_at, case_month, compare
from tests.property.strategies import PRODUCTS, Book, books

SAMPLE = ROOT / "sample_data"
RESULT_FRAMES = ["policies", "claims", "lines", "rejected", "reinsurance_policies", "reinsurance_claims"]
VARYING = {"created", "timings", "cache", "engine"}


def test_a_policys_part_is_the_same_in_every_frame_and_in_range() -> None:
    ids = pd.Series(["P1", "P2", "P3", "P1", "ポリシー"] * 20)
    parts = policy_part(ids, 7)
    assert parts.between(0, 6).all()
    assert (parts.groupby(ids).nunique() == 1).all()
    assert parts.nunique() > 1
    assert policy_part(ids.astype(object), 7).equals(parts)
    assert part_count(0, 2) == 4 and part_count(10_000_000, 2) == 40


@settings(max_examples=8, derandomize=True, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(book=books(max_portfolios=10))
def test_dask_engine_equals_pandas_engine_on_generated_books(book: Book, dask_client) -> None:
    lines, claims, policies = book.frames()
    lines = lines.set_axis(np.arange(len(lines))[::-1] * 3)  # an index that is not 0..n−1 survives too
    valuations = {"2026-08": (lines, claims, policies), "2026-07": (lines.iloc[::2], claims, policies)}
    got = DaskEngine(dask_client).adjudicated_by_valuation(valuations, PRODUCTS)
    expected = PandasEngine().adjudicated_by_valuation(valuations, PRODUCTS)
    assert list(got) == list(expected)
    for month in expected:
        pd.testing.assert_frame_equal(got[month], expected[month], obj=month)
        pd.testing.assert_frame_equal(expected[month], adjudicated_lines(*valuations[month], PRODUCTS))


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


def test_dask_engine_equals_pandas_engine_on_every_golden_case(dask_client) -> None:
    valuations = _golden_valuations()
    got = DaskEngine(dask_client).adjudicated_by_valuation(valuations, PRODUCTS)  # one graph for all cases
    expected = PandasEngine().adjudicated_by_valuation(valuations, PRODUCTS)
    for key in expected:
        pd.testing.assert_frame_equal(got[key], expected[key], obj=key)
    for name in NAMES:
        month = CASES[name].month
        compare(lines_with_movements(got[f"{name}/{month}"], got.get(f"{name}/{_previous(month)}")), name)


def _outputs(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.mark.slow
def test_dask_engine_writes_the_same_workbooks_as_pandas_on_the_sample(dask_client, tmp_path: Path) -> None:
    pandas_run = run_month(SAMPLE, "2027-03", tmp_path / "pandas", use_cache=False)
    dask_run = run_month(SAMPLE, "2027-03", tmp_path / "dask", use_cache=False, engine=DaskEngine(dask_client))
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
        "scheduler": LOCAL,
    }
    constant = [{key: value for key, value in manifest.items() if key not in VARYING} for manifest in manifests]
    assert constant[0] == constant[1]


def test_a_run_uses_an_existing_cluster_by_its_address(dask_client, tmp_path: Path) -> None:
    address = dask_client.scheduler.address
    name = NAMES[0]
    result = run_month(GOLDEN / name / "input", case_month(name), tmp_path / "out", engine="dask", scheduler=address)
    compare(result.lines, name)
    manifest = json.loads((result.output_folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["engine"]["scheduler"] == address
    assert manifest["engine"]["workers"] == 2


def test_an_unknown_engine_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown engine"), open_engine("spark"):
        pass


def test_a_market_book_read_lazily_from_parquet_parts_gives_the_pandas_engines_lines(dask_client, tmp_path) -> None:
    """The scale path (make bench-scale): Parquet folders of parts read lazily, parts keyed on the
    cluster (a join of lines to claims), shuffled, adjudicated: the pandas engine's values."""
    import dask
    import dask.dataframe as dd

    from pipeline.bench.scale import generate_book
    from pipeline.engine.partitioned import DASK_CONFIG, PART, adjudicated_parts, with_parts

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
    from tests.commands import cli

    name = NAMES[0]
    address = dask_client.scheduler.address
    args = ["run", "--input", GOLDEN / name / "input", "--month", case_month(name), "--output", tmp_path / "out"]
    done = cli(*args, "--engine", "dask", "--scheduler", address)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "distributed" not in done.stderr
    manifest = json.loads((tmp_path / "out" / case_month(name) / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["engine"]["name"] == "dask" and manifest["engine"]["scheduler"] == address
    refused = cli(*args, "--scheduler", address)
    assert refused.returncode == 2 and "--scheduler needs --engine dask" in refused.stderr


def test_a_file_that_cannot_be_read_on_a_worker_stops_the_run_with_the_same_line(dask_client, tmp_path) -> None:
    from pipeline.errors import FatalInputError
    from tests.unit.test_validate import CLAIM, LINE, WIDE
    from tests.workbooks import write_bordereau

    write_bordereau(tmp_path / "in", "2026-04", policies=[WIDE], claims=[CLAIM], lines=[LINE])
    (tmp_path / "in" / "2026-04" / "claims.xlsx").write_bytes(b"PK not a workbook")
    messages = []
    for engine in ("pandas", DaskEngine(dask_client)):
        with pytest.raises(FatalInputError) as raised:
            run_month(tmp_path / "in", "2026-04", tmp_path / "out", use_cache=False, engine=engine)
        messages.append(str(raised.value))
    assert messages[0] == messages[1] and messages[0].startswith("2026-04/claims.xlsx: ")
