"""Hostile inputs found outside the first corpus (issue #11; CASES.md § Found outside the corpus),
through the real command line: each ends with its exit code and the line that says what happened."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.run import run_month
from tests.commands import cli
from tests.hostile.corpus import CLAIM, LINE, LITE, MONTH, WIDE, error_lines, valid_month, write_bordereau
from tests.hostile.outside import CASES


@pytest.mark.parametrize("case", list(CASES))
def test_each_case_ends_as_documented(tmp_path, case):
    folder = valid_month(tmp_path / "in")
    expected = CASES[case](folder)
    done = cli("run", "--input", folder, "--month", MONTH, "--output", tmp_path / "out")
    assert done.returncode == expected.exit, done.stderr
    if expected.exit:
        lines = error_lines(done)
        assert len(lines) == 1, done.stderr
        assert expected.says in lines[0], lines[0]
        assert not (tmp_path / "out" / MONTH).exists()
    else:
        assert expected.says in done.stderr, done.stderr
        assert (tmp_path / "out" / MONTH / "manifest.json").is_file()
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
