"""Hostile rows across sheets, through ``pipeline.run.run_month``: duplicate ids, orphan claims and
lines, references to rejected rows, a series spread over two policies, and bad cells in the claims
and lines sheets. One run holds every case; each ends as rejected rows with a precise reason
(CASES.md § Rows)."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.run import RunResult, run_month
from schemas.claims import CLAIM_KINDS
from schemas.lines import LINE_KINDS
from tests.hostile.corpus import CLAIM, LINE, MONTH, WIDE, Error, Formula, table, write_openpyxl
from tests.workbooks import write_bordereau

POLICIES = [
    WIDE,  # row 2: P1
    {**WIDE, "policy_id": "P2"},  # row 3
    {**WIDE, "policy_id": "D1"},  # row 4: duplicated
    {**WIDE, "policy_id": "D1", "insured_name": "other"},  # row 5
]
CLAIMS: list[dict[str, Any]] = [
    CLAIM,  # row 2: C1 on P1
    {**CLAIM, "claim_id": "ORPHAN", "policy_id": "NOPE"},  # row 3
    {**CLAIM, "claim_id": "OF-REJECTED", "policy_id": "D1"},  # row 4
    {**CLAIM, "claim_id": "C2"},  # row 5: duplicated
    {**CLAIM, "claim_id": "C2", "event_type": "it_user"},  # row 6
    {**CLAIM, "claim_id": "S-A", "series_id": "S1"},  # row 7: series S1 on P1
    {**CLAIM, "claim_id": "S-B", "series_id": "S1", "policy_id": "P2"},  # row 8: ... then on P2
    {**CLAIM, "claim_id": "ERR", "notice_date": Error("#N/A")},  # row 9
    {**CLAIM, "claim_id": "FORMULA", "known_date": Formula("=DATE(2026,4,10)")},  # row 10
]
LINES: list[dict[str, Any]] = [
    LINE,  # row 2: X1 on C1
    {**LINE, "line_id": "L-ORPHAN", "claim_id": "NOCLAIM"},  # row 3
    {**LINE, "line_id": "L-OF-REJECTED", "claim_id": "C2"},  # row 4
    {**LINE, "line_id": "X2"},  # row 5: duplicated
    {**LINE, "line_id": "X2", "amount": 5},  # row 6
    {**LINE, "line_id": "L-ERR", "amount": Error("#DIV/0!")},  # row 7
    {**LINE, "line_id": "L-NEG", "amount": -100},  # row 8
    {**LINE, "line_id": "L-FRAC", "amount": "1,000.5"},  # row 9
    {**LINE, "line_id": "L-DATE", "spent_date": "2026-02-30"},  # row 10
]
DUPLICATE = "appears more than once in this file: every copy is rejected"
EXPECTED = [
    ("policies", 4, "policy_id", DUPLICATE),
    ("policies", 5, "policy_id", DUPLICATE),
    ("claims", 3, "policy_id", f"policy_id is not a policy known as at {MONTH}"),
    ("claims", 4, "policy_id", "policy_id refers to a policy whose row was rejected"),
    ("claims", 5, "claim_id", DUPLICATE),
    ("claims", 6, "claim_id", DUPLICATE),
    ("claims", 8, "series_id", "series_id already belongs to another policy"),
    ("claims", 9, "notice_date", "Excel error value #N/A"),
    ("claims", 10, "known_date", "formula =DATE(2026,4,10) has no saved value"),
    ("lines", 3, "claim_id", f"claim_id is not a claim known as at {MONTH}"),
    ("lines", 4, "claim_id", "claim_id refers to a claim whose row was rejected"),
    ("lines", 5, "line_id", DUPLICATE),
    ("lines", 6, "line_id", DUPLICATE),
    ("lines", 7, "amount", "Excel error value #DIV/0!"),
    ("lines", 8, "amount", "expected yen like 1,234,567"),
    ("lines", 9, "amount", "expected yen like 1,234,567"),
    ("lines", 10, "spent_date", "2026-02-30 is not a calendar date"),
]


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> RunResult:
    folder = tmp_path_factory.mktemp("rows")
    write_bordereau(folder / "in", MONTH, policies=POLICIES)
    write_openpyxl(
        folder / "in" / MONTH / "claims.xlsx",
        {"claims": table(list(CLAIM_KINDS), CLAIMS), "lines": table(list(LINE_KINDS), LINES)},
    )
    return run_month(folder / "in", MONTH, folder / "out")


@pytest.mark.parametrize(
    ("sheet", "row", "column", "reason"), EXPECTED, ids=[f"{s}:{r}:{c}" for s, r, c, _ in EXPECTED]
)
def test_hostile_row_is_rejected_with_its_reason(result, sheet, row, column, reason):
    rejected = result.rejected[(result.rejected["sheet"] == sheet) & (result.rejected["row"] == row)]
    found = dict(zip(rejected["column"], rejected["reason"], strict=True))
    assert reason in found.get(column, ""), found


def test_only_the_hostile_rows_are_rejected_and_every_row_is_counted(result):
    rejected = {(s, int(r)) for s, r in zip(result.rejected["sheet"], result.rejected["row"], strict=True)}
    assert rejected == {(sheet, row) for sheet, row, _, _ in EXPECTED}
    for _, sheet in result.reconciliation.iloc[:-1].iterrows():
        assert sheet["rows_read"] == sheet["rows_processed"] + sheet["rows_rejected"]
    assert result.reconciliation[["rows_read", "rows_processed", "rows_rejected"]].iloc[-1].tolist() == [22, 5, 17]
    assert sorted(result.claims["claim_id"]) == ["C1", "S-A"]
    assert result.lines["line_id"].tolist() == ["X1"]
