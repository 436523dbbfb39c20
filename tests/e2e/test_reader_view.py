"""What a reader of the sample book's workbooks sees (issue #16): every workbook says what it is,
Japanese all the way with ``--lang ja``, the tool-facing triangle loads in chainladder the same in
both languages, the KPIs are complete, and columns are wide enough for Japanese headers."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from pipeline.io.workbook import display_width
from pipeline.products import DEFAULT_PRODUCTS_DIR, load_products
from pipeline.reports.labels import labels_for
from pipeline.reports.portfolio import TOOL_SHEETS
from pipeline.reports.rejected import reason_in_japanese
from pipeline.reports.triangle import LONG_COLUMNS
from pipeline.run import RunResult, run_month

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data" / "tokyo-agency"  # one cover-holder: ids as sent
MONTH = "2027-03"
WORKBOOKS = ("policies_annotated.xlsx", "claims_annotated.xlsx", "portfolio_summary.xlsx", "rejected.xlsx")
ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")
JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff01-\uff5e]")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, RunResult]:
    """The sample book as at its last month, once in each language (sharing the parse cache)."""
    root = tmp_path_factory.mktemp("reader")
    return {lang: run_month(SAMPLE, MONTH, root / lang, lang=lang, cache_dir=root / "cache") for lang in ("en", "ja")}


def _book(result: RunResult, name: str) -> openpyxl.Workbook:
    return openpyxl.load_workbook(result.output_folder / name)


def _input_headers() -> set[str]:
    """Every header of the sample book's input sheets: a header the user typed stays as typed."""
    headers: set[str] = set()
    for path in sorted(SAMPLE.glob("*/*.xlsx")):
        book = openpyxl.load_workbook(path, read_only=True)
        for sheet in book.worksheets:
            first = next(sheet.iter_rows(max_row=1, values_only=True), ())
            headers.update(unicodedata.normalize("NFKC", str(v)).strip() for v in first if v is not None)
        book.close()
    return headers


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_every_workbook_says_what_it_is(runs, lang):
    result = runs[lang]
    for name in WORKBOOKS:
        book = _book(result, name)
        assert book.sheetnames[0] == "run", name
        values = [row[1] for row in book["run"].iter_rows(min_row=2, values_only=True)]
        assert MONTH in values and "2027-03-31" in values and str(SAMPLE) in values, name
        assert f"{int(result.reconciliation['rows_read'].iloc[-1]):,}" in values
        assert any(len(v) == 12 and re.fullmatch(r"[0-9a-f]+", v) for v in values)  # product data version
        properties = book.properties
        assert MONTH in properties.title and MONTH in properties.keywords and MONTH in properties.subject, name
        assert properties.created == dt.datetime(2027, 3, 31)
        assert properties.creator.startswith("cyber-bordereaux ")
        for sheet in book.worksheets:
            assert name in sheet.oddHeader.left.text and MONTH in sheet.oddHeader.right.text, (name, sheet.title)
            assert sheet.oddHeader.center.text == "&A"
            assert "&P" in sheet.oddFooter.center.text and "&N" in sheet.oddFooter.center.text
            assert sheet.page_setup.orientation == "landscape"
            assert (
                sheet.page_setup.fitToWidth in (None, 1) and sheet.page_setup.fitToHeight == 0
            )  # 1 is Excel's default
            assert sheet.sheet_properties.pageSetUpPr.fitToPage


def test_no_english_left_in_a_japanese_workbook(runs):
    result = runs["ja"]
    typed = _input_headers()
    book = load_products(DEFAULT_PRODUCTS_DIR)
    codes = {*book.products, *book.event_types, *book.items()["item"], "standard", "ok", "refer"}
    for name in WORKBOOKS:
        workbook = _book(result, name)
        for sheet in workbook.worksheets:
            rows = list(sheet.iter_rows(values_only=True))
            headers = [str(h) for h in rows[0]]
            if sheet.title in TOOL_SHEETS:
                assert headers == list(LONG_COLUMNS)
                continue
            for header in headers:
                as_typed = re.sub(r" \(\d+\)$", "", header)  # a repeated input header is numbered
                assert JAPANESE.search(header) or as_typed in typed, f"{name}/{sheet.title}: header {header!r}"
            if sheet.title in ("run", "about"):
                continue
            skip = {headers.index(h) for h in ("値", "不備の内容と修正方法", "元ファイル", "元シート") if h in headers}
            for row in rows[1:]:
                for index, cell in enumerate(row):
                    if isinstance(cell, str) and index not in skip:
                        words = set(ENGLISH_WORD.findall(cell))
                        assert not words & codes, f"{name}/{sheet.title}: code left in {cell!r}"
    about = pd.read_excel(result.output_folder / "portfolio_summary.xlsx", sheet_name="about", engine="openpyxl")
    meanings = about.iloc[:, 3].fillna("")
    untranslated = about[~meanings.str.contains(JAPANESE.pattern)]
    assert untranslated.empty, untranslated.iloc[:, :2].to_string()
    sheets = about[about.iloc[:, 0] == "シート"]
    assert (sheets.iloc[:, 3] != sheets.iloc[:, 2]).all(), "a sheet's meaning repeats its name"
    kpi = pd.read_excel(result.output_folder / "portfolio_summary.xlsx", sheet_name="kpi", engine="openpyxl")
    assert kpi.iloc[:, 0].str.contains(JAPANESE.pattern).all()


def test_every_rejection_reason_is_in_japanese_with_its_values(runs):
    result = runs["ja"]
    labels = labels_for(result.book, "ja")
    for reason in result.rejected["reason"].unique():
        japanese, complete = reason_in_japanese(reason, labels)
        assert complete, reason
        for value in re.findall(r"\d{4}-\d{2}(?:-\d{2})?|\d[\d,]{3,}\d", reason):
            assert value in japanese, (reason, japanese)
    shown = pd.read_excel(result.output_folder / "rejected.xlsx", sheet_name="rejected", engine="openpyxl")
    assert list(shown.columns) == [
        "代理店",
        "報告月",
        "ファイル",
        "シート",
        "元のシート名",
        "行番号",
        "列",
        "元の列見出し",
        "値",
        "不備の内容と修正方法",
    ]
    assert len(shown) == len(result.rejected)
    assert shown["不備の内容と修正方法"].str.contains(JAPANESE.pattern).all()
    english = pd.read_excel(runs["en"].output_folder / "rejected.xlsx", sheet_name="rejected", engine="openpyxl")
    assert list(english.columns) == [
        "coverholder",
        "month",
        "file",
        "sheet",
        "sheet_as_named",
        "row",
        "column",
        "column_as_written",
        "value",
        "reason",
    ]
    assert english["reason"].tolist() == result.rejected["reason"].tolist()


def test_triangle_long_loads_in_chainladder_alike_in_both_languages(runs):
    cl = pytest.importorskip("chainladder", reason="chainladder is a dev dependency (pyproject.toml [dev])")
    latest = {}
    for lang, result in runs.items():
        path = result.output_folder / "portfolio_summary.xlsx"
        about = pd.read_excel(path, sheet_name="about", engine="openpyxl")
        meaning = about[about.iloc[:, 1] == "triangle_long"].iloc[0, 3]
        call = re.search(r"cl\.Triangle\(.*?\)(?=\.|。|$)", meaning)
        assert call, meaning
        assert "columns=['cumulative']" in call.group() and "cumulative=True" in call.group()
        df = pd.read_excel(path, sheet_name="triangle_long", engine="openpyxl")
        assert list(df.columns) == list(LONG_COLUMNS)
        triangle = eval(call.group(), {"cl": cl, "df": df})
        latest[lang] = float(triangle.latest_diagonal.sum())
        to_date = df.loc[df["reporting_month"] == MONTH, "cumulative"].sum()
        assert latest[lang] == pytest.approx(to_date)
    assert latest["en"] == latest["ja"]


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_every_kpi_has_its_this_month_figure(runs, lang):
    result = runs[lang]
    kpi = pd.read_excel(result.output_folder / "portfolio_summary.xlsx", sheet_name="kpi", engine="openpyxl")
    assert kpi.iloc[:, 3].notna().all(), kpi.to_string()
    figures = dict(zip(kpi.iloc[:, 0], kpi.iloc[:, 3], strict=False))
    labels = labels_for(result.book, lang)
    claims = figures[labels.text("figures", "claims")]
    assert claims == len(result.claims) - len(result.claims_previous)
    liability, expense, total = (
        figures[labels.text("figures", key)] for key in ("payable_liability", "payable_expense", "payable_total")
    )
    assert liability + expense == total == int(result.claims["payable_this_month"].sum())


def _widths(sheet) -> dict[int, float]:
    """Column widths by 1-based column number (a <col> element may span several columns)."""
    widths: dict[int, float] = {}
    for dimension in sheet.column_dimensions.values():
        for number in range(dimension.min, dimension.max + 1):
            widths[number] = dimension.width
    return widths


def test_japanese_headers_fit_their_columns(runs):
    result = runs["ja"]
    for name in ("claims_annotated.xlsx", "policies_annotated.xlsx"):
        book = _book(result, name)
        for sheet in book.worksheets[1:]:
            widths = _widths(sheet)
            header = next(iter(sheet.iter_rows(max_row=1, values_only=True)))
            for number, text in enumerate(header, start=1):
                assert widths[number] >= min(display_width(str(text)) + 3, 48), (name, text, widths[number])
    rejected = _book(result, "rejected.xlsx")["rejected"]
    header = [cell.value for cell in rejected[1]]
    reason = rejected.cell(2, header.index("不備の内容と修正方法") + 1)
    assert reason.alignment.wrap_text, "long reasons wrap"
