"""Reading month folders and sheets (DATA_CONTRACT.md § Input, § Validation details)."""

from __future__ import annotations

import hashlib
import zipfile

import openpyxl
import pytest

from pipeline.errors import FatalInputError
from pipeline.io.read import read_bordereaux
from tests.workbooks import write_bordereau

POLICY = {
    "policy_id": "P1",
    "product": "leak_lite",
    "insured_name": "A",
    "period_start": "2026-04-01",
    "period_end": "2027-04-01",
}


def test_months_up_to_m_in_order_and_a_month_may_lack_either_file(tmp_path):
    write_bordereau(tmp_path, "2026-05", claims=[])
    write_bordereau(tmp_path, "2026-04", policies=[POLICY])
    write_bordereau(tmp_path, "2026-07", policies=[POLICY])
    (tmp_path / "2026-06").mkdir()
    (tmp_path / "notes").mkdir()
    read = read_bordereaux(tmp_path, "2026-06")
    assert read.months == ("2026-04", "2026-05", "2026-06")
    assert [(s.month, s.sheet) for s in read.sheets] == [
        ("2026-04", "policies"),
        ("2026-05", "claims"),
        ("2026-05", "lines"),
    ]
    assert read.sheet("2026-06", "policies") is None


def test_japanese_headers_any_order_unknown_columns_and_missing_optional_columns(tmp_path):
    write_bordereau(
        tmp_path, "2026-04", policies=[{**POLICY, "memo": "note", "revenue": "1,000"}], japanese_headers=True
    )
    path = tmp_path / "2026-04" / "policies.xlsx"
    workbook = openpyxl.load_workbook(path)
    sheet = workbook["policies"]
    sheet.move_range("A1:A2", cols=sheet.max_column)  # policy_id moves to the end
    sheet.cell(1, 2).value = "　商品　"  # full-width spaces around the label
    workbook.save(path)
    raw = read_bordereaux(tmp_path, "2026-04").sheet("2026-04", "policies")
    assert raw.frame.loc[0, "policy_id"] == "P1"
    assert raw.frame.loc[0, "product"] == "leak_lite"
    assert raw.frame.loc[0, "revenue"] == "1,000"
    assert raw.frame.loc[0, "plan"] == ""  # optional column absent: all empty
    assert raw.extra_columns == ("memo",)
    assert raw.frame.loc[0, "memo"] == "note"


def test_english_headers_case_insensitive_after_nfkc(tmp_path):
    write_bordereau(tmp_path, "2026-04", policies=[POLICY])
    path = tmp_path / "2026-04" / "policies.xlsx"
    workbook = openpyxl.load_workbook(path)
    workbook["policies"].cell(1, 1).value = " ＰＯＬＩＣＹ_ＩＤ "
    workbook.save(path)
    raw = read_bordereaux(tmp_path, "2026-04").sheet("2026-04", "policies")
    assert raw.frame.loc[0, "policy_id"] == "P1"


def test_empty_rows_skipped_and_excel_rows_kept_and_file_hashed(tmp_path):
    write_bordereau(tmp_path, "2026-04", policies=[POLICY, {}, {}, {**POLICY, "policy_id": "P2"}])
    raw = read_bordereaux(tmp_path, "2026-04")
    sheet = raw.sheet("2026-04", "policies")
    assert sheet.rows_read == 2
    assert sheet.frame["excel_row"].tolist() == [2, 5]
    data = (tmp_path / "2026-04" / "policies.xlsx").read_bytes()
    assert raw.files[0].sha256 == hashlib.sha256(data).hexdigest()
    assert raw.files[0].rows == {"policies": 2}
    assert raw.files[0].file == "2026-04/policies.xlsx"


def test_leading_empty_rows_and_columns_keep_true_excel_positions(tmp_path):
    month = tmp_path / "2026-04"
    month.mkdir()
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "policies"
    for col, name in enumerate(["policy_id", "product", "insured_name", "period_start", "period_end"], start=2):
        sheet.cell(1, col, name)
    sheet.cell(4, 2, "P1")
    workbook.save(month / "policies.xlsx")
    raw = read_bordereaux(tmp_path, "2026-04").sheet("2026-04", "policies")
    assert raw.frame["excel_row"].tolist() == [4]
    assert raw.frame.loc[0, "policy_id"] == "P1"


def fatal(tmp_path, month="2026-04"):
    with pytest.raises(FatalInputError) as caught:
        read_bordereaux(tmp_path, month)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_fatal_input_folder_or_month_missing(tmp_path):
    assert fatal(tmp_path / "nowhere").endswith("input folder missing")
    assert "month folder for 2026-04 missing" in fatal(tmp_path)
    assert "expected a month like 2026-04" in fatal(tmp_path, "2026-4")


def test_fatal_required_column_missing(tmp_path):
    write_bordereau(tmp_path, "2026-04", policies=[{k: v for k, v in POLICY.items() if k != "period_end"}])
    path = tmp_path / "2026-04" / "policies.xlsx"
    workbook = openpyxl.load_workbook(path)
    workbook["policies"].delete_cols(5)  # period_end is written because it is required; remove it
    workbook.save(path)
    message = fatal(tmp_path)
    assert message.startswith("2026-04/policies.xlsx: ")
    assert "required column missing: period_end (保険終期)" in message


def test_fatal_duplicated_header(tmp_path):
    write_bordereau(tmp_path, "2026-04", policies=[{**POLICY, "memo": "x"}])
    path = tmp_path / "2026-04" / "policies.xlsx"
    workbook = openpyxl.load_workbook(path)
    workbook["policies"].cell(1, 6).value = "証券番号"  # a second policy_id, in Japanese
    workbook.save(path)
    assert "duplicated header 'policy_id'" in fatal(tmp_path)


def test_fatal_required_sheet_missing(tmp_path):
    write_bordereau(tmp_path, "2026-04", claims=[])
    path = tmp_path / "2026-04" / "claims.xlsx"
    workbook = openpyxl.load_workbook(path)
    del workbook["lines"]
    workbook.save(path)
    assert "2026-04/claims.xlsx: required sheet 'lines' missing" in fatal(tmp_path)


@pytest.mark.parametrize("content", [b"policy_id,product\nP1,leak_lite\n", b"", b"PK\x03\x04truncated"])
def test_fatal_not_an_xlsx(tmp_path, content):
    (tmp_path / "2026-04").mkdir()
    (tmp_path / "2026-04" / "policies.xlsx").write_bytes(content)
    assert "2026-04/policies.xlsx: cannot be opened as an Excel workbook" in fatal(tmp_path)


def test_fatal_truncated_zip(tmp_path):
    write_bordereau(tmp_path, "2026-04", policies=[POLICY])
    path = tmp_path / "2026-04" / "policies.xlsx"
    path.write_bytes(path.read_bytes()[:300])
    assert "cannot be opened as an Excel workbook" in fatal(tmp_path)


def test_fatal_password_protected_looking_file(tmp_path):
    # An encrypted xlsx is an OLE compound file, not a zip: it must fail with one line.
    (tmp_path / "2026-04").mkdir()
    header = bytes.fromhex("D0CF11E0A1B11AE1") + b"\x00" * 504
    (tmp_path / "2026-04" / "policies.xlsx").write_bytes(header)
    assert "cannot be opened as an Excel workbook" in fatal(tmp_path)


def test_a_zip_that_is_not_a_workbook(tmp_path):
    (tmp_path / "2026-04").mkdir()
    with zipfile.ZipFile(tmp_path / "2026-04" / "policies.xlsx", "w") as archive:
        archive.writestr("hello.txt", "hi")
    assert "cannot be opened as an Excel workbook" in fatal(tmp_path)


def test_unknown_columns_named_like_computed_ones_are_carried_as_input(tmp_path):
    """An input column named like one the stages add (``status``, ``payable``, ``policy_id`` on
    lines) is kept as ``<name> (input)`` so the computed column cannot overwrite it; canonical
    input columns keep their names."""
    from pipeline.run import run_month
    from tests.unit.test_validate import CLAIM, LINE, WIDE

    write_bordereau(
        tmp_path / "in",
        "2026-04",
        policies=[{**WIDE, "status": "VIP"}],
        claims=[CLAIM],
        lines=[{**LINE, "payable": "999", "policy_id": "other"}],
    )
    result = run_month(tmp_path / "in", "2026-04", tmp_path / "out")
    assert result.policies.loc[0, "status (input)"] == "VIP"
    assert result.policies.loc[0, "status"] in ("ok", "refer")
    assert result.lines.loc[0, "payable (input)"] == "999"
    assert result.lines.loc[0, "policy_id (input)"] == "other"
    assert result.lines.loc[0, "policy_id"] == CLAIM["policy_id"]
    assert "policy_id (input)" not in result.claims.columns  # canonical on claims: not renamed
