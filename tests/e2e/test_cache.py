"""The parse cache never changes a result (README § Cache and Parquet): a run with the cache gives the
same workbooks and counts as a run without it, after an earlier month's workbook is edited, and when
the product data changes; a cached month's workbooks are never opened; dtypes round-trip exactly; a
damaged entry is ignored and rebuilt."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from python_calamine import CalamineWorkbook

from pipeline.__main__ import main
from pipeline.io import cache as parse_cache
from pipeline.io import layouts, read
from pipeline.io.find import find_bordereaux
from pipeline.io.read import read_month
from pipeline.products import DEFAULT_PRODUCTS_DIR, load_products
from pipeline.reports.run_info import RUN_SHEET
from pipeline.run import RunResult, run_month
from pipeline.sample import generate_book
from pipeline.stages.validate import nothing_known, row_checked, validate_month
from pipeline.tables import MonthValidated
from tests.helpers import RunKept, run_keeping_history
from tests.unit.test_validate import CLAIM, LINE, LITE, WIDE
from tests.workbooks import write_bordereau

MONTHS = ["2026-04", "2026-05", "2026-06", "2026-07"]
LAST = MONTHS[-1]


@pytest.fixture(scope="module")
def book_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("book") / "in"
    generate_book(folder, policies=60, months=len(MONTHS))
    return folder


@pytest.fixture(scope="module")
def fresh(book_folder, tmp_path_factory) -> RunKept:
    """The unedited book run without the cache: what every cached run must equal."""
    return run_keeping_history(book_folder, LAST, tmp_path_factory.mktemp("fresh") / "out", use_cache=False)


@pytest.fixture
def book(book_folder, tmp_path) -> Path:
    """A copy of the generated book that a test may edit."""
    shutil.copytree(book_folder, tmp_path / "in")
    return tmp_path / "in"


@pytest.fixture
def opened(monkeypatch) -> list[str]:
    """The input files the run opens (relative names), in order (the run reads the contract's files
    through the cover-holder's reader, pipeline.io.layouts)."""
    files: list[str] = []
    real = read.read_file

    def spy(source):
        files.append(source.file)
        return real(source)

    monkeypatch.setattr(layouts, "read_file", spy)
    return files


def cells(folder: Path) -> dict[str, object]:
    """Every cell value of every workbook of an output folder, and the manifest's counts and inputs."""
    values: dict[str, object] = {}
    for path in sorted(folder.glob("*.xlsx")):
        workbook = CalamineWorkbook.from_path(str(path))
        for name in workbook.sheet_names:
            rows = workbook.get_sheet_by_name(name).to_python()
            if name == RUN_SHEET:  # the run sheet names the input folder, a copy of the book here
                rows = [row for row in rows if row[0] != "Input folder"]
            values[f"{path.name}/{name}"] = rows
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    for key in ("counts", "inputs", "rejected_rows", "outputs"):
        values[f"manifest/{key}"] = manifest[key]
    return values


def assert_same_run(cached: RunKept, fresh: RunKept) -> None:
    assert cells(cached.output_folder) == cells(fresh.output_folder)
    for table in ("policies", "claims", "lines"):
        pd.testing.assert_frame_equal(getattr(cached.history, table), getattr(fresh.history, table), obj=table)
    pd.testing.assert_frame_equal(cached.rejected, fresh.rejected)
    pd.testing.assert_frame_equal(cached.counts, fresh.counts)
    assert cached.inputs == fresh.inputs


def manifest_cache(result: RunResult) -> dict[str, object]:
    return json.loads((result.output_folder / "manifest.json").read_text(encoding="utf-8"))["cache"]


def test_a_cached_run_equals_an_uncached_run_and_opens_no_cached_workbook(book, tmp_path, opened, fresh):
    assert not (fresh.output_folder.parent / ".cache").exists()
    assert fresh.cached_months == [] and manifest_cache(fresh) is None

    first = run_keeping_history(book, LAST, tmp_path / "out")
    assert first.cached_months == [] and len(opened) == len(first.inputs)
    assert sorted(p.name for p in (tmp_path / "out" / ".cache").iterdir()) == MONTHS
    opened.clear()

    second = run_keeping_history(book, LAST, tmp_path / "out")
    assert opened == []  # every month from the cache: no workbook opened
    assert second.cached_months == MONTHS
    assert manifest_cache(second) == {"folder": ".cache", "months_from_cache": MONTHS}
    assert_same_run(second, fresh)
    assert_same_run(first, fresh)

    earlier = run_keeping_history(book, "2026-05", tmp_path / "out")  # an earlier month: its months are cached too
    assert opened == [] and earlier.cached_months == MONTHS[:2]
    assert_same_run(earlier, run_keeping_history(book, "2026-05", tmp_path / "fresh-05", use_cache=False))


def test_editing_an_earlier_month_reparses_it_and_every_later_month(book, tmp_path, opened):
    before = run_keeping_history(book, LAST, tmp_path / "out")
    path = book / "2026-05" / "policies.xlsx"
    workbook = openpyxl.load_workbook(path)
    sheet = workbook["policies"]
    sheet.cell(2, 2).value = "no_such_product"  # a policy of May rejected: its later claims are too
    sheet.cell(3, 3).value = "renamed in May"
    workbook.save(path)
    opened.clear()

    again = run_keeping_history(book, LAST, tmp_path / "out")
    assert again.cached_months == ["2026-04"]
    assert {name.split("/")[0] for name in opened} == set(MONTHS[1:])
    assert not any(name.startswith("2026-04/") for name in opened)
    fresh = run_keeping_history(book, LAST, tmp_path / "fresh", use_cache=False)
    assert_same_run(again, fresh)
    assert len(fresh.rejected) > len(before.rejected)
    # the old entries of the edited months were replaced, not kept beside the new ones
    for month in MONTHS:
        assert len(list((tmp_path / "out" / ".cache" / month).iterdir())) == 1


def test_changed_product_data_invalidates_every_month(book, tmp_path, fresh):
    products = tmp_path / "products"
    shutil.copytree(DEFAULT_PRODUCTS_DIR, products)
    assert run_month(book, LAST, tmp_path / "out", products_dir=products).cached_months == []

    product_file = products / "cyber_security" / "product.toml"
    text = product_file.read_text(encoding="utf-8")
    assert "liability_deductible = [0, 10_000, " in text
    product_file.write_text(text.replace("liability_deductible = [0, ", "liability_deductible = ["), encoding="utf-8")
    again = run_keeping_history(book, LAST, tmp_path / "out", products_dir=products)
    assert again.cached_months == []
    assert_same_run(again, run_keeping_history(book, LAST, tmp_path / "fresh", products_dir=products, use_cache=False))
    assert len(again.rejected) > len(fresh.rejected)  # a deductible of 0 is no longer an option


def test_a_damaged_entry_is_ignored_and_rebuilt(book, tmp_path, caplog, fresh):
    run_month(book, LAST, tmp_path / "out")
    cache = tmp_path / "out" / ".cache"
    (entry_05,) = (cache / "2026-05").iterdir()
    data = (entry_05 / "lines.parquet").read_bytes()
    (entry_05 / "lines.parquet").write_bytes(data[: len(data) // 2])  # truncated
    (entry_06,) = (cache / "2026-06").iterdir()
    (entry_06 / "entry.json").write_text("{not json", encoding="utf-8")
    (entry_07,) = (cache / "2026-07").iterdir()
    (entry_07 / "entry.json").unlink()  # a partial entry
    (cache / "2026-04" / ".tmp-999999999-dead").mkdir()  # left by a killed run

    again = run_keeping_history(book, LAST, tmp_path / "out")
    assert again.cached_months == ["2026-04"]
    assert "ignored and rebuilt" in caplog.text
    assert_same_run(again, fresh)
    assert run_month(book, LAST, tmp_path / "out").cached_months == MONTHS
    assert not (cache / "2026-04" / ".tmp-999999999-dead").exists()


def test_dtypes_round_trip_exactly(tmp_path):
    """str, Int64, int64, bool, datetime64[ns], unknown columns as text, missing values, empty frames."""
    write_bordereau(
        tmp_path / "in",
        "2026-04",
        policies=[{**WIDE, "memo": "text"}, {**LITE, "memo": None, "joined": "2026-05-01"}],
        claims=[CLAIM, {**CLAIM, "claim_id": "C2", "claim_made_date": None, "extra": 12}],
        lines=[LINE, {**LINE, "line_id": "X2", "item": "condolence", "victims": 3, "victim_type": "individual"}],
    )
    book = load_products()
    found = find_bordereaux(tmp_path / "in", "2026-04")
    sheets = [row_checked(sheet, book) for sheet in read_month(found, "2026-04")]
    month, _ = validate_month("2026-04", sheets, nothing_known(), book)
    assert {str(dtype) for dtype in month.policies.dtypes} >= {"str", "Int64", "int64", "bool", "datetime64[ns]"}
    assert str(month.lines["victims"].dtype) == "Int64" and month.lines["victims"].isna().any()
    cache = parse_cache.ParseCache.open(tmp_path / "cache", found, book.folder)
    cache.store(month)
    loaded = cache.load("2026-04")
    assert loaded is not None
    for name in ("policies", "claims", "lines", "rejected"):
        original, back = getattr(month, name), getattr(loaded, name)
        pd.testing.assert_frame_equal(back, original.reset_index(drop=True), check_column_type=True, obj=name)
        assert list(back.dtypes) == list(original.dtypes), name
    assert loaded.counts == month.counts
    assert (loaded.rejected_policies, loaded.rejected_claims) == (month.rejected_policies, month.rejected_claims)


def test_the_cache_key_covers_the_validation_code():
    sources = {path.relative_to(parse_cache.PROJECT_ROOT).as_posix() for path in parse_cache.validation_sources()}
    assert {
        "pipeline/parse.py",
        "pipeline/io/read.py",
        "pipeline/io/columns.toml",
        "pipeline/io/cache.py",
        "pipeline/stages/validate.py",
        "pipeline/stages/versions.py",
        "pipeline/products/load.py",
        "pipeline/calendar.py",
        "schemas/common.py",
        "schemas/policies.py",
        "schemas/claims.py",
        "schemas/lines.py",
    } <= sources


def test_command_line_cache_options(book, tmp_path, capsys):
    assert main(["run", "--input", str(book), "--month", "2026-04", "--output", str(tmp_path / "a"), "--no-cache"]) == 0
    assert not (tmp_path / "a" / ".cache").exists()
    elsewhere = tmp_path / "cache"
    arguments = ["run", "--input", str(book), "--month", "2026-04", "--output", str(tmp_path / "b")]
    assert main([*arguments, "--cache", str(elsewhere)]) == 0
    assert (elsewhere / "2026-04").is_dir() and not (tmp_path / "b" / ".cache").exists()
    manifest = json.loads((tmp_path / "b" / "2026-04" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["cache"] == {"folder": str(elsewhere.resolve()), "months_from_cache": []}
    capsys.readouterr()
    assert main([*arguments, "--cache", str(book / "cache")]) == 2
    assert "cache folder must not be the input folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # usage error: one or the other
        main([*arguments, "--cache", str(elsewhere), "--no-cache"])


def test_a_cache_that_cannot_be_written_warns_once_and_changes_nothing(
    book: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, fresh: RunKept, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache folder that cannot be made (a file stands where it should be): the run stores its
    months as each is validated, the first store fails with one warning and no other month is tried;
    the run's results are those of a run without the cache."""
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a folder", encoding="utf-8")
    stored: list[str] = []
    store = parse_cache.ParseCache.store

    def counted(cache: parse_cache.ParseCache, month: MonthValidated) -> bool:
        stored.append(month.month)
        return store(cache, month)

    monkeypatch.setattr(parse_cache.ParseCache, "store", counted)
    result = run_keeping_history(book, LAST, tmp_path / "out", cache_dir=blocked)
    assert stored == MONTHS[:1]  # the first month failed: no other tried
    assert caplog.text.count("parse cache: could not save") == 1
    assert result.cached_months == []
    assert_same_run(result, fresh)
