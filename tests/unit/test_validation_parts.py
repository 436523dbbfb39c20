"""The cross-row part of validation in parts (``pipeline.engine.validation_parts``, the Dask
engine's) gives ``validate_month``'s outcome of the whole month, on the sample and on generated
months full of what joins policies: claim ids twice or restated onto another policy, series across
policies, line ids twice or restated under another claim, references to rejected and unknown rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from pipeline.engine.validation_parts import month_from_parts, month_parts, part_outcome, row_parts
from pipeline.io.read import column_specs, read_bordereaux
from pipeline.products import load_products
from pipeline.stages.validate import Known, nothing_known, row_checked, validate_month
from pipeline.tables import EXCEL_ROW, MonthValidated, RawSheet, RowChecked
from tests.property.strategies import reproducible
from tests.unit.test_validate import CLAIM, LINE, LITE, WIDE

BOOK = load_products()
SAMPLE = Path(__file__).resolve().parents[2] / "sample_data" / "tokyo-agency"
MONTHS = ("2026-04", "2026-05", "2026-06")
POLICY_IDS = ("P1", "P2", "P3", "L1", "L2", "")
CLAIM_IDS = ("C1", "C2", "C3", "C4", "")
LINE_IDS = ("X1", "X2", "X3", "X4", "X5", "")
ITEMS = ("damages", "defense", "response", "condolence", "cooperation", "investigation", "bribe")


def assert_same_outcome(got: MonthValidated, expected: MonthValidated, where: str) -> None:
    for table in ("policies", "claims", "lines", "rejected"):
        pd.testing.assert_frame_equal(getattr(got, table), getattr(expected, table), obj=f"{where} {table}")
    assert got.counts == expected.counts, where
    assert (got.rejected_policies, got.rejected_claims) == (expected.rejected_policies, expected.rejected_claims)


def validated_in_parts(month: str, sheets: list[RowChecked], known: Known, parts: int) -> MonthValidated:
    outcomes = [part_outcome(part, month, BOOK) for part in month_parts(sheets, known, parts)]
    return month_from_parts(month, sheets, outcomes)


def check_every_month_in_parts(months: dict[str, list[RowChecked]], parts: tuple[int, ...]) -> None:
    """Every month validated whole and in each number of ``parts``, against what the whole
    validation of the months before made known: the same outcome."""
    known = nothing_known()
    for month, sheets in months.items():
        whole, after = validate_month(month, sheets, known, BOOK)
        for count in parts:
            assert_same_outcome(validated_in_parts(month, sheets, known, count), whole, f"{month}, {count} parts")
        known = after


def test_the_samples_months_in_parts_are_validated_as_whole() -> None:
    last = sorted(path.name for path in SAMPLE.iterdir() if path.name[:4].isdigit())[-1]
    book = read_bordereaux(SAMPLE, last)
    months = {month: [row_checked(s, BOOK) for s in book.sheets if s.month == month] for month in book.months}
    assert sum(len(sheet.parse_failures) + len(sheet.row_failures) for m in months.values() for sheet in m)
    check_every_month_in_parts(months, (3,))


def raw_sheet(month: str, sheet: str, rows: list[dict[str, Any]]) -> RawSheet:
    """A sheet as the contract's reader gives it: every canonical column (empty where not given),
    cells as typed, Excel rows from 2."""
    columns = [spec.name for spec in column_specs()[sheet]]
    frame = pd.DataFrame([[row.get(column, "") for column in columns] for row in rows], columns=columns, dtype=object)
    frame[EXCEL_ROW] = pd.Series(range(2, len(rows) + 2), dtype="int64")
    file = f"{month}/{'policies' if sheet == 'policies' else 'claims'}.xlsx"
    return RawSheet(month=month, file=file, sheet=sheet, cells=frame)


@st.composite
def policy_rows(draw: st.DrawFn) -> dict[str, Any]:
    policy_id = draw(st.sampled_from(POLICY_IDS))
    lite = policy_id.startswith("L") or draw(st.booleans())
    row: dict[str, Any] = {
        "policy_id": policy_id,
        "product": "leak_lite" if lite else "cyber_security",
        "insured_name": "株式会社テスト",
        "revenue": "40,000,000" if lite else "300,000,000",
        "period_start": "2026-04-01",
        "period_end": "2027-04-01",
    }
    if not lite:
        row |= {"premium_basis": "fixed", "plan": draw(st.sampled_from(["wide", "basic"]))}
        row |= {"payment_method": "lump_sum"}
        row |= {"liability_limit": "100,000,000", "expense_limit": "10,000,000"}
        row |= {"liability_deductible": 0, "expense_deductible": 0}
    return row


@st.composite
def claim_rows(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "claim_id": draw(st.sampled_from(CLAIM_IDS)),
        "policy_id": draw(st.sampled_from(POLICY_IDS)),
        "event_type": draw(st.sampled_from(["leak", "leak", "it_user"])),
        "known_date": "2026-04-10",
        "notice_date": "2026-04-12",
        "claim_made_date": draw(st.sampled_from(["2026-04-15", ""])),
        "claim_jurisdiction": "domestic",
        "evidence": "media",
        "series_id": draw(st.sampled_from(["", "", "S1", "S2"])),
        "exclusion_code": draw(st.sampled_from(["", "", "", "war"])),
    }


@st.composite
def line_rows(draw: st.DrawFn) -> dict[str, Any]:
    item = draw(st.sampled_from(ITEMS))
    row = {
        "line_id": draw(st.sampled_from(LINE_IDS)),
        "claim_id": draw(st.sampled_from((*CLAIM_IDS, "C9"))),
        "item": item,
        "amount": draw(st.sampled_from(["1,000,000", "250,000", "250,000", "-5"])),
        "spent_date": "2026-04-20",
    }
    if item == "condolence":
        row |= {"victims": "3", "victim_type": "individual"}
    return row


def valid_start() -> dict[str, list[dict[str, Any]]]:
    """A first month of valid rows on file for the generated rows to restate, join and refer to."""
    return {
        "policies": [{**WIDE, "policy_id": p} for p in ("P1", "P2", "P3")] + [{**LITE, "policy_id": "L1"}],
        "claims": [
            {**CLAIM, "claim_id": "C1", "policy_id": "P1"},
            {**CLAIM, "claim_id": "C2", "policy_id": "P2", "series_id": "S1"},
            {**CLAIM, "claim_id": "C3", "policy_id": "L1"},
        ],
        "lines": [
            {**LINE, "line_id": "X1", "claim_id": "C1", "item": "investigation"},
            {**LINE, "line_id": "X2", "claim_id": "C2"},
            {**LINE, "line_id": "X3", "claim_id": "C3", "item": "cooperation"},
        ],
    }


@st.composite
def messy_months(draw: st.DrawFn) -> dict[str, list[RowChecked]]:
    months = {}
    for number, month in enumerate(MONTHS[: draw(st.integers(1, len(MONTHS)))]):
        start = valid_start() if number == 0 else {"policies": [], "claims": [], "lines": []}
        sheets = {
            "policies": start["policies"] + draw(st.lists(policy_rows(), max_size=4)),
            "claims": start["claims"] + draw(st.lists(claim_rows(), max_size=5)),
            "lines": start["lines"] + draw(st.lists(line_rows(), max_size=6)),
        }
        months[month] = [row_checked(raw_sheet(month, name, rows), BOOK) for name, rows in sheets.items()]
    return months


@reproducible(10, suppressed=(HealthCheck.too_slow,))
@given(months=messy_months())
def test_generated_months_in_parts_are_validated_as_whole(months: dict[str, list[RowChecked]]) -> None:
    check_every_month_in_parts(months, (3,))


def tangled_months() -> dict[str, list[RowChecked]]:
    """Two months whose second joins policies in every way ``row_parts`` knows, each case decided by
    rows of another policy: a claim moved onto a leak_lite policy under an item leak_lite lacks (its
    lines on file, under the first policy), a policy restated to leak_lite under such a line, a
    series on file put on a second policy, a series put on two policies in the file, a line restated
    under a claim of another policy (its first month on file), a claim id and a line id twice in the
    file on two policies, references to a claim rejected the month before and to none."""
    wide = [{**WIDE, "policy_id": f"P{n}"} for n in range(1, 12)]
    april: dict[str, list[dict[str, Any]]] = {
        "policies": wide,
        "claims": [
            {**CLAIM, "claim_id": "C1", "policy_id": "P1"},
            {**CLAIM, "claim_id": "C2", "policy_id": "P3", "series_id": "S1"},
            {**CLAIM, "claim_id": "C3", "policy_id": "P5"},
            {**CLAIM, "claim_id": "C4", "policy_id": "P7"},
            {**CLAIM, "claim_id": "CX", "policy_id": "P9", "event_type": "nonsense"},
        ],
        "lines": [
            {**LINE, "line_id": "X1", "claim_id": "C1", "item": "investigation"},
            {**LINE, "line_id": "X3", "claim_id": "C3"},
            {**LINE, "line_id": "X4", "claim_id": "C4", "item": "investigation"},
        ],
    }
    may: dict[str, list[dict[str, Any]]] = {
        "policies": [{**LITE, "policy_id": "P2"}, {**LITE, "policy_id": "P7"}],
        "claims": [
            {**CLAIM, "claim_id": "C1", "policy_id": "P2"},  # moved onto leak_lite under investigation: rejected
            {**CLAIM, "claim_id": "C5", "policy_id": "P4", "series_id": "S1"},  # S1 is P3's: rejected
            {**CLAIM, "claim_id": "C6", "policy_id": "P6"},
            {**CLAIM, "claim_id": "C7", "policy_id": "P8"},
            {**CLAIM, "claim_id": "C7", "policy_id": "P9"},  # twice in the file: both rejected
            {**CLAIM, "claim_id": "C10", "policy_id": "P10", "series_id": "S2"},
            {**CLAIM, "claim_id": "C11", "policy_id": "P11", "series_id": "S2"},  # S2 is P10's: rejected
        ],
        "lines": [
            {**LINE, "line_id": "X3", "claim_id": "C6", "amount": "2,000,000"},  # restated: first month April
            {**LINE, "line_id": "X8", "claim_id": "C6"},
            {**LINE, "line_id": "X8", "claim_id": "C2"},  # twice in the file: both rejected
            {**LINE, "line_id": "X9", "claim_id": "CX"},  # its claim was rejected in April
            {**LINE, "line_id": "X10", "claim_id": "C99"},  # no such claim
        ],
    }
    return {
        month: [row_checked(raw_sheet(month, name, rows), BOOK) for name, rows in sheets.items()]
        for month, sheets in (("2026-04", april), ("2026-05", may))
    }


def test_months_whose_ids_join_policies_are_validated_in_parts_as_whole() -> None:
    months = tangled_months()
    _, known = validate_month("2026-04", months["2026-04"], nothing_known(), BOOK)
    may, _ = validate_month("2026-05", months["2026-05"], known, BOOK)
    reasons = may.rejected.set_index(["sheet", "row"])["reason"]
    rejected = {("claims", 2), ("claims", 3), ("claims", 5), ("claims", 6), ("claims", 8), ("lines", 4), ("lines", 5)}
    assert rejected <= set(reasons.index)
    assert ("policies", 3) in reasons.index  # P7 to leak_lite under X4's investigation
    assert may.lines.set_index("line_id").loc["X3", "first_month"] == "2026-04"
    check_every_month_in_parts(months, tuple(range(2, 10)))


def test_policies_a_claim_series_or_line_joins_go_to_one_part() -> None:
    """The policies joined by the tangled month's ids are in one part, whatever the number of parts;
    a policy nothing joins keeps its own part (``policy_part``)."""
    from pipeline.engine import policy_part

    months = tangled_months()
    _, known = validate_month("2026-04", months["2026-04"], nothing_known(), BOOK)
    groups = [{"P1", "P2"}, {"P3", "P4", "P5", "P6"}, {"P8", "P9"}, {"P10", "P11"}]
    for parts in range(2, 10):
        sheet_parts, known_parts = row_parts(months["2026-05"], known, parts)
        policy_part_of = dict(zip(known.policies["policy_id"], known_parts.policies["part"], strict=True))
        for group in groups:
            assert len({policy_part_of[policy] for policy in group}) == 1, (parts, group)
        alone = int(policy_part(pd.Series(["P7"]), parts).iloc[0])
        assert policy_part_of["P7"] == alone
        claims = months["2026-05"][1].frame
        assert sheet_parts["claims"].tolist() == [policy_part_of[p] for p in claims["policy_id"]]
