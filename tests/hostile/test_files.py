"""Hostile files and sheets, through the real command line: each one ends as exactly one ``error:``
line and exit 2 (or, for a sheet with only a header, a normal run) — never a traceback, and never
a month folder of outputs from a run that failed (CASES.md § Files and sheets)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest

from tests.commands import cli
from tests.hostile.corpus import (
    MONTH,
    WIDE,
    Formula,
    encrypted_workbook,
    error_lines,
    table,
    valid_month,
    write_openpyxl,
    write_xlsxwriter,
)

POLICIES = f"{MONTH}/policies.xlsx"
CLAIMS = f"{MONTH}/claims.xlsx"


def _policies(folder: Path) -> Path:
    return folder / MONTH / "policies.xlsx"


def _rewrite_header(folder: Path, headers: list[object]) -> None:
    """Replace the policies header row (xlsxwriter, so that control characters survive)."""
    path = _policies(folder)
    rows = [list(row) for row in openpyxl.load_workbook(path)["policies"].iter_rows(values_only=True)]
    rows[0] = headers + rows[0][len(headers) :]
    write_xlsxwriter(path, {"policies": rows})


def text_file(folder: Path) -> str:
    _policies(folder).write_text("policy_id,product,insured_name\nP1,leak_lite,A\n", encoding="utf-8")
    return f"{POLICIES}: cannot be opened as an Excel workbook (damaged or not an xlsx file"


def truncated(cut: float) -> Callable[[Path], str]:
    def case(folder: Path) -> str:
        data = _policies(folder).read_bytes()
        _policies(folder).write_bytes(data[: int(len(data) * cut)])
        return f"{POLICIES}: cannot be opened as an Excel workbook (damaged or not an xlsx file"

    return case


def encrypted(folder: Path) -> str:
    _policies(folder).write_bytes(encrypted_workbook())
    return f"{POLICIES}: cannot be opened as an Excel workbook (password-protected (encrypted) or an old .xls file"


def no_rows(folder: Path) -> str:
    write_openpyxl(_policies(folder), {"policies": []})
    return f"{POLICIES}: sheet 'policies' is empty (no header row)"


def no_sheet_of_that_name(folder: Path) -> str:
    write_openpyxl(_policies(folder), {"Sheet1": table(list(WIDE), [WIDE])})
    return f"{POLICIES}: required sheet 'policies' missing (sheets: 'Sheet1')"


def missing_sheet(folder: Path) -> str:
    workbook = openpyxl.load_workbook(folder / CLAIMS)
    del workbook["lines"]
    workbook.save(folder / CLAIMS)
    return f"{CLAIMS}: required sheet 'lines' missing (sheets: 'claims')"


def two_sheets_alike(folder: Path) -> str:
    rows = table(list(WIDE), [WIDE])
    write_xlsxwriter(_policies(folder), {"policies": rows, "ＰＯＬＩＣＩＥＳ": rows})
    return f"{POLICIES}: several sheets could be 'policies' ('policies', 'ＰＯＬＩＣＩＥＳ'): keep one"


def missing_header(folder: Path) -> str:
    columns = [c for c in WIDE if c != "insured_name"]
    write_xlsxwriter(_policies(folder), {"policies": table(columns, [WIDE])})
    return f"{POLICIES}: sheet 'policies': required column missing: insured_name (記名被保険者)"


def misspelled_header(folder: Path) -> str:
    _rewrite_header(folder, ["polcy_id"])
    return (
        f"{POLICIES}: sheet 'policies': required column missing: policy_id (証券番号); "
        "headers not recognised: 'polcy_id'"
    )


def duplicated_header(folder: Path) -> str:
    _rewrite_header(folder, ["Policy_ID", "証券番号"])
    return f"{POLICIES}: sheet 'policies': duplicated header 'policy_id' (cells 'Policy_ID' and '証券番号')"


def merged_header(folder: Path) -> str:
    rows = table(list(WIDE), [WIDE])
    write_openpyxl(_policies(folder), {"policies": rows}, merged={"policies": ["A1:B1"]})
    return (
        f"{POLICIES}: sheet 'policies': required column missing: product (商品); "
        "header cells A1:B1 are merged (unmerge them)"
    )


def control_character_in_header(folder: Path) -> str:
    _rewrite_header(folder, ["policy\x00_id"])
    return "required column missing: policy_id (証券番号); headers not recognised: 'policy\\x00_id'"


def formula_header(folder: Path) -> str:
    rows = table(list(WIDE), [WIDE])
    rows[0][0] = Formula('="policy"&"_id"')  # no saved value: the header cannot be known
    write_openpyxl(_policies(folder), {"policies": rows})
    return 'required column missing: policy_id (証券番号); headers not recognised: \'="policy"&"_id"\''


def folder_named_like_a_workbook(folder: Path) -> str:
    _policies(folder).unlink()
    _policies(folder).mkdir()
    return f"{POLICIES}: is not a file"


FATAL: dict[str, Callable[[Path], str]] = {
    "text file named .xlsx": text_file,
    "zip truncated to 10%": truncated(0.1),
    "zip truncated to 60%": truncated(0.6),
    "zip missing its last bytes": truncated(0.98),
    "encrypted workbook (OLE compound file)": encrypted,
    "workbook with no rows": no_rows,
    "no sheet with that name": no_sheet_of_that_name,
    "missing sheet": missing_sheet,
    "two sheets that normalise alike": two_sheets_alike,
    "missing header": missing_header,
    "misspelled header": misspelled_header,
    "duplicated header": duplicated_header,
    "merged header cells": merged_header,
    "control character in a header": control_character_in_header,
    "formula header with no saved value": formula_header,
    "folder named policies.xlsx": folder_named_like_a_workbook,
}


@pytest.mark.parametrize("case", list(FATAL))
def test_fatal_file_exits_2_with_one_precise_line(tmp_path, case):
    folder = valid_month(tmp_path / "in")
    expected = FATAL[case](folder)
    done = cli("run", "--input", folder, "--month", MONTH, "--output", tmp_path / "out")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = error_lines(done)
    assert len(lines) == 1, done.stderr
    assert expected in lines[0], lines[0]
    assert lines[0].isprintable()
    assert not (tmp_path / "out" / MONTH).exists()
    assert not list((tmp_path / "out").glob(".*")), "a failed run leaves no temporary folder"


def test_a_sheet_with_only_a_header_reads_zero_rows(tmp_path):
    folder = valid_month(tmp_path / "in")
    write_xlsxwriter(_policies(folder), {"policies": [list(WIDE)]})
    done = cli("run", "--input", folder, "--month", MONTH, "--output", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    policies = next(line for line in done.stdout.splitlines() if "policies.xlsx" in line)
    assert policies.split()[-3:] == ["0", "0", "0"]
    # the claim and line of the month now refer to a policy nobody sent: rejected, and counted
    total = next(line for line in done.stdout.splitlines() if line.strip().startswith("total"))
    assert total.split()[1:] == ["2", "0", "2"]
