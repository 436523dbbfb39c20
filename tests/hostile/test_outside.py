"""Hostile inputs found outside the first corpus (issue #11; CASES.md § Found outside the corpus),
through the real command line: each ends with its exit code and the line that says what happened."""

from __future__ import annotations

import json
import logging

import pandas as pd
import pytest
from python_calamine import CalamineWorkbook

from pipeline.io.outputs import MAX_SHEET_COLUMNS_VARIABLE
from pipeline.run import run_month
from tests.commands import cli
from tests.hostile.corpus import CLAIM, LINE, LITE, MONTH, WIDE, error_lines, valid_month, write_bordereau
from tests.hostile.outside import CASES

SLOW = {"16,384 input columns"}  # about a minute: 16,384 columns validated and written


@pytest.mark.parametrize(
    "case", [pytest.param(case, marks=pytest.mark.slow) if case in SLOW else case for case in CASES]
)
def test_each_case_ends_as_documented(tmp_path, case):
    folder = valid_month(tmp_path / "in")
    expected = CASES[case](folder)
    month = ["--month", expected.month] if expected.month else []
    done = cli("run", "--input", folder, *month, "--output", tmp_path / "out")
    assert done.returncode == expected.exit, done.stderr
    if expected.exit:
        lines = error_lines(done)
        assert len(lines) == 1, done.stderr
        assert expected.says in lines[0], lines[0]
        assert not (tmp_path / "out" / MONTH).exists()
    else:
        assert expected.says in done.stderr, done.stderr
        assert f"Reconciliation as at {MONTH}" in done.stdout  # without --month: the latest real month
        manifest = json.loads((tmp_path / "out" / MONTH / "manifest.json").read_text(encoding="utf-8"))
        if expected.not_read:
            listed = [entry["path"] for entry in manifest["not_read"]]
            assert any(path.startswith(expected.not_read) for path in listed), listed
    assert "Traceback" not in done.stderr + done.stdout
    assert "panicked" not in done.stderr + done.stdout


def test_input_columns_named_like_computed_ones_never_push_them_aside(tmp_path):
    """`Annual_Premium`, `UPR`, `Earned_To_Date` (other case), full-width `ｓｔａｔｕｓ` and
    `excel_row` are input columns: carried as `<header> (input)`, the contract's columns keep their
    names; numeric extra columns stay numbers."""
    clashing = {
        "Annual_Premium": 7,
        "UPR": "x",
        "Earned_To_Date": 3.5,
        "ｓｔａｔｕｓ": "mine",
        "Excel_Row": 1,
        "score": 7,
    }
    write_bordereau(tmp_path / "in", MONTH, policies=[{**WIDE, **clashing}, LITE], claims=[CLAIM], lines=[LINE])
    result = run_month(tmp_path / "in", MONTH, tmp_path / "out")
    (sheet,) = [s for s in result.sheets["policies_annotated.xlsx"] if s.name == "policies"]
    columns = list(sheet.frame.columns)
    for name in ("annual_premium", "upr", "earned_to_date", "status", "excel_row"):
        assert name in columns
        assert f"{name} (2)" not in columns, columns
    inputs = ["Annual_Premium (input)", "UPR (input)", "Earned_To_Date (input)", "status (input)", "Excel_Row (input)"]
    assert set(inputs) <= set(columns), columns
    row = sheet.frame.set_index("policy_id").loc[WIDE["policy_id"]]
    assert row["annual_premium"] != 7  # the computed premium, not the input column
    assert (row["Annual_Premium (input)"], row["UPR (input)"], row["score"]) == (7, "x", 7)
    assert row["Earned_To_Date (input)"] == 3.5
    assert pd.api.types.is_integer_dtype(sheet.frame["score"].dtype)
    assert pd.api.types.is_float_dtype(sheet.frame["Earned_To_Date (input)"].dtype)


def test_input_columns_beyond_excels_width_go_to_a_parquet_side_file(tmp_path, monkeypatch, caplog):
    """More columns than a sheet holds (a limit of 60 here, Excel's 16,384 for real): the contract's,
    computed and provenance columns are all written; the unknown input columns that do not fit go to
    `<workbook>.<sheet>.columns.parquet` with the columns that say where each row came from."""
    monkeypatch.setenv(MAX_SHEET_COLUMNS_VARIABLE, "60")
    extra = {f"extra_{number:03d}": number for number in range(50)}
    write_bordereau(tmp_path / "in", MONTH, policies=[{**WIDE, **extra}, LITE], claims=[CLAIM], lines=[LINE])
    with caplog.at_level(logging.WARNING):
        result = run_month(tmp_path / "in", MONTH, tmp_path / "out")
    (sheet,) = [s for s in result.sheets["policies_annotated.xlsx"] if s.name == "policies"]
    workbook = CalamineWorkbook.from_path(str(result.output_folder / "policies_annotated.xlsx"))
    header = workbook.get_sheet_by_name("policies").to_python()[0]
    assert len(header) == 60
    fixed = [column for column in sheet.frame.columns if not column.startswith("extra_")]
    assert {"status", "annual_premium", "upr", "remaining_liability_limit", "excel_row"} <= set(fixed)
    assert set(fixed) <= set(header)  # every contract, computed and provenance column is in the workbook
    written = [column for column in header if column.startswith("extra_")]
    assert written == [f"extra_{number:03d}" for number in range(60 - len(fixed))]
    side = pd.read_parquet(result.output_folder / "policies_annotated.policies.columns.parquet")
    moved = [f"extra_{number:03d}" for number in range(len(written), 50)]
    assert list(side.columns) == ["bordereau_month", "source_file", "source_sheet", "excel_row", *moved]
    row = side.set_index("excel_row").loc[2]
    assert [row[column] for column in moved] == list(range(len(written), 50))
    manifest = json.loads((result.output_folder / "manifest.json").read_text(encoding="utf-8"))
    record = {
        "workbook": "policies_annotated.xlsx",
        "sheet": "policies",
        "file": "policies_annotated.policies.columns.parquet",
        "columns": len(moved),
    }
    assert record in manifest["sheets_as_parquet"]
    assert "policies_annotated.policies.columns.parquet" in manifest["outputs"]
    assert any("more than an Excel sheet holds (60)" in r.getMessage() for r in caplog.records)
