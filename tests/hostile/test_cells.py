"""Hostile cells, through ``pipeline.run.run_month``: every case is one policy row of one workbook
(all cases of a writer run once), and ends as a rejected row with a precise reason, or as a valid
row with the value it should have — never an exception, never a silently emptied or dropped cell
(CASES.md § Cells)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import RunKept, run_keeping_history
from tests.hostile.corpus import (
    MONTH,
    POLICY_COLUMNS,
    WIDE,
    Dated,
    Error,
    Formula,
    Raw,
    table,
    write_openpyxl,
    write_xlsxwriter,
)

YEN = "expected yen like 1,234,567"
DATE = "expected a date like 2026-04-01"
BOOL = "expected TRUE/FALSE"
NOT_A_DIGIT = "contains '%s' (U+"
LONG = "100,000 characters, more than an Excel cell holds (32,767)"

# (case, writer, changes to a valid cyber_security row, expected): expected is ("rejected", column,
# part of the reason) or ("valid", column, value in the validated row).
Case = tuple[str, str, dict[str, Any], tuple[str, str, Any]]
CASES: list[Case] = [
    # formulas: the saved result is used; no saved result is a clear rejection
    (
        "formula, cached number",
        "xlsxwriter",
        {"revenue": Formula("=100000000*3", 300_000_000)},
        ("valid", "revenue", 300_000_000),
    ),
    ("formula, cached text", "xlsxwriter", {"plan": Formula('="wi"&"de"', "wide")}, ("valid", "plan", "wide")),
    (
        "formula, no saved value (yen)",
        "openpyxl",
        {"revenue": Formula("=100000000*3")},
        ("rejected", "revenue", "formula =100000000*3 has no saved value"),
    ),
    (
        "formula, no saved value (optional date)",
        "openpyxl",
        {"cancel_date": Formula("=DATE(2026,5,1)")},
        ("rejected", "cancel_date", "formula =DATE(2026,5,1) has no saved value"),
    ),
    ("formula, no saved value (extra column)", "openpyxl", {"memo": Formula("=A1")}, ("valid", "memo", "=A1")),
    # error values
    (
        "#N/A from a formula (optional date)",
        "xlsxwriter",
        {"cancel_date": Error("#N/A")},
        ("rejected", "cancel_date", "Excel error value #N/A"),
    ),
    (
        "#DIV/0! from a formula (yen)",
        "xlsxwriter",
        {"revenue": Error("#DIV/0!")},
        ("rejected", "revenue", "Excel error value #DIV/0!; " + YEN),
    ),
    (
        "#N/A typed (bool)",
        "openpyxl",
        {"it_business": Error("#N/A")},
        ("rejected", "it_business", "Excel error value #N/A; " + BOOL),
    ),
    (
        "#REF! typed (id)",
        "openpyxl",
        {"policy_id": Error("#REF!")},
        ("rejected", "policy_id", "Excel error value #REF!"),
    ),
    (
        "#VALUE! typed (text)",
        "openpyxl",
        {"insured_name": Error("#VALUE!")},
        ("rejected", "insured_name", "Excel error value #VALUE!"),
    ),
    ("#N/A in an extra column is carried through", "xlsxwriter", {"memo": Error("#N/A")}, ("valid", "memo", "#N/A")),
    # text in numeric columns; negative and fractional yen
    ("text in yen", "xlsxwriter", {"revenue": "about 3 oku"}, ("rejected", "revenue", YEN)),
    ("text in a limit", "xlsxwriter", {"liability_limit": "unlimited"}, ("rejected", "liability_limit", YEN)),
    ("negative yen (number)", "xlsxwriter", {"revenue": -5}, ("rejected", "revenue", YEN)),
    ("negative yen (text)", "xlsxwriter", {"revenue": "-1,000"}, ("rejected", "revenue", YEN)),
    ("fractional yen (number)", "xlsxwriter", {"revenue": 1000.5}, ("rejected", "revenue", YEN)),
    ("fractional yen (text)", "xlsxwriter", {"revenue": "1,000.50"}, ("rejected", "revenue", YEN)),
    ("boolean in yen", "xlsxwriter", {"revenue": True}, ("rejected", "revenue", YEN)),
    ("date in yen", "xlsxwriter", {"revenue": dt.date(2026, 4, 1)}, ("rejected", "revenue", YEN)),
    ("huge number in yen", "xlsxwriter", {"revenue": 1e20}, ("rejected", "revenue", "is implausibly large")),
    # digits NFKC would have turned into other digits; full width is read; NaN and infinities
    ("superscript in yen (10⁸)", "xlsxwriter", {"revenue": "10⁸"}, ("rejected", "revenue", NOT_A_DIGIT % "⁸")),
    ("circled number in yen (⑩)", "xlsxwriter", {"revenue": "⑩"}, ("rejected", "revenue", NOT_A_DIGIT % "⑩")),
    ("Arabic-Indic digits in yen", "xlsxwriter", {"revenue": "٣٠٠٠٠٠٠٠٠"}, ("rejected", "revenue", NOT_A_DIGIT % "٣")),
    ("full-width yen", "xlsxwriter", {"revenue": "３００，０００，０００円"}, ("valid", "revenue", 300_000_000)),
    ("<v>NaN</v> in yen", "xlsxwriter", {"revenue": Raw("NaN")}, ("rejected", "revenue", "NaN is not a value")),
    (
        "<v>INF</v> in a limit",
        "xlsxwriter",
        {"liability_limit": Raw("INF")},
        ("rejected", "liability_limit", "is not a value"),
    ),
    (
        "<v>NaN</v> in an optional date",
        "xlsxwriter",
        {"cancel_date": Raw("NaN")},
        ("rejected", "cancel_date", "NaN is not a value"),
    ),
    # look-alike ids and boolean cells where text is expected
    (
        "zero-width space in an id",
        "xlsxwriter",
        {"policy_id": "CS0000001\u200b"},
        ("rejected", "policy_id", "contains an invisible character (U+200B ZERO WIDTH SPACE)"),
    ),
    (
        "BOM in an id",
        "xlsxwriter",
        {"policy_id": "\ufeffCS0000002"},
        ("rejected", "policy_id", "contains an invisible character (U+FEFF"),
    ),
    (
        "TRUE in an id",
        "xlsxwriter",
        {"policy_id": True},
        ("rejected", "policy_id", "a TRUE (boolean) cell is not an id"),
    ),
    (
        "FALSE in text",
        "xlsxwriter",
        {"insured_name": False},
        ("rejected", "insured_name", "a FALSE (boolean) cell is not text"),
    ),
    # dates
    (
        "impossible date (text)",
        "xlsxwriter",
        {"period_start": "2026-02-30"},
        ("rejected", "period_start", "2026-02-30 is not a calendar date"),
    ),
    (
        "impossible era date",
        "xlsxwriter",
        {"period_start": "R8.2.30"},
        ("rejected", "period_start", "R8.2.30 is not a calendar date"),
    ),
    (
        "far-future date (cell)",
        "xlsxwriter",
        {"cancel_date": dt.date(9999, 12, 31)},
        ("rejected", "cancel_date", "9999-12-31 is after 2199-12-31, the latest date accepted"),
    ),
    (
        "far-future date (text)",
        "xlsxwriter",
        {"period_start": "3026-04-01"},
        ("rejected", "period_start", "3026-04-01 is after 2199-12-31"),
    ),
    (
        "serial 60 (Excel shows 1900-02-29) in a date",
        "xlsxwriter",
        {"period_start": Dated(60)},
        ("rejected", "period_start", "1900-02-28 is before 1989-01-08, the earliest date accepted"),
    ),
    (
        "serial 0 in a date (Excel shows 00:00:00)",
        "xlsxwriter",
        {"cancel_date": Dated(0)},
        ("rejected", "cancel_date", DATE),
    ),
    (
        "date typed as a number",
        "xlsxwriter",
        {"period_start": 46113},
        ("rejected", "period_start", "a bare number (46113) is not a date"),
    ),
    ("time-only cell in a date", "openpyxl", {"cancel_date": dt.time(12, 30)}, ("rejected", "cancel_date", DATE)),
    # booleans
    ("text in bool", "xlsxwriter", {"it_business": "perhaps"}, ("rejected", "it_business", BOOL)),
    ("2 in bool", "xlsxwriter", {"leak_only": 2}, ("rejected", "leak_only", BOOL)),
    # very long strings (openpyxl writes them whole; Excel itself stops at 32,767)
    ("100k-character text", "openpyxl", {"insured_name": "x" * 100_000}, ("rejected", "insured_name", LONG)),
    ("100k-character id", "openpyxl", {"policy_id": "H" * 100_000}, ("rejected", "policy_id", LONG)),
    ("100k-character code", "openpyxl", {"plan": "w" * 100_000}, ("rejected", "plan", LONG)),
    # control characters (xlsxwriter escapes them as _xHHHH_, which Excel and calamine decode)
    (
        "NUL in an id",
        "xlsxwriter",
        {"policy_id": "H\x00X"},
        ("rejected", "policy_id", "contains a control character (U+0000)"),
    ),
    (
        "tab in an id",
        "xlsxwriter",
        {"policy_id": "H\tX"},
        ("rejected", "policy_id", "contains a control character (U+0009)"),
    ),
    (
        "BEL in free text",
        "xlsxwriter",
        {"insured_name": "ACME\x07"},
        ("rejected", "insured_name", "contains a control character (U+0007)"),
    ),
    (
        "US in a code",
        "xlsxwriter",
        {"product": "cyber_security\x1f"},
        ("rejected", "product", "contains a control character (U+001F)"),
    ),
    (
        "ESC in a date",
        "xlsxwriter",
        {"period_start": "2026-04-01\x1b"},
        ("rejected", "period_start", "contains a control character (U+001B)"),
    ),
    (
        "line break in free text is kept",
        "xlsxwriter",
        {"insured_name": "ACME\nTokyo"},
        ("valid", "insured_name", "ACME\nTokyo"),
    ),
    # merged data cells: only the top-left cell keeps its value
    (
        "merged cells across a row",
        "openpyxl",
        {"merge": "B:C"},
        ("rejected", "insured_name", "insured_name is required"),
    ),
    # a row holding nothing but an error value is a row, not an empty row
    (
        "row with only an error value",
        "openpyxl",
        {"only": Error("#N/A")},
        ("rejected", "policy_id", "policy_id is required"),
    ),
]


def _rows(writer: str) -> tuple[list[list[Any]], list[str], dict[int, int]]:
    """The sheet of one writer's cases, the merged ranges, and case number -> Excel row."""
    cases = [(number, case) for number, case in enumerate(CASES) if case[1] == writer]
    rows, merged, excel_rows = [], [], {}
    for position, (number, (_, _, changes, _)) in enumerate(cases):
        excel_row = position + 2
        excel_rows[number] = excel_row
        if "only" in changes:
            rows.append({"memo": changes["only"]})
            continue
        if "merge" in changes:
            first, last = changes["merge"].split(":")
            merged.append(f"{first}{excel_row}:{last}{excel_row}")
            changes = {}
        rows.append({**WIDE, "policy_id": f"H{number}", **changes})
    return table(POLICY_COLUMNS, rows), merged, excel_rows


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, tuple[RunKept, dict[int, int]]]:
    """One run per writer, with every case of that writer as one row."""
    results = {}
    for writer in ("xlsxwriter", "openpyxl"):
        folder = tmp_path_factory.mktemp(writer)
        rows, merged, excel_rows = _rows(writer)
        path = folder / "in" / MONTH / "policies.xlsx"
        if writer == "xlsxwriter":
            write_xlsxwriter(path, {"policies": rows})
        else:
            write_openpyxl(path, {"policies": rows}, merged={"policies": merged})
        results[writer] = (run_keeping_history(folder / "in", MONTH, folder / "out"), excel_rows)
    return results


@pytest.mark.parametrize("number", range(len(CASES)), ids=[case[0] for case in CASES])
def test_hostile_cell(runs, number):
    _, writer, _, (outcome, column, expected) = CASES[number]
    result, excel_rows = runs[writer]
    row = excel_rows[number]
    rejected = result.rejected[result.rejected["row"] == row]
    if outcome == "rejected":
        found = dict(zip(rejected["column"], rejected["reason"], strict=True))
        assert expected in found.get(column, ""), found
        assert f"H{number}" not in set(result.history.policies["policy_id"])
    else:
        assert rejected.empty, rejected.to_dict("records")
        valid = result.history.policies.set_index("excel_row").loc[row]
        assert valid[column] == expected


@pytest.mark.parametrize("writer", ["xlsxwriter", "openpyxl"])
def test_every_row_is_processed_or_rejected(runs, writer):
    result, excel_rows = runs[writer]
    sheet = result.reconciliation.iloc[0]
    assert sheet["rows_read"] == len(excel_rows)
    assert sheet["rows_read"] == sheet["rows_processed"] + sheet["rows_rejected"]
    assert set(result.history.policies["excel_row"]) | set(result.rejected["row"]) == set(excel_rows.values())


def test_rejected_cells_show_what_was_typed_and_long_ones_are_shortened(runs):
    result, excel_rows = runs["xlsxwriter"]
    nul = next(n for n, case in enumerate(CASES) if case[0] == "NUL in an id")
    shown = result.rejected[(result.rejected["row"] == excel_rows[nul]) & (result.rejected["column"] == "policy_id")]
    assert shown["value"].tolist() == ["H\x00X"]
    result, excel_rows = runs["openpyxl"]
    long = next(n for n, case in enumerate(CASES) if case[0] == "100k-character text")
    shown = result.rejected[
        (result.rejected["row"] == excel_rows[long]) & (result.rejected["column"] == "insured_name")
    ]
    (value,) = shown["value"].tolist()
    assert value.startswith("x" * 1000) and value.endswith("… (100,000 characters)") and len(value) < 1100


@pytest.mark.parametrize(
    ("case", "shown"),
    [
        ("serial 0 in a date (Excel shows 00:00:00)", "00:00:00 (a date or time format, serial 0"),
        (
            "serial 60 (Excel shows 1900-02-29) in a date",
            "1900-02-28 (a date format, serial 59 or 60: Excel shows 60 as 1900-02-29, a day that never was)",
        ),
    ],
)
def test_rejected_date_cells_show_the_serial_they_hold(runs, case, shown):
    result, excel_rows = runs["xlsxwriter"]
    number = next(n for n, c in enumerate(CASES) if c[0] == case)
    row = result.rejected[result.rejected["row"] == excel_rows[number]]
    column = CASES[number][3][1]
    (value,) = row.loc[row["column"] == column, "value"].tolist()
    assert value.startswith(shown), value


def test_outputs_of_hostile_cells_read_back(runs):
    """Control characters and error texts in the outputs survive the trip through xlsx."""
    from python_calamine import CalamineWorkbook

    result, _ = runs["xlsxwriter"]
    rows = CalamineWorkbook.from_path(str(Path(result.output_folder) / "rejected.xlsx")).get_sheet_by_name("rejected")
    header, *cells = rows.to_python()
    values = [row[header.index("value")] for row in cells]
    assert values == result.rejected["value"].tolist()
