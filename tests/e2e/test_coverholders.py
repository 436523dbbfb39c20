"""Many cover-holders, one portfolio (LAYOUTS.md), through the whole run: the same book in the
contract's layout and in a foreign one gives the same figures; several cover-holders keep their ids
apart and are reported one by one; nothing the input holds goes unmentioned."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pipeline.__main__ import EXIT_FATAL
from pipeline.run import RunResult, run_month
from tests.commands import cli
from tests.helpers import lines_of, sheets_made_here
from tests.hostile.corpus import error_lines
from tests.layout_books import LAYOUT_TOML, book, write_contract, write_foreign
from tests.workbooks import write_bordereau

MONTH = "2026-05"
PROVENANCE = ["coverholder", "bordereau_month", "source_file", "source_sheet", "excel_row"]


def _run(input_dir: Path, tmp_path: Path, name: str, **options: object) -> RunResult:
    return run_month(input_dir, MONTH, tmp_path / name, **options)  # type: ignore[arg-type]


def _table(result: RunResult, name: str) -> pd.DataFrame:
    """The run's policies, claims or lines as at M."""
    return lines_of(result) if name == "lines" else getattr(result, name)


def _figures(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    kept = frame.drop(columns=[c for c in PROVENANCE if c in frame.columns])
    return kept.sort_values(key).reset_index(drop=True)


def test_the_same_book_in_a_foreign_layout_gives_identical_figures(tmp_path: Path) -> None:
    write_contract(tmp_path / "contract", MONTH, book())
    write_foreign(tmp_path / "foreign", MONTH, book())
    contract = _run(tmp_path / "contract", tmp_path, "out_contract", use_cache=False)
    foreign = _run(tmp_path / "foreign", tmp_path, "out_foreign", use_cache=False)
    assert foreign.rejected.empty and contract.rejected.empty
    assert len(lines_of(foreign)) == 4 and int(lines_of(foreign)["payable"].sum()) > 0
    for name, key in (("policies", "policy_id"), ("claims", "claim_id"), ("lines", "line_id")):
        pd.testing.assert_frame_equal(_figures(_table(contract, name), key), _figures(_table(foreign, name), key))
    assert set(foreign.policies["coverholder"]) == {"osaka-mga"}
    assert lines_of(foreign)["excel_row"].tolist() == [3, 4, 5, 6]  # title row and header row counted
    assert lines_of(contract)["excel_row"].tolist() == [2, 3, 4, 5]


def test_one_cover_holder_keeps_ids_as_sent_and_is_named_by_its_folder(tmp_path: Path) -> None:
    write_contract(tmp_path / "tokyo", MONTH, book())
    result = _run(tmp_path / "tokyo", tmp_path, "out", use_cache=False)
    assert sorted(result.policies["policy_id"]) == ["P001", "P002"]
    assert set(result.policies["coverholder"]) == {"tokyo"} and set(lines_of(result)["coverholder"]) == {"tokyo"}


def _two_coverholders(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    write_contract(root / "tokyo-agency", MONTH, book())
    write_foreign(root / "osaka", MONTH, book())
    return root


def test_several_cover_holders_scope_ids_and_report_each(tmp_path: Path) -> None:
    result = _run(_two_coverholders(tmp_path), tmp_path, "out")
    assert sorted(result.policies["policy_id"]) == [
        "osaka-mga:P001",
        "osaka-mga:P002",
        "tokyo-agency:P001",
        "tokyo-agency:P002",
    ]
    assert sorted(lines_of(result)["claim_id"].unique()) == [
        "osaka-mga:C001",
        "osaka-mga:C002",
        "tokyo-agency:C001",
        "tokyo-agency:C002",
    ]
    by_holder = lines_of(result).groupby("coverholder")["payable"].sum()
    assert int(by_holder["osaka-mga"]) == int(by_holder["tokyo-agency"]) > 0  # the same book twice
    summary = {sheet.name: sheet.frame for sheet in sheets_made_here(result, "portfolio_summary.xlsx")}
    table = summary["by_coverholder"].set_index("coverholder")
    assert table.loc[["osaka-mga", "tokyo-agency"], "policies"].tolist() == [2, 2]
    assert table["payable_total"].sum() == result.claims["payable_total"].sum()
    by_product = summary["by_product"]
    assert by_product.columns[0] == "coverholder" and set(by_product["coverholder"]) == {"osaka-mga", "tokyo-agency"}
    assert by_product["written_premium"].sum() == table["written_premium"].sum()
    quality = summary["data_quality"]
    assert quality[["coverholder", "month"]].values.tolist() == [["osaka-mga", MONTH], ["tokyo-agency", MONTH]]
    assert quality["rows_read"].tolist() == [8, 8] and quality["rows_rejected"].tolist() == [0, 0]
    manifest = json.loads((result.output_folder / "manifest.json").read_text())
    holders = {entry["coverholder"]: entry for entry in manifest["coverholders"]}
    assert holders["osaka-mga"]["layout_sha256"] and holders["tokyo-agency"]["layout"] is None
    assert {entry["file"].split("/")[0] for entry in manifest["inputs"]} == {"osaka", "tokyo-agency"}


def test_rejected_rows_show_the_cover_holder_and_the_cell_as_they_wrote_it(tmp_path: Path) -> None:
    rows = book()
    rows["policies"][1] = rows["policies"][1] | {"product": "cyber_security", "plan": "standard"}
    root = tmp_path / "in"
    write_foreign(root / "osaka", MONTH, rows)
    result = _run(root, tmp_path, "out", use_cache=False)
    rejected = result.rejected[result.rejected["sheet"] == "policies"]
    assert not rejected.empty
    row = rejected[rejected["column"] == "plan"].iloc[0]
    assert row["coverholder"] == "osaka-mga"
    assert row["file"] == "osaka/2026-05/契約明細_202605.xlsx"
    assert row["column_as_written"] == "プランコード" and row["value"] == "standard"
    assert row["sheet"] == "policies" and row["sheet_as_named"] == "契約"
    assert row["row"] == 4  # title row 1, header row 2, first row 3


def test_a_mapped_code_is_shown_as_typed(tmp_path: Path) -> None:
    layout = LAYOUT_TOML.replace('"B" = "basic"', '"B" = "basic"\n"S" = "basic"')
    rows = book()
    rows["policies"][1] = rows["policies"][1] | {"plan": "S"}  # a leak_lite policy with a plan
    root = tmp_path / "in"
    write_foreign(root / "osaka", MONTH, rows, layout)
    result = _run(root, tmp_path, "out", use_cache=False)
    row = result.rejected[result.rejected["column"] == "plan"].iloc[0]
    assert row["value"] == "S" and row["column_as_written"] == "プランコード"


def test_editing_a_layout_reads_its_months_again(tmp_path: Path) -> None:
    root = _two_coverholders(tmp_path)
    first = _run(root, tmp_path, "out")
    assert first.cached_months == []
    again = _run(root, tmp_path, "out")
    assert again.cached_months == [MONTH]
    layout = root / "osaka" / "layout.toml"
    layout.write_text(layout.read_text(encoding="utf-8").replace('name = "大阪MGA"', 'name = "大阪"'), encoding="utf-8")
    edited = _run(root, tmp_path, "out")
    manifest = json.loads((edited.output_folder / "manifest.json").read_text())
    assert manifest["cache"]["osaka-mga"]["months_from_cache"] == []
    assert manifest["cache"]["tokyo-agency"]["months_from_cache"] == [MONTH]


def test_files_nothing_claims_are_warned_of_and_in_the_manifest(tmp_path: Path) -> None:
    root = _two_coverholders(tmp_path)
    (root / "tokyo-agency" / MONTH / "policies_april.xlsx").write_bytes(b"x")
    (root / "osaka" / "2026-04").mkdir()
    done = cli("run", "--input", root, "--month", MONTH, "--output", tmp_path / "out", "--no-cache")
    assert done.returncode == 0, done.stderr
    assert "tokyo-agency/2026-05/policies_april.xlsx: not read (not a bordereau file" in done.stderr
    assert "osaka/2026-04: no bordereau file in this month folder" in done.stderr
    manifest = json.loads((tmp_path / "out" / MONTH / "manifest.json").read_text())
    assert [entry["path"] for entry in manifest["not_read"]] == ["tokyo-agency/2026-05/policies_april.xlsx"]


def test_entries_outside_the_cover_holders_months_are_named(tmp_path: Path) -> None:
    root = _two_coverholders(tmp_path)
    (root / "README.txt").write_text("x")
    (root / "archive").mkdir()
    (root / "osaka" / "notes.txt").write_text("x")
    done = cli("run", "--input", root, "--month", MONTH, "--output", tmp_path / "out", "--no-cache")
    assert done.returncode == 0, done.stderr
    assert "README.txt: not read (a file outside the cover-holder folders)" in done.stderr
    assert "archive: not read (a folder with no YYYY-MM month folders: not a cover-holder)" in done.stderr
    assert "osaka/notes.txt: not read (outside the month folders" in done.stderr
    manifest = json.loads((tmp_path / "out" / MONTH / "manifest.json").read_text())
    assert [entry["path"] for entry in manifest["not_read"]] == ["README.txt", "archive", "osaka/notes.txt"]


def test_an_input_with_no_bordereau_in_any_month_is_fatal(tmp_path: Path) -> None:
    folder = tmp_path / "bdx" / MONTH
    folder.mkdir(parents=True)
    (folder / "契約.xlsx").write_bytes(b"x")
    done = cli("run", "--input", tmp_path / "bdx", "--output", tmp_path / "out")
    assert done.returncode == EXIT_FATAL
    (line,) = error_lines(done)
    assert line.startswith(f"error: {tmp_path / 'bdx'}: no bordereau in any month folder"), line
    assert f"{MONTH}/契約.xlsx: not read (not a bordereau file" in done.stderr


def test_a_wrong_layout_entry_stops_the_run_in_one_line(tmp_path: Path) -> None:
    root = tmp_path / "in"
    write_foreign(root / "osaka", MONTH, book(), LAYOUT_TOML.replace('"LL" = "leak_lite"', '"LL" = "leak_light"'))
    done = cli("run", "--input", root, "--output", tmp_path / "out")
    assert done.returncode == EXIT_FATAL
    (line,) = error_lines(done)
    assert line.startswith(f"error: {root / 'osaka' / 'layout.toml'}: files.policies.values.product.LL: unknown code")


@pytest.mark.parametrize("month", ["2026-04"])
def test_a_month_no_cover_holder_has_is_named(tmp_path: Path, month: str) -> None:
    root = _two_coverholders(tmp_path)
    done = cli("run", "--input", root, "--month", month, "--output", tmp_path / "out")
    assert done.returncode == EXIT_FATAL
    (line,) = error_lines(done)
    assert f"month folder for {month} missing" in line


def test_the_sample_shows_two_cover_holders_and_their_intended_rejections(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2] / "sample_data"
    result = run_month(root, "2026-06", tmp_path / "out", use_cache=False)
    assert set(result.policies["coverholder"]) == {"tokyo-agency", "osaka-mga"}
    assert result.policies["policy_id"].str.startswith(("tokyo-agency:", "osaka-mga:")).all()
    expected = json.loads((root / "tokyo-agency" / "expected_rejections.json").read_text(encoding="utf-8"))
    tokyo = {(f"tokyo-agency/{e['file']}", e["sheet"], e["row"]) for e in expected if e["month"] <= "2026-06"}
    osaka = {
        ("osaka-mga/2026-04/契約明細_202604.xlsx", "policies", "契約", 7, "product", "商品コード", "CYB-X"),
        ("osaka-mga/2026-05/契約明細_202605.xlsx", "policies", "契約", 5, "period_start", "始期日", "31/02/2026"),
    }
    rejected = result.rejected
    by_tokyo = rejected[rejected["coverholder"] == "tokyo-agency"]
    assert set(zip(by_tokyo["file"], by_tokyo["sheet"], by_tokyo["row"], strict=True)) == tokyo
    by_osaka = rejected[rejected["coverholder"] == "osaka-mga"]
    columns = ["file", "sheet", "sheet_as_named", "row", "column", "column_as_written", "value"]
    assert set(by_osaka[columns].itertuples(index=False, name=None)) == osaka
    summary = {sheet.name for sheet in result.sheets["portfolio_summary.xlsx"]}
    assert {"by_coverholder", "data_quality"} <= summary


def test_the_contract_layout_with_japanese_headers_shows_them_as_written(tmp_path: Path) -> None:
    rows = book()
    rows["policies"][0] = rows["policies"][0] | {"plan": "gold"}
    write_bordereau(tmp_path / "in", MONTH, **rows, japanese_headers=True)
    result = _run(tmp_path / "in", tmp_path, "out", use_cache=False)
    row = result.rejected[result.rejected["column"] == "plan"].iloc[0]
    assert row["column_as_written"] == "プラン" and row["value"] == "gold" and row["coverholder"] == "in"
