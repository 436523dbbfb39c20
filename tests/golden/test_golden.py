"""Golden cases (tests/golden/CASES.md): hand-worked expected lines for small bordereaux.

Three runners per case:
- ``test_golden_full_pipeline``: the whole run (``pipeline.run.run_month``) on the case's input
  workbooks, comparing the adjudicated lines as at the case's month (``RunResult.lines``);
- ``test_golden_reader_then_engine``: the rows in force that ``run_month`` read, through the claims
  stages here (checks the reader and the engine together while the run does not yet adjudicate);
- ``test_golden_engine_direct``: the same rows built with ``tests.factories`` (one version per id as
  at the month, ``first_month`` = first month seen) through the claims stages directly, so the hand
  figures are checked even without the reader.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from pipeline.calendar import previous_month
from pipeline.io.read import read_bordereaux
from pipeline.products.load import load_products
from pipeline.run import run_month
from pipeline.stages.claims import lines_with_movements
from pipeline.stages.coverholders import COVERHOLDER
from pipeline.stages.versions import as_at
from pipeline.stages.waterfall import STEP_COLUMNS, adjudicated_lines
from tests import factories
from tests.golden.make_cases import CASES, GOLDEN, Case
from tests.helpers import lines_of, validate_bordereaux

PRODUCTS = load_products()
NAMES = sorted(CASES)
EXPECTED_COLUMNS = ["line_id", "reason", *STEP_COLUMNS, "payable_this_month", "adjustments"]


def expected_lines(name: str) -> pd.DataFrame:
    expected = pd.read_csv(GOLDEN / name / "expected_lines.csv", dtype=str, keep_default_na=False)
    money = EXPECTED_COLUMNS[2:-1]
    return expected.astype(dict.fromkeys(money, "int64")).set_index("line_id").sort_index()


def case_month(name: str) -> str:
    with (GOLDEN / name / "case.toml").open("rb") as handle:
        return str(tomllib.load(handle)["month"])


def compare(actual: pd.DataFrame, name: str) -> None:
    expected = expected_lines(name)
    got = actual[EXPECTED_COLUMNS].astype({c: "int64" for c in EXPECTED_COLUMNS[2:-1]})
    got = got.astype({"line_id": str, "reason": str, "adjustments": str}).set_index("line_id").sort_index()
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, check_index_type=False)


# ---- Full pipeline ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_golden_full_pipeline(name: str, tmp_path: Path) -> None:
    result = run_month(GOLDEN / name / "input", case_month(name), tmp_path / "output")
    compare(lines_of(result), name)


@pytest.mark.parametrize("name", NAMES)
def test_golden_reader_then_engine(name: str, tmp_path: Path) -> None:
    """The rows in force that ``run_month`` read (as at M; as at M−1 the case's months read and
    validated again here, the run's own history being let go), through the claims stages."""
    result = run_month(GOLDEN / name / "input", case_month(name), tmp_path / "output")
    now = adjudicated_lines(lines_of(result), result.claims, result.policies, PRODUCTS)
    validated = validate_bordereaux(read_bordereaux(GOLDEN / name / "input", result.month), PRODUCTS)
    previous = as_at(validated.history, previous_month(result.month))
    # the run marks every row with its cover-holder (one here: the contract's own)
    pd.testing.assert_frame_equal(previous.claims, result.claims_previous.drop(columns=COVERHOLDER))
    pd.testing.assert_frame_equal(previous.policies, result.policies_previous.drop(columns=COVERHOLDER))
    before = adjudicated_lines(previous.lines, previous.claims, previous.policies, PRODUCTS)
    compare(lines_with_movements(now, before), name)


# ---- Engine directly --------------------------------------------------------------------------------


def _rows_as_at(case: Case, month: str, table: str, key: str) -> list[dict[str, Any]]:
    """The latest version of each row up to ``month``, tagged with its month (and, for lines, the
    first month in which it appeared)."""
    latest: dict[str, dict[str, Any]] = {}
    first: dict[str, str] = {}
    for bordereau_month in sorted(m for m in case.months if m <= month):
        for row in getattr(case.months[bordereau_month], table):
            latest[row[key]] = {**row, "bordereau_month": bordereau_month}
            first.setdefault(row[key], bordereau_month)
    rows = list(latest.values())
    if table == "lines":
        rows = [row | {"first_month": first[row["line_id"]], "victims": row.get("victims")} for row in rows]
    if table == "claims":
        rows = [
            {"series_id": None, "exclusion_code": None, **row, "evidence": row.get("evidence") or ""} for row in rows
        ]
    return rows


def _adjudicated_as_at(case: Case, month: str) -> pd.DataFrame | None:
    rows = {
        table: _rows_as_at(case, month, table, key)
        for table, key in [("policies", "policy_id"), ("claims", "claim_id"), ("lines", "line_id")]
    }
    if not rows["lines"]:
        return None
    return adjudicated_lines(
        factories.lines(*rows["lines"]),
        factories.claims(*rows["claims"]),
        factories.policies(*rows["policies"]),
        PRODUCTS,
    )


def _previous(month: str) -> str:
    return (pd.Period(month, freq="M") - 1).strftime("%Y-%m")


@pytest.mark.parametrize("name", NAMES)
def test_golden_engine_direct(name: str) -> None:
    case = CASES[name]
    assert case.month == case_month(name)
    now = _adjudicated_as_at(case, case.month)
    before = _adjudicated_as_at(case, _previous(case.month))
    assert now is not None
    compare(lines_with_movements(now, before), name)


def test_every_case_folder_is_listed_and_has_inputs() -> None:
    folders = sorted(p.name for p in GOLDEN.iterdir() if (p / "case.toml").exists())
    assert folders == NAMES
    listed = (GOLDEN / "CASES.md").read_text(encoding="utf-8")
    for name in NAMES:
        assert f"`{name}`" in listed
        assert list((GOLDEN / name / "input").glob("*/claims.xlsx"))
