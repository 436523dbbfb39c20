"""The workbook writer, read back with openpyxl (DATA_CONTRACT.md § Output: money as numbers, #,##0),
with both back ends (Rust-backed and xlsxwriter): the same values, formats and layout."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from python_calamine import CalamineWorkbook

from pipeline.errors import FatalInputError
from pipeline.io import workbook_rust
from pipeline.io.workbook import (
    DOCUMENT_CREATED,
    WRITER_VARIABLE,
    Chart,
    Document,
    Sheet,
    column_kind,
    display_width,
    requested_backend,
    workbook_backend,
    write_workbook,
)
from pipeline.io.workbook_rust import CORE_PROPERTIES, file_with_member
from tests.e2e.test_roundtrip import differing_cells
from tests.unit.test_reports import sample_workbooks


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "policy_id": ["1001", "P0002", "P0003"],
            "written_premium": pd.array([1_234_567, None, 0], dtype="Int64"),
            "period_start": pd.to_datetime(pd.Series(["2026-04-01", None, "2026-05-31"])),
            "leak_only": [True, False, True],
            "loss_ratio": [0.1234, float("nan"), 1.5],
            "insured_name": ["=1+1", "株式会社テスト", None],
            "excel_row": [2, 3, 4],
        }
    )


@pytest.fixture(
    params=[(False, "xlsxwriter"), (True, "xlsxwriter"), (False, "rust"), (True, "rust")],
    ids=["table-xlsxwriter", "constant_memory-xlsxwriter", "table-rust", "constant_memory-rust"],
)
def written(request: pytest.FixtureRequest, tmp_path: Path) -> openpyxl.Workbook:
    path = tmp_path / "book.xlsx"
    constant_memory, backend = request.param
    charts = (Chart("Premium", "policy_id", ("written_premium",)),)
    cells = 1 if constant_memory else 10_000_000
    used = write_workbook(
        path, [Sheet("policies", _frame(), charts=charts)], constant_memory_cells=cells, backend=backend
    )
    assert used == backend
    return openpyxl.load_workbook(path)


def test_values_are_typed(written: openpyxl.Workbook) -> None:
    ws = written["policies"]
    assert [c.value for c in ws[1]] == list(_frame().columns)
    assert ws["A2"].value == "1001" and ws["A2"].data_type == "s"  # an id stays text
    assert ws["B2"].value == 1_234_567 and ws["B2"].data_type == "n"
    assert ws["B3"].value is None
    assert ws["C2"].value == dt.datetime(2026, 4, 1)
    assert ws["D2"].value is True
    assert ws["E2"].value == pytest.approx(0.1234)
    assert ws["F2"].value == "=1+1" and ws["F2"].data_type == "s"  # never a formula
    assert ws["F3"].value == "株式会社テスト"


def test_formats(written: openpyxl.Workbook) -> None:
    ws = written["policies"]
    assert ws["B2"].number_format == "#,##0"
    assert ws["B4"].number_format == "#,##0"
    assert ws["C2"].number_format == "yyyy-mm-dd"
    assert ws["E2"].number_format == "0.0%"
    assert ws["G2"].number_format == "0"  # an Excel row number is not yen


def test_header_frozen_and_filtered(written: openpyxl.Workbook) -> None:
    ws = written["policies"]
    assert ws.freeze_panes == "A2"
    assert ws.tables or ws.auto_filter.ref
    widths = [ws.column_dimensions[c].width for c in "ABCDEFG"]
    assert all(6 <= w <= 60 for w in widths)


def test_table_mode_makes_an_excel_table(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    write_workbook(path, [Sheet("policies", _frame()), Sheet("empty", _frame().iloc[0:0])])
    book = openpyxl.load_workbook(path)
    table = book["policies"].tables["t_policies"]
    assert table.ref == "A1:G4"
    assert table.tableStyleInfo.showRowStripes
    assert book["empty"]["A1"].value == "policy_id"


def test_chart_is_written(tmp_path: Path) -> None:
    path = tmp_path / "c.xlsx"
    write_workbook(path, [Sheet("s", _frame(), charts=(Chart("Premium", "policy_id", ("written_premium",)),))])
    with zipfile.ZipFile(path) as archive:
        charts = [n for n in archive.namelist() if n.startswith("xl/charts/chart")]
        assert charts
        assert b"Premium" in archive.read(charts[0])


def test_row_kinds_format_each_row(tmp_path: Path) -> None:
    frame = pd.DataFrame({"figure": ["a", "b"], "kind": ["money", "percent"], "to_date": [1_000, 0.5]})
    path = tmp_path / "k.xlsx"
    write_workbook(path, [Sheet("kpi", frame, row_kind="kind")])
    ws = openpyxl.load_workbook(path)["kpi"]
    assert [c.value for c in ws[1]] == ["figure", "to_date"]
    assert (ws["B2"].number_format, ws["B3"].number_format) == ("#,##0", "0.0%")


def test_column_kinds_registry() -> None:
    assert column_kind("payable", pd.Series([1], dtype="int64")) == "money"
    assert column_kind("victims", pd.Series([1], dtype="Int64")) == "count"
    assert column_kind("layer_used_share", pd.Series([0.5])) == "percent"
    assert column_kind("known_date", pd.to_datetime(pd.Series(["2026-04-01"]))) == "date"
    assert column_kind("claim_id", pd.Series(["C1"])) == "text"
    assert column_kind("rows_read", pd.Series([1])) == "count"


def test_japanese_headers_and_cells(tmp_path: Path) -> None:
    for name, sheets in sample_workbooks("ja").items():
        write_workbook(tmp_path / name, sheets)
    book = openpyxl.load_workbook(tmp_path / "claims_annotated.xlsx")
    headers = [c.value for c in book["lines"][1]]
    assert headers[:4] == ["明細番号", "事故番号", "費目", "金額"]
    assert "支払額" in headers and "不支払理由" in headers
    summary = openpyxl.load_workbook(tmp_path / "portfolio_summary.xlsx")
    assert summary.sheetnames[0] == "about"
    assert "reinsurance_claims" in summary.sheetnames
    assert [c.value for c in summary["reinsurance_claims"][1]][:2] == ["事故番号", "証券番号"]


def test_english_headers_are_the_contract_names(tmp_path: Path) -> None:
    for name, sheets in sample_workbooks("en").items():
        write_workbook(tmp_path / name, sheets)
    summary = openpyxl.load_workbook(tmp_path / "portfolio_summary.xlsx")
    header = [c.value for c in summary["reinsurance_claims"][1]]
    assert {"claim_id", "qs_recovery", "retained", "xol_recovery", "net"} <= set(header)
    assert {"policy_id", "ceded_premium", "commission"} <= {c.value for c in summary["reinsurance_policies"][1]}
    ws = summary["reinsurance_claims"]
    column = header.index("xol_recovery") + 1
    assert ws.cell(2, column).number_format == "#,##0"
    value = ws.cell(2, column).value  # a number, not text: the Rust writer stores 1234.0 (openpyxl: float)
    assert isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer()
    policies = openpyxl.load_workbook(tmp_path / "policies_annotated.xlsx")["policies"]
    header = [c.value for c in policies[1]]
    assert policies.cell(2, header.index("period_start") + 1).is_date
    assert policies.cell(2, header.index("written_premium") + 1).number_format == "#,##0"


# -- what a workbook says about itself, widths and wrapping (#16) ----------------------------------


def test_document_properties_and_page_header_and_footer(tmp_path: Path) -> None:
    document = Document(
        title="Portfolio summary as at 2027-03",
        subject="Key figures as at 2027-03",
        keywords="cyber-bordereaux, 2027-03",
        author="cyber-bordereaux 0.1.0",
        created=dt.datetime(2027, 3, 31, tzinfo=dt.UTC),
        header=("R&D book.xlsx", "{sheet}", "as at 2027-03"),
        footer=("", "page {page} of {pages}", ""),
    )
    path = tmp_path / "d.xlsx"
    write_workbook(path, [Sheet("s", _frame()), Sheet("t", _frame())], document=document)
    book = openpyxl.load_workbook(path)
    assert book.properties.title == document.title and book.properties.keywords == document.keywords
    assert book.properties.created == dt.datetime(2027, 3, 31)
    for sheet in book.worksheets:
        assert sheet.oddHeader.left.text == "R&&D book.xlsx"  # a literal & is doubled in a header
        assert (sheet.oddHeader.center.text, sheet.oddHeader.right.text) == ("&A", "as at 2027-03")
        assert sheet.oddFooter.center.text == "page &P of &N"
        assert sheet.page_setup.orientation == "landscape" and sheet.page_setup.fitToHeight == 0


def test_the_same_document_gives_the_same_bytes(tmp_path: Path) -> None:
    document = Document(title="t", created=dt.datetime(2027, 3, 31, tzinfo=dt.UTC))
    first, second = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    write_workbook(first, [Sheet("s", _frame())], document=document)
    write_workbook(second, [Sheet("s", _frame())], document=document)
    assert first.read_bytes() == second.read_bytes()


def test_display_width_counts_wide_characters_twice() -> None:
    assert display_width("事故通知受領日") == 14
    assert display_width("ABC") == 3
    assert display_width("ｱｲｳ") == 3  # half-width katakana is narrow
    assert display_width("ＡＢ1") == 5  # full-width letters are wide
    assert display_width("賠償 limit") == 10


@pytest.mark.parametrize("backend", ["rust", "xlsxwriter"])
def test_long_text_wraps_and_its_row_grows(tmp_path: Path, backend: str) -> None:
    reason = "支払限度額は次のいずれかとしてください：" + "、".join(
        f"{n:,}" for n in range(10_000_000, 110_000_000, 10_000_000)
    )
    frame = pd.DataFrame({"row": [2, 3], "reason": [reason, "短い"], "rows": [1_234_567, 2]})
    path = tmp_path / "w.xlsx"
    write_workbook(path, [Sheet("rejected", frame)], backend=backend)
    sheet = openpyxl.load_workbook(path)["rejected"]
    assert sheet["B2"].alignment.wrap_text
    # the other cells of a sheet with taller rows sit at the top, level with the wrapped text's first line
    assert sheet["A2"].alignment.vertical == sheet["C2"].alignment.vertical == "top"
    assert sheet["C2"].number_format == "#,##0" and sheet["C2"].value == 1_234_567
    width = sheet.column_dimensions["B"].width
    lines = sheet.row_dimensions[2].height / 15
    assert lines >= display_width(reason) / width and sheet.row_dimensions[3].height is None


def test_a_chart_over_some_rows_has_flat_labels_and_its_own_page(tmp_path: Path) -> None:
    chart = Chart("Premium", "policy_id", ("written_premium",), kind="bar", rows=(1, 2))
    path = tmp_path / "c.xlsx"
    write_workbook(path, [Sheet("s", _frame(), charts=(chart,))])
    with zipfile.ZipFile(path) as archive:
        xml = archive.read("xl/charts/chart1.xml").decode()
    assert "$A$3:$A$4" in xml and "$B$3:$B$4" in xml
    assert 'rot="0"' in xml
    assert openpyxl.load_workbook(path)["s"].row_breaks.count == 1


def test_the_note_of_a_sheet_written_as_parquet_is_in_the_workbooks_language(tmp_path: Path) -> None:
    from pipeline.io.outputs import output_files
    from pipeline.products import load_products
    from pipeline.reports.labels import labels_for

    labels = labels_for(load_products(), "ja")
    files, moved = output_files({"claims_annotated.xlsx": [Sheet("lines", _frame())]}, 2, note=labels.parquet_note())
    assert moved == [
        {
            "workbook": "claims_annotated.xlsx",
            "sheet": "lines",
            "file": "claims_annotated.lines.parquet",
            "rows": 3,
            "parts": 1,
        }
    ]
    files["claims_annotated.xlsx"](tmp_path / "claims_annotated.xlsx")
    rows = list(openpyxl.load_workbook(tmp_path / "claims_annotated.xlsx")["lines"].iter_rows(values_only=True))
    assert rows[0] == ("注記",) and "3行" in rows[1][0] and "claims_annotated.lines.parquet" in rows[2][0]


# -- the two back ends ------------------------------------------------------------------------------


def _calamine_cells(path: Path) -> dict[str, list[list[Any]]]:
    book = CalamineWorkbook.from_path(str(path))
    return {name: book.get_sheet_by_name(name).to_python(skip_empty_area=False) for name in book.sheet_names}


def _looks(path: Path) -> dict[str, object]:
    """What a reader sees of each sheet besides the values: every cell's number format, the header
    style, frozen panes, column widths, table or filter, banding, print settings."""
    book = openpyxl.load_workbook(path)
    seen: dict[str, object] = {}
    for ws in book.worksheets:
        header = ws["A1"]
        seen[ws.title] = {
            "formats": [[cell.number_format for cell in row] for row in ws.iter_rows(min_row=2)],
            "aligned": [[cell.alignment.vertical for cell in row] for row in ws.iter_rows(min_row=2)],
            "header": (header.font.b, header.fill.fgColor.rgb, header.alignment.wrap_text, header.border.left.style),
            "header_height": ws.row_dimensions[1].height,
            "freeze": ws.freeze_panes,
            "widths": {  # one <col> may span adjacent columns alike (the Rust writer joins them)
                column: round(dim.width, 2)
                for dim in ws.column_dimensions.values()
                for column in range(dim.min or 1, (dim.max or dim.min or 1) + 1)
            },
            "tables": {name: (ws.tables[name].ref, ws.tables[name].tableStyleInfo.name) for name in ws.tables},
            "filter": ws.auto_filter.ref,
            "banding": [str(rule.formula) for rules in ws.conditional_formatting for rule in rules.rules],
            "print": (
                ws.page_setup.orientation,
                str(ws.page_setup.paperSize),
                ws.print_title_rows,
                ws.sheet_properties.pageSetUpPr.fitToPage if ws.sheet_properties.pageSetUpPr else None,
                ws.page_setup.fitToWidth if ws.sheet_properties.pageSetUpPr else None,
            ),
        }
    return seen


@pytest.mark.parametrize("lang", ["en", "ja"])
@pytest.mark.parametrize("cells", [10_000_000, 1], ids=["table", "constant_memory"])
def test_both_back_ends_write_the_same_workbooks(tmp_path: Path, lang: str, cells: int) -> None:
    """Every sample workbook: the same cell values (calamine), the same look (openpyxl) and the same
    charts from the Rust-backed writer and from xlsxwriter."""
    for name, sheets in sample_workbooks(lang).items():
        rust, fallback = tmp_path / f"rust-{name}", tmp_path / f"xlsxwriter-{name}"
        assert write_workbook(rust, sheets, constant_memory_cells=cells, backend="rust") == "rust"
        assert write_workbook(fallback, sheets, constant_memory_cells=cells, backend="xlsxwriter") == "xlsxwriter"
        one, two = _calamine_cells(rust), _calamine_cells(fallback)
        assert one.keys() == two.keys(), name
        for sheet in one:
            assert not differing_cells(one[sheet], two[sheet]), f"{name}/{sheet}"
        assert _looks(rust) == _looks(fallback), name
        assert _charts(rust) == _charts(fallback), name


def _charts(path: Path) -> list[dict[str, Any]]:
    """What each native chart shows: its type and direction, series ranges, titles, value-axis number
    format, legend and markers (xlsxwriter also writes the category axis's default ``General``)."""
    with zipfile.ZipFile(path) as archive:
        names = sorted(n for n in archive.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n))
        found = []
        for name in names:
            xml = archive.read(name).decode()
            found.append(
                {
                    "type": re.findall(r"<c:(\w+Chart)>", xml),
                    "direction": re.findall(r'<c:barDir val="(\w+)"', xml),
                    "ranges": re.findall(r"<c:f>([^<]*)</c:f>", xml),
                    "texts": re.findall(r"<a:t>([^<]*)</a:t>", xml),
                    "axes": re.findall(r'<c:orientation val="(\w+)"', xml),
                    "formats": [f for f in re.findall(r'formatCode="([^"]*)"', xml) if f != "General"],
                    "legend": re.findall(r'<c:legendPos val="(\w+)"', xml),
                    "markers": re.findall(r'<c:symbol val="(\w+)"', xml),
                }
            )
    return found


def test_rust_reruns_are_byte_identical_and_dated(tmp_path: Path) -> None:
    sheets = sample_workbooks("ja")["claims_annotated.xlsx"]
    first, second = tmp_path / "a" / "book.xlsx", tmp_path / "b" / "book.xlsx"  # the title is the file name
    first.parent.mkdir()
    second.parent.mkdir()
    write_workbook(first, sheets, backend="rust")
    write_workbook(second, sheets, backend="rust")
    assert first.read_bytes() == second.read_bytes()
    assert sorted(first.parent.iterdir()) == [first]  # the file the binding wrote is gone
    core = zipfile.ZipFile(first).read(CORE_PROPERTIES).decode()
    stamp = DOCUMENT_CREATED.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert f">{stamp}</dcterms:created>" in core and f">{stamp}</dcterms:modified>" in core
    assert openpyxl.load_workbook(first).properties.created == DOCUMENT_CREATED.replace(tzinfo=None)


def _small_archive(path: Path, comment: bytes = b"") -> Path:
    """A zip of three deflated members, ``docProps/core.xml`` saying ``now``."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.xml", "<a>" + "x" * 5000 + "</a>")
        archive.writestr("docProps/core.xml", "<when>now</when>")
        archive.writestr("b/c.bin", bytes(range(256)) * 40)
        archive.comment = comment
    return path


def test_replacing_one_zip_member_copies_the_others_byte_for_byte(tmp_path: Path) -> None:
    path = _small_archive(tmp_path / "z.zip")
    file_with_member(
        path, tmp_path / "copy.zip", "docProps/core.xml", lambda text: text.replace(b"now", b"then, fixed")
    )
    original, changed = path.read_bytes(), (tmp_path / "copy.zip").read_bytes()
    before, after = zipfile.ZipFile(path), zipfile.ZipFile(io.BytesIO(changed))
    assert after.testzip() is None
    assert after.namelist() == before.namelist()
    assert after.read("docProps/core.xml") == b"<when>then, fixed</when>"
    for name in ("a.xml", "b/c.bin"):
        old, new = before.getinfo(name), after.getinfo(name)
        assert after.read(name) == before.read(name)
        raw_old = original[old.header_offset : old.header_offset + 30 + len(name) + old.compress_size]
        raw_new = changed[new.header_offset : new.header_offset + 30 + len(name) + new.compress_size]
        assert raw_new == raw_old  # local header and compressed bytes copied, not recompressed


def test_a_member_replaced_in_small_slices_gives_the_same_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other members copied a few bytes at a time give the same bytes as in one slice (an
    archive comment kept)."""
    path = _small_archive(tmp_path / "z.zip", comment=b"a comment")

    def change(text: bytes) -> bytes:
        return text.replace(b"now", b"then")

    file_with_member(path, tmp_path / "whole.zip", "docProps/core.xml", change)
    monkeypatch.setattr(workbook_rust, "COPY_BYTES", 7)
    file_with_member(path, tmp_path / "sliced.zip", "docProps/core.xml", change)
    assert (tmp_path / "sliced.zip").read_bytes() == (tmp_path / "whole.zip").read_bytes()
    assert zipfile.ZipFile(tmp_path / "sliced.zip").read("docProps/core.xml") == b"<when>then</when>"
    assert zipfile.ZipFile(tmp_path / "sliced.zip").comment == b"a comment"
    (tmp_path / "plain.txt").write_bytes(b"no archive here")
    with pytest.raises(ValueError, match="not a zip"):
        file_with_member(tmp_path / "plain.txt", tmp_path / "out.zip", "docProps/core.xml", change)


def test_the_back_end_is_chosen_by_option_or_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = [Sheet("policies", _frame())]
    monkeypatch.delenv(WRITER_VARIABLE, raising=False)
    assert requested_backend() == "rust"
    assert workbook_backend(plain) == "rust"
    monkeypatch.setenv(WRITER_VARIABLE, "xlsxwriter")
    assert workbook_backend(plain) == "xlsxwriter"
    assert workbook_backend(plain, "rust") == "rust"
    monkeypatch.setenv(WRITER_VARIABLE, "excel")
    with pytest.raises(FatalInputError, match=WRITER_VARIABLE):
        workbook_backend(plain)
