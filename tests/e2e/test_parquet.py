"""Parquet beyond Excel's limits (README § Cache and Parquet): a month may give its sheets as
``policies.parquet``, ``claims.parquet`` and ``lines.parquet``, validated through the same path as
the workbooks (a row's "Excel row" is its Parquet row number + 2); an output sheet with more rows than
an Excel sheet holds is written to ``<workbook>.<sheet>.parquet`` and the workbook says so."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from python_calamine import CalamineWorkbook

from pipeline.arrow_text import labels_as_text, take_labels
from pipeline.errors import FatalInputError
from pipeline.io.outputs import (
    MAX_SHEET_ROWS_VARIABLE,
    PARQUET_PART_ROWS,
    PARQUET_PART_ROWS_VARIABLE,
    SheetElsewhere,
    StartedElsewhere,
    WrittenElsewhere,
    month_outputs,
    output_files,
    parquet_part_rows,
    parquet_parts,
    parquet_writer,
    write_outputs,
)
from pipeline.io.read import read_bordereaux
from pipeline.io.workbook import Sheet
from pipeline.run import run_month
from pipeline.sample import generate_book
from tests.helpers import run_keeping_history
from tests.unit.test_validate import CLAIM, LINE, LITE, WIDE
from tests.workbooks import write_bordereau, write_parquet_bordereau

APRIL = {
    "policies": [
        WIDE,
        {},  # an empty row: skipped, not counted, but it keeps its row number
        {**LITE, "memo": "carried"},
        {**WIDE, "policy_id": "P3", "plan": "gold"},
        {**WIDE, "policy_id": "P4", "period_start": "2026/4/1", "liability_deductible": 1},
    ],
    "claims": [CLAIM, {**CLAIM, "claim_id": "C9", "policy_id": "P3"}],
    "lines": [LINE, {**LINE, "line_id": "X2", "amount": "1万"}, {**LINE, "line_id": "X3", "claim_id": "C9"}],
}
MAY = {"policies": [{**WIDE, "insured_name": "May"}], "claims": [{**CLAIM, "claim_id": "C2"}], "lines": []}


def without(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    return frame.drop(columns=list(columns)).reset_index(drop=True)


def test_parquet_months_validate_exactly_like_workbooks(tmp_path):
    write_bordereau(tmp_path / "xlsx", "2026-04", **APRIL)
    write_bordereau(tmp_path / "xlsx", "2026-05", **MAY)
    write_parquet_bordereau(tmp_path / "parquet", "2026-04", **APRIL)
    write_parquet_bordereau(tmp_path / "parquet", "2026-05", claims=MAY["claims"], lines=MAY["lines"])
    write_bordereau(tmp_path / "parquet", "2026-05", policies=MAY["policies"])  # months may mix both

    excel = run_keeping_history(tmp_path / "xlsx", "2026-05", tmp_path / "out-xlsx", use_cache=False)
    parquet = run_keeping_history(tmp_path / "parquet", "2026-05", tmp_path / "out-parquet", use_cache=False)
    for table in ("policies", "claims", "lines"):
        one, two = getattr(excel.history, table), getattr(parquet.history, table)
        ignored = ("source_file", "coverholder")  # coverholder: each input folder's name
        pd.testing.assert_frame_equal(without(two, *ignored), without(one, *ignored), obj=table)
    pd.testing.assert_frame_equal(  # coverholder: each input folder's name
        without(parquet.rejected, "file", "coverholder"), without(excel.rejected, "file", "coverholder")
    )
    pd.testing.assert_frame_equal(without(parquet.counts, "file"), without(excel.counts, "file"))
    assert len(excel.rejected) >= 3
    assert parquet.history.policies["excel_row"].tolist() == [2, 4, 2]  # April's empty row 3 skipped
    rejected = parquet.rejected[parquet.rejected["sheet"] == "policies"]
    assert rejected[["file", "row"]].values.tolist() == [
        ["2026-04/policies.parquet", 5],
        ["2026-04/policies.parquet", 6],
    ]
    assert [entry["file"] for entry in parquet.inputs] == [
        "2026-04/policies.parquet",
        "2026-04/claims.parquet",
        "2026-04/lines.parquet",
        "2026-05/policies.xlsx",
        "2026-05/claims.parquet",
        "2026-05/lines.parquet",
    ]
    assert parquet.inputs[0]["rows"] == {"policies": 4}
    assert parquet.history.policies["memo"].fillna("").tolist() == ["", "carried", ""]


def test_the_sample_generator_writes_the_same_clean_book_as_parquet(tmp_path):
    """``python -m pipeline sample --clean --format parquet``: the same rows as the workbooks of the
    same seed, each sheet a Parquet file (typed columns), read and validated to the same history."""
    generate_book(tmp_path / "xlsx", policies=150, months=3, messy=False)
    written = generate_book(tmp_path / "parquet", policies=150, months=3, messy=False, file_format="parquet")
    assert written["files"][:3] == ["2026-04/policies.parquet", "2026-04/claims.parquet", "2026-04/lines.parquet"]
    assert not list((tmp_path / "parquet").rglob("*.xlsx"))
    assert pq.read_schema(tmp_path / "parquet" / "2026-04" / "lines.parquet").field("spent_date").type == pa.date32()
    excel = run_keeping_history(tmp_path / "xlsx", "2026-06", tmp_path / "out-xlsx", use_cache=False)
    parquet = run_keeping_history(tmp_path / "parquet", "2026-06", tmp_path / "out-parquet", use_cache=False)
    assert excel.rejected.empty and parquet.rejected.empty
    for table in ("policies", "claims", "lines"):
        one, two = getattr(excel.history, table), getattr(parquet.history, table)
        assert len(one) > 0
        ignored = ("source_file", "coverholder")
        pd.testing.assert_frame_equal(without(two, *ignored), without(one, *ignored), obj=table)
    with pytest.raises(ValueError, match="clean book"):
        generate_book(tmp_path / "messy", policies=10, months=1, file_format="parquet")


def test_typed_parquet_cells_and_japanese_headers(tmp_path):
    """Columns as a program writes them: integer ids, nullable integers, timestamps, dates, booleans,
    dictionary-encoded text, NaN; a row of nulls is skipped; the rejected row says Parquet row + 2."""
    month = tmp_path / "in" / "2026-04"
    month.mkdir(parents=True)
    table = pa.table(
        {
            "証券番号": pa.array([1001, None, 1003, 1004], pa.int64()),
            "商品": pa.array(["leak_lite", None, "leak_lite", "leak_lite"]).dictionary_encode(),
            "記名被保険者": ["甲", None, "乙", "丙"],
            "売上高": pa.array([40_000_000, None, None, -5], pa.int64()),
            "保険始期": pa.array([dt.datetime(2026, 4, 1), None, dt.datetime(2026, 4, 1), dt.datetime(2026, 4, 1)]),
            "保険終期": pa.array([dt.date(2027, 4, 1), None, dt.date(2027, 4, 1), dt.date(2027, 4, 1)]),
            "IT業務特約": pa.array([False, None, None, False]),
            "score": pa.array([1.5, float("nan"), None, 2.0]),
        }
    )
    pq.write_table(table, month / "policies.parquet")
    read = read_bordereaux(tmp_path / "in", "2026-04")
    raw = read.sheet("2026-04", "policies")
    assert raw is not None and raw.rows_read == 3
    assert raw.frame["excel_row"].tolist() == [2, 4, 5]
    assert raw.extra_columns == ("score",)

    result = run_keeping_history(tmp_path / "in", "2026-04", tmp_path / "out", use_cache=False)
    policies = result.history.policies
    assert policies["policy_id"].tolist() == ["1001", "1003"]
    assert policies["revenue"].tolist()[0] == 40_000_000 and pd.isna(policies["revenue"].tolist()[1])
    assert policies["period_end"].tolist() == [pd.Timestamp("2027-04-01")] * 2
    assert policies["score"].tolist()[0] == 1.5 and pd.isna(policies["score"].tolist()[1])  # numbers stay numbers
    rejected = result.rejected
    assert rejected[["file", "row", "column", "value"]].values.tolist() == [
        ["2026-04/policies.parquet", 5, "revenue", "-5"]
    ]


@pytest.mark.parametrize("blank", ["", " ", "\t", "\u3000", "\u00a0", "\u0085", " \u2003 "])
def test_a_parquet_row_of_whitespace_only_text_is_an_empty_row(tmp_path, blank):
    """Text of whitespace only (ASCII, the ideographic space, no-break and em spaces, NEL) is an
    empty cell, as in a workbook: a row of nothing else is skipped; text with any other character,
    even one that is no letter or digit, is a cell given."""
    from pipeline.io.read import read_parquet_sheet

    path = tmp_path / "policies.parquet"
    ids = ["P1", blank, "・", blank, "P5"]
    names = ["甲", blank, blank, None, "x y"]
    given = ["leak_lite", blank, blank, None, "leak_lite"]
    columns = {"policy_id": ids, "insured_name": names, "product": given, "period_start": given, "period_end": given}
    pq.write_table(pa.table(columns), path)
    raw = read_parquet_sheet(path, "2026-04", "2026-04/policies.parquet", "policies")
    assert raw.frame["excel_row"].tolist() == [2, 4, 6]
    assert raw.frame["policy_id"].tolist() == ["P1", "・", "P5"]


def test_a_sheet_given_twice_or_a_damaged_parquet_file_stops_the_run(tmp_path):
    write_bordereau(tmp_path, "2026-04", policies=[WIDE], claims=[CLAIM], lines=[LINE])
    write_parquet_bordereau(tmp_path, "2026-04", lines=[LINE])
    with pytest.raises(FatalInputError, match=r"2026-04/lines.parquet: sheet 'lines' is also given by"):
        read_bordereaux(tmp_path, "2026-04")
    (tmp_path / "2026-04" / "lines.parquet").unlink()
    (tmp_path / "2026-04" / "policies.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(FatalInputError, match=r"policies.parquet: sheet 'policies' is also given"):
        read_bordereaux(tmp_path, "2026-04")
    (tmp_path / "2026-04" / "policies.xlsx").unlink()
    with pytest.raises(FatalInputError, match=r"policies.parquet: cannot be read as a Parquet file"):
        read_bordereaux(tmp_path, "2026-04")
    pq.write_table(pa.table({"policy_id": ["P1"]}), tmp_path / "2026-04" / "policies.parquet")
    with pytest.raises(FatalInputError, match="required column missing: product"):
        read_bordereaux(tmp_path, "2026-04")


def test_sheets_beyond_the_row_limit_are_written_to_parquet(tmp_path, monkeypatch):
    generate_book(tmp_path / "in", policies=60, months=2)
    limit = 40  # rows with the header; the sample's policies and rejected rows exceed it here
    monkeypatch.setenv(MAX_SHEET_ROWS_VARIABLE, str(limit))
    result = run_month(tmp_path / "in", "2026-05", tmp_path / "out", use_cache=False)
    folder = result.output_folder
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    moved = [
        (name, sheet) for name, sheets in result.sheets.items() for sheet in sheets if len(sheet.frame) + 1 > limit
    ]
    assert ("policies_annotated.xlsx", "policies") in [(name, sheet.name) for name, sheet in moved]
    assert manifest["sheets_as_parquet"] == result.parquet_sheets
    assert [(m["workbook"], m["sheet"]) for m in result.parquet_sheets] == [(n, s.name) for n, s in moved]
    for (name, sheet), record in zip(moved, result.parquet_sheets, strict=True):
        file = f"{Path(name).stem}.{sheet.name}.parquet"
        assert record == {"workbook": name, "sheet": sheet.name, "file": file, "rows": len(sheet.frame), "parts": 1}
        assert file in manifest["outputs"]
        pd.testing.assert_frame_equal(pd.read_parquet(folder / file), sheet.frame.reset_index(drop=True))
        note = CalamineWorkbook.from_path(str(folder / name)).get_sheet_by_name(sheet.name).to_python()
        assert note[0] == ["note"] and file in note[2][0] and f"{len(sheet.frame):,} rows" in note[1][0]
    for name, sheets in result.sheets.items():  # the other sheets are in their workbooks as usual
        workbook = CalamineWorkbook.from_path(str(folder / name))
        for sheet in sheets:
            if (name, sheet) not in moved:
                assert len(workbook.get_sheet_by_name(sheet.name).to_python()) >= len(sheet.frame) + 1

    first = {path.name: path.read_bytes() for path in folder.glob("*.parquet")}
    shutil.rmtree(tmp_path / "out")
    again = run_month(tmp_path / "in", "2026-05", tmp_path / "out", use_cache=False).output_folder
    assert {path.name: path.read_bytes() for path in again.glob("*.parquet")} == first  # reruns identical


def _split_into_parts(sheet_file: Path, sizes: list[int]) -> Path:
    """``<sheet>.parquet`` replaced by the folder ``<sheet>/`` of parts of ``sizes`` rows each."""
    table = pq.read_table(sheet_file)
    folder = sheet_file.with_suffix("")
    folder.mkdir()
    start = 0
    for number, size in enumerate(sizes):
        pq.write_table(table.slice(start, size), folder / f"part-{number:05d}.parquet")
        start += size
    sheet_file.unlink()
    return folder


def test_a_sheet_may_be_a_folder_of_parquet_parts(tmp_path):
    """``lines/part-*.parquet``: the parts read as one sheet (rows numbered on across parts), so a
    duplicate id in two parts is found exactly as in one file; the folder is one input of the run."""
    april = {**APRIL, "lines": [*APRIL["lines"], {**LINE, "line_id": "X2", "amount": 5}]}  # X2 twice
    file, folder = tmp_path / "file" / "book", tmp_path / "parts" / "book"  # one cover-holder name: "book"
    write_parquet_bordereau(file, "2026-04", **april)
    write_parquet_bordereau(folder, "2026-04", **april)
    _split_into_parts(folder / "2026-04" / "lines.parquet", [2, 1, 1])
    _split_into_parts(folder / "2026-04" / "claims.parquet", [1, 1])

    one = run_keeping_history(file, "2026-04", tmp_path / "out-file", use_cache=False)
    parts = run_keeping_history(folder, "2026-04", tmp_path / "out-parts", use_cache=False)
    for table in ("policies", "claims", "lines"):
        pd.testing.assert_frame_equal(
            without(getattr(parts.history, table), "source_file"),
            without(getattr(one.history, table), "source_file"),
            obj=table,
        )
    pd.testing.assert_frame_equal(without(parts.rejected, "file"), without(one.rejected, "file"))
    as_read = one.lines.assign(source_file="2026-04/lines/")  # the file is a categorical column of the history's
    pd.testing.assert_frame_equal(labels_as_text(parts.lines), labels_as_text(as_read))
    duplicates = parts.rejected[parts.rejected["sheet"] == "lines"]
    twice = duplicates[duplicates["column"] == "line_id"]
    assert twice[["file", "row", "value"]].values.tolist() == [["2026-04/lines/", 3, "X2"], ["2026-04/lines/", 5, "X2"]]
    assert duplicates[duplicates["column"] == "claim_id"]["row"].tolist() == [4]  # its claim C9 rejected
    assert [entry["file"] for entry in parts.inputs] == [
        "2026-04/policies.parquet",
        "2026-04/claims/",
        "2026-04/lines/",
    ]
    assert parts.inputs[2]["rows"] == {"lines": 4}

    (folder / "2026-04" / "lines" / "part-00000.parquet").unlink()
    (folder / "2026-04" / "lines" / "part-00001.parquet").rename(folder / "2026-04" / "lines" / "notes.parquet")
    (folder / "2026-04" / "lines" / "part-00002.parquet").unlink()
    with pytest.raises(FatalInputError, match=r"2026-04/lines: is not a folder of part-\*\.parquet files"):
        run_month(folder, "2026-04", tmp_path / "out-parts", use_cache=False)


def test_a_frame_beyond_one_part_is_written_as_a_partitioned_dataset_atomically(tmp_path):
    """Beyond ``PARQUET_PART_ROWS`` rows (here 10) a sheet is a folder of parts in row order, read
    back as one table; it is swapped into place with the rest, and a rerun gives the same bytes."""
    frame = pd.DataFrame({"line_id": [f"L{i:03d}" for i in range(25)], "payable": range(25)}, index=range(100, 125))
    reasons = ["", "no_consent", "excluded:war"]
    frame["reason"] = take_labels(reasons, np.arange(25) % 4 - 1, frame.index)  # categorical, as the engine's
    assert [parquet_parts(rows, 10) for rows in (0, 10, 11, 25)] == [1, 1, 2, 3]
    written = []
    for run in ("first", "again"):
        folder = write_outputs(
            tmp_path / run, "2026-05", {"claims_annotated.lines.parquet": parquet_writer(frame, 10)}, {}
        )
        dataset = folder / "claims_annotated.lines.parquet"
        assert sorted(path.name for path in dataset.iterdir()) == [f"part-0000{n}.parquet" for n in range(3)]
        assert [pq.read_metadata(path).num_rows for path in sorted(dataset.iterdir())] == [10, 10, 5]
        read_back = pd.read_parquet(dataset)
        pd.testing.assert_frame_equal(read_back, labels_as_text(frame).reset_index(drop=True))
        assert pq.read_schema(dataset / "part-00000.parquet").field("reason").type == pa.large_string()
        assert read_back["reason"].fillna("-").tolist()[:5] == ["-", "", "no_consent", "excluded:war", "-"]
        written.append({path.name: path.read_bytes() for path in dataset.iterdir()})
        assert not [path for path in (tmp_path / run).iterdir() if path.name.startswith(".")]
    assert written[0] == written[1]


def test_the_rows_of_a_part_may_be_set_for_tests_and_nothing_else(monkeypatch):
    assert parquet_part_rows() == PARQUET_PART_ROWS
    monkeypatch.setenv(PARQUET_PART_ROWS_VARIABLE, "7")
    assert parquet_part_rows() == 7 and parquet_parts(15) == 3 and parquet_parts(7) == 1
    for wrong in ("0", "seven", str(PARQUET_PART_ROWS + 1)):
        monkeypatch.setenv(PARQUET_PART_ROWS_VARIABLE, wrong)
        with pytest.raises(FatalInputError, match=f"{PARQUET_PART_ROWS_VARIABLE}: expected a whole number"):
            parquet_part_rows()


class WrittenInAThread(WrittenElsewhere):
    """A file written elsewhere than the run's forked writers (as the Dask engine's workers write the
    annotated lines): here a thread of this process, started when the outputs start it."""

    def __init__(self, frame: pd.DataFrame, gate: threading.Event | None = None) -> None:
        self.frame, self.gate = frame, gate
        self.started: list[Path] = []

    def start(self, path: Path) -> Future[None]:
        self.started.append(path)

        def write() -> None:
            if self.gate is not None:
                assert self.gate.wait(10), "never let through"
            parquet_writer(self.frame)(path)

        return ThreadPoolExecutor(1).submit(write)


def test_a_sheet_written_elsewhere_is_noted_recorded_and_waited_for_like_one_written_here(tmp_path, monkeypatch):
    """A sheet whose rows are elsewhere (``SheetElsewhere``) leaves the same note and record as a
    sheet of as many rows here, and its file, started from the run's process with the others into
    the staging folder, is waited for before the swap; a run that fails stops it."""
    monkeypatch.setenv(MAX_SHEET_ROWS_VARIABLE, "5")
    monkeypatch.setenv(PARQUET_PART_ROWS_VARIABLE, "4")
    frame = pd.DataFrame({"line_id": [f"L{i}" for i in range(9)], "payable": range(9)})
    here, moved_here = output_files({"claims_annotated.xlsx": [Sheet("lines", frame)]})
    writer = WrittenInAThread(frame, threading.Event())
    there, moved_there = output_files({"claims_annotated.xlsx": [SheetElsewhere("lines", len(frame), writer)]})
    file = "claims_annotated.lines.parquet"
    record = {"workbook": "claims_annotated.xlsx", "sheet": "lines", "file": file, "rows": 9, "parts": 3}
    assert moved_there == moved_here == [record]
    assert there.keys() == here.keys() and there["claims_annotated.lines.parquet"] is writer
    with month_outputs(tmp_path / "here", "2026-05") as outputs:
        outputs.start({"claims_annotated.lines.parquet": parquet_writer(frame)})
        expected = outputs.finish({}, {})
    with month_outputs(tmp_path / "there", "2026-05") as outputs:
        outputs.start({"claims_annotated.lines.parquet": writer})
        assert writer.started == [outputs.staging / "claims_annotated.lines.parquet"]
        assert not writer.started[0].exists()  # still waiting: the swap waits for it
        writer.gate.set()
        got = outputs.finish({}, json.loads('{"timings": {}}'))
    dataset = got / "claims_annotated.lines.parquet"
    assert sorted(path.name for path in dataset.iterdir()) == [f"part-0000{n}.parquet" for n in range(3)]
    for path in dataset.iterdir():
        assert path.read_bytes() == (expected / "claims_annotated.lines.parquet" / path.name).read_bytes()
    assert "write:claims_annotated.lines.parquet" in json.loads((got / "manifest.json").read_text())["timings"]

    never = WrittenInAThread(frame, threading.Event())
    failed = month_outputs(tmp_path / "failed", "2026-05")
    with pytest.raises(RuntimeError, match="a later stage failed"), failed as outputs:
        outputs.start({"claims_annotated.lines.parquet": never})
        pending = outputs.writing[0]
        raise RuntimeError("a later stage failed")
    assert isinstance(pending, StartedElsewhere) and not pending.pending  # stopped: cancelled, let go
    never.gate.set()
    assert not (tmp_path / "failed" / "2026-05").exists()


def test_a_parquet_sheet_keeps_its_arrow_columns_where_it_is_read_and_sends_none(tmp_path):
    """The kept rows' Arrow columns (what parsing takes whole columns from) are the sheet's cells in
    their order; pickled (a forked reader's or a Dask worker's sheet) the sheet leaves them behind."""
    import pickle

    from pipeline.cell_columns import python_values
    from pipeline.io.read import read_parquet_sheet

    path = tmp_path / "lines.parquet"
    table = pa.table(
        {
            "line_id": ["L1", None, "L3"],
            "claim_id": ["C1", None, "C1"],
            "item": ["forensics", None, "forensics"],
            "amount": pa.array([5, None, 7], pa.int64()),
            "spent_date": pa.array([dt.date(2026, 4, 1), None, None]),
        }
    )
    pq.write_table(table, path)
    raw = read_parquet_sheet(path, "2026-04", "2026-04/lines.parquet", "lines")
    assert raw.frame["excel_row"].tolist() == [2, 4]
    assert set(raw.arrow) == {"line_id", "claim_id", "item", "amount", "spent_date"}
    for name, column in raw.arrow.items():
        assert python_values(column).tolist() == raw.frame[name].tolist()
    sent = pickle.loads(pickle.dumps(raw))
    assert sent.arrow == {} and sent.frame.equals(raw.frame)
