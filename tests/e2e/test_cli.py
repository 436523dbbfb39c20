"""The command line end to end, through a subprocess (DATA_CONTRACT.md § Run, § Output)."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from pipeline.io.outputs import write_outputs
from tests.commands import cli
from tests.unit.test_validate import CLAIM, LINE, LITE, WIDE
from tests.workbooks import write_bordereau


@pytest.fixture(scope="module")
def bordereaux(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("input")
    write_bordereau(
        folder,
        "2026-04",
        policies=[WIDE, LITE, {**WIDE, "policy_id": "P3", "plan": "gold"}],
        claims=[CLAIM],
        lines=[LINE, {**LINE, "line_id": "X2", "amount": "1万"}],
    )
    write_bordereau(folder, "2026-05", policies=[{**WIDE, "insured_name": "May"}], japanese_headers=True)
    return folder


def test_run_writes_outputs_and_prints_the_reconciliation(bordereaux, tmp_path):
    done = cli("run", "--input", bordereaux, "--month", "2026-05", "--output", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "validate" in done.stderr and "rejected 2" in done.stderr
    assert "rows read = rows processed + rows rejected" in done.stdout
    total = next(line for line in done.stdout.splitlines() if line.strip().startswith("total"))
    assert total.split()[1:] == ["7", "5", "2"]
    month = tmp_path / "out" / "2026-05"
    manifest = json.loads((month / "manifest.json").read_text())
    assert manifest["outputs"] == [
        "policies_annotated.xlsx",
        "claims_annotated.xlsx",
        "portfolio_summary.xlsx",
        "rejected.xlsx",
        "manifest.json",
    ]
    assert all((month / name).is_file() for name in manifest["outputs"])
    written = [manifest["timings"][f"write:{name}"] for name in manifest["outputs"][:-1]]
    # ``write:<file>`` is each file's seconds; ``write`` the wall time of the write stage, which the
    # run waits for after the reports: the annotated workbooks started in the annotate stage, before
    # the reinsurance and reports stages, so the longest file fits in the stages since then, and
    # ``write`` is at most the sum of the files plus the pools' start
    timings = manifest["timings"]
    since_started = sum(timings[stage] for stage in ("annotate", "reinsurance", "reports", "write"))
    assert max(written) - 0.01 <= since_started and timings["write"] <= sum(written) + 5.0
    assert {"read", "validate", "claims", "annotate", "reports"} <= set(timings)
    assert [entry["file"] for entry in manifest["inputs"]] == [
        "2026-04/policies.xlsx",
        "2026-04/claims.xlsx",
        "2026-05/policies.xlsx",
    ]
    assert all(len(entry["sha256"]) == 64 for entry in manifest["inputs"])
    assert manifest["counts"][-1] == {
        "month": "total",
        "file": "",
        "sheet": "",
        "rows_read": 7,
        "rows_processed": 5,
        "rows_rejected": 2,
    }
    assert set(manifest["timings"]) >= {"read", "validate", "versions"}
    rows = CalamineWorkbook.from_path(str(month / "rejected.xlsx")).get_sheet_by_name("rejected").to_python()
    assert rows[0] == [
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
    assert {(r[3], r[5], r[6]) for r in rows[1:]} == {("policies", 4.0, "plan"), ("lines", 3.0, "amount")}
    assert {r[0] for r in rows[1:]} == {bordereaux.name}  # one cover-holder: the input folder's name
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")] == [".cache"]

    again = cli("run", "--input", bordereaux, "--month", "2026-04", "--output", tmp_path / "out")
    assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".cache", "2026-04", "2026-05"]


def test_help_and_usage_errors():
    done = cli("--help")
    assert done.returncode == 0 and "run" in done.stdout and "sample" in done.stdout
    done = cli("run", "--help")
    assert "--input" in done.stdout and "--month" in done.stdout and "--products" in done.stdout
    assert cli("run", "--input", "x").returncode == 2


@pytest.mark.parametrize(
    ("given", "says"),
    [
        (["--worker-memory", "6GiB"], "--worker-memory needs --engine dask"),
        (
            ["--engine", "dask", "--scheduler", "tcp://127.0.0.1:1", "--worker-memory", "6GiB"],
            "its workers' own limits",
        ),
        (["--engine", "dask", "--worker-memory", "lots"], "--worker-memory: 'lots' is not a size"),
        (["--engine", "dask", "--worker-memory", "64MiB"], "less than a worker needs to start (at least 256MiB)"),
    ],
)
def test_a_worker_memory_limit_the_run_cannot_use_is_a_usage_error(tmp_path, given, says):
    """``--worker-memory`` sizes the workers of the run's own LocalCluster: refused before anything
    starts without the Dask engine, with a cluster given by address, or as something not a size."""
    done = cli("run", "--input", tmp_path / "in", "--output", tmp_path / "out", *given)
    assert done.returncode == 2, done.stderr
    assert says in done.stderr.splitlines()[-1], done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()


def broken_input(tmp_path: Path, kind: str) -> tuple[Path, str]:
    """An input folder with one fatal problem, and the text the error line must contain."""
    folder = tmp_path / "in"
    if kind == "input missing":
        return folder, "input folder missing"
    if kind == "month missing":
        write_bordereau(folder, "2026-03", policies=[WIDE])
        return folder, "month folder for 2026-04 missing"
    write_bordereau(folder, "2026-04", policies=[WIDE], claims=[CLAIM], lines=[LINE])
    policies = folder / "2026-04" / "policies.xlsx"
    if kind == "text file":
        policies.write_text("policy_id,product\nP1,leak_lite\n")
        return folder, "2026-04/policies.xlsx: cannot be opened as an Excel workbook"
    if kind == "truncated":
        policies.write_bytes(policies.read_bytes()[:200])
        return folder, "2026-04/policies.xlsx: cannot be opened as an Excel workbook"
    if kind == "password":
        policies.write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + b"\x00" * 1024)
        return folder, "2026-04/policies.xlsx: cannot be opened as an Excel workbook"
    if kind == "sheet missing":
        workbook = openpyxl.load_workbook(folder / "2026-04" / "claims.xlsx")
        workbook["lines"].title = "details"
        workbook.save(folder / "2026-04" / "claims.xlsx")
        return folder, "2026-04/claims.xlsx: required sheet 'lines' missing"
    workbook = openpyxl.load_workbook(policies)
    sheet = workbook["policies"]
    if kind == "column missing":
        sheet.cell(1, 3).value = "name"
        workbook.save(policies)
        return folder, "2026-04/policies.xlsx: sheet 'policies': required column missing: insured_name (記名被保険者)"
    sheet.cell(1, 4).value = "PRODUCT"
    workbook.save(policies)
    return folder, "2026-04/policies.xlsx: sheet 'policies': duplicated header 'product'"


FATAL = [
    "input missing",
    "month missing",
    "text file",
    "truncated",
    "password",
    "sheet missing",
    "column missing",
    "duplicated header",
]


@pytest.mark.parametrize("kind", FATAL)
def test_fatal_input_exits_2_with_one_line_and_no_traceback(tmp_path, kind):
    folder, expected = broken_input(tmp_path, kind)
    done = cli("run", "--input", folder, "--month", "2026-04", "--output", tmp_path / "out")
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, done.stderr
    assert expected in lines[0]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out" / "2026-04").exists()


def test_fatal_product_data_and_output_inside_input(bordereaux, tmp_path):
    done = cli(
        "run", "--input", bordereaux, "--month", "2026-04", "--output", tmp_path, "--products", tmp_path / "none"
    )
    assert (
        done.returncode == 2 and done.stderr.strip().startswith("error:") and "products folder missing" in done.stderr
    )
    done = cli("run", "--input", bordereaux, "--month", "2026-04", "--output", bordereaux / "out")
    assert done.returncode == 2 and "must not be the input folder" in done.stderr
    assert "Traceback" not in done.stderr


def test_write_outputs_keeps_the_previous_month_folder_when_a_writer_fails(tmp_path):
    def good(path: Path) -> None:
        path.write_text("new")

    def bad(path: Path) -> None:
        raise OSError("disk full")

    first = write_outputs(tmp_path, "2026-04", {"a.txt": good}, {"month": "2026-04"})
    (first / "a.txt").write_text("old")
    with pytest.raises(OSError, match="disk full"):
        write_outputs(tmp_path, "2026-04", {"a.txt": good, "b.txt": bad}, {"month": "2026-04"})
    assert (first / "a.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2026-04"]
    second = write_outputs(tmp_path, "2026-04", {"a.txt": good}, {"month": "2026-04"})
    assert (second / "a.txt").read_text() == "new"
    assert json.loads((second / "manifest.json").read_text())["outputs"] == ["a.txt", "manifest.json"]
