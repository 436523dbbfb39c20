"""Fuzzing the loader (DATA_CONTRACT.md § Values people really type: "Nothing is dropped silently").

1. The parse functions, directly, on random cells of every type python-calamine can return (and a
   few it cannot): they never raise, keep the index, give a reason or a value for every non-empty
   cell, and the value has the column's dtype. Many examples: this is fast.
2. The whole loader (write a workbook -> read -> parse -> validate -> reconcile) on random cells in
   the contract's columns, written with openpyxl or xlsxwriter: it never raises, and for every sheet
   rows read = rows processed + rows rejected = the non-empty rows written.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from pipeline.io.read import read_bordereaux
from pipeline.parse import PARSERS, UnsavedFormula, carried, is_empty_cell
from pipeline.products import load_products
from pipeline.stages.validate import reconciliation
from schemas.claims import CLAIM_KINDS
from schemas.lines import LINE_KINDS
from schemas.policies import POLICY_KINDS
from tests.helpers import validate_bordereaux
from tests.hostile.corpus import write_xlsxwriter
from tests.property.strategies import reproducible

BOOK = load_products()
MONTH = "2026-04"
CAMPAIGN = os.environ.get("FUZZ_EXAMPLES")
"""``FUZZ_EXAMPLES=200``: a longer campaign of new random examples (hypothesis' own randomness and
example database); without it the suite's examples, the same on every run (``reproducible``)."""


def fuzzing(examples: int, scale: int = 1, suppressed: tuple[HealthCheck, ...] = ()) -> settings:
    """The suite's ``examples`` reproducible examples, or ``scale`` × ``FUZZ_EXAMPLES`` random ones."""
    if CAMPAIGN:
        return settings(max_examples=int(CAMPAIGN) * scale, suppress_health_check=list(suppressed))
    return reproducible(examples, suppressed=suppressed)


# --- cells ------------------------------------------------------------------------------------

TYPED = [  # spellings that parse, so that some fuzzed rows get past parsing to the rules
    "1,234,567",
    "¥1,000",
    "１２３４５６７",
    "2026-04-01",
    "2027/4/1",
    "令和8年4月1日",
    "R8.4.1",
    "H31.4.30",
    "TRUE",
    "はい",
    "○",
    "leak_lite",
    "cyber_security",
    "wide",
    "basic",
    "fixed",
    "lump_sum",
    "leak",
    "damages",
    "condolence",
    "domestic",
    "individual",
    "P1",
    "C1",
    "X1",
    "#N/A",
    "=1+1",
    "",
    "  ",
]
texts = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x40), max_size=6),  # control characters, digits
    st.text(alphabet=st.characters(min_codepoint=0xFF01, max_codepoint=0xFF5E), max_size=6),  # full width
    st.sampled_from(TYPED),
)
numbers = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e6, max_value=1e16),
    st.sampled_from([0, 1, 2, -1, 0.5, 1e15, 46113, 1.0, -0.0]),
)
dates = st.dates(min_value=dt.date(1900, 3, 1), max_value=dt.date(9999, 12, 31))
datetimes = st.datetimes(min_value=dt.datetime(1900, 3, 1), max_value=dt.datetime(9999, 12, 31))
excel_cells = st.one_of(st.none(), texts, numbers, st.booleans(), dates, datetimes)
# What python-calamine can hand the parsers, plus what it cannot (defence in depth).
raw_cells = st.one_of(
    excel_cells,
    st.times(),
    st.timedeltas(),
    st.builds(UnsavedFormula, st.text(max_size=8)),
    st.integers(),  # beyond float range
    st.just(pd.NA),
    st.just(pd.NaT),
    st.just(float("nan")),
    st.lists(st.integers(), max_size=2),  # unhashable
)


# --- 1. the parse functions ----------------------------------------------------------------------


@fuzzing(400, scale=10)
@given(st.lists(raw_cells, max_size=30), st.sampled_from(sorted(PARSERS)))
@example(cells=[UnsavedFormula("\n")], kind="bool")  # a reason is one line, whatever the formula
@example(cells=["P1\x1f", "\x1cP1", "\x85"], kind="id")  # str.strip() would hide these
def test_parsers_never_raise_and_account_for_every_cell(cells, kind):
    raw = pd.Series(cells, dtype=object, index=pd.RangeIndex(5, 5 + len(cells)))
    values, errors = PARSERS[kind](raw)
    assert values.index.equals(raw.index) and errors.index.equals(raw.index)
    expected_dtype = {"yen": "Int64", "integer": "Int64", "date": "datetime64[ns]", "bool": "bool"}.get(kind, "str")
    assert str(values.dtype) == expected_dtype
    for cell, value, error in zip(cells, values.tolist(), errors.tolist(), strict=True):
        assert error is None or (isinstance(error, str) and error and "\n" not in error)
        if error is None and not is_empty_cell(cell) and kind in ("yen", "integer", "date", "id", "code"):
            assert not pd.isna(value), (cell, value)  # a non-empty cell is a value or a reason, never lost
    assert len(carried(raw)) == len(cells)  # as an unknown column: carried, never rejected


@reproducible(200, suppressed=())
@given(st.lists(st.one_of(texts, numbers), max_size=20))
def test_yen_values_are_whole_non_negative_and_below_the_cap(cells):
    values, errors = PARSERS["yen"](pd.Series(cells, dtype=object))
    for value, error in zip(values.tolist(), errors.tolist(), strict=True):
        if error is None and not pd.isna(value):
            assert isinstance(value, int) and 0 <= value < 10**15


# --- 2. the whole loader ---------------------------------------------------------------------


def _written(cell: Any, writer: str) -> Any:
    """The cell as the writer stores it (what is then read)."""
    if isinstance(cell, str) and writer == "openpyxl":
        return ILLEGAL_CHARACTERS_RE.sub("", cell)
    if isinstance(cell, float) and not math.isfinite(cell) and writer == "openpyxl":
        return None  # openpyxl writes an empty value
    if isinstance(cell, int) and not isinstance(cell, bool) and abs(cell) >= 2**53:
        return float(cell)  # a number cell is a double
    return cell


def _write(path: Path, sheets: dict[str, list[list[Any]]], writer: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if writer == "openpyxl":
        workbook = openpyxl.Workbook()
        workbook.remove(workbook.active)
        for name, rows in sheets.items():
            sheet = workbook.create_sheet(name)
            for r, row in enumerate(rows, start=1):
                for c, cell in enumerate(row, start=1):
                    if cell is not None:
                        target = sheet.cell(r, c)
                        target.value = cell
                        if isinstance(cell, str):
                            target.data_type = "s"
        workbook.save(path)
        return
    write_xlsxwriter(path, sheets)


def _sheet(kinds: dict[str, str], ids: dict[str, list[str]]) -> st.SearchStrategy[list[list[Any]]]:
    """A header (every contract column and an unknown one) and 0-4 rows of random cells; id columns
    mostly take ids from a small pool, so that references between sheets sometimes resolve."""
    columns = [*kinds, "memo"]

    def cell(column: str) -> st.SearchStrategy[Any]:
        if column in ids:
            return st.one_of(st.sampled_from(ids[column]), excel_cells)
        return excel_cells

    row = st.tuples(*[cell(column) for column in columns]).map(list)
    return st.lists(row, max_size=4).map(lambda rows: [columns, *rows])


IDS = {"policy_id": ["P1", "P2", "1001"], "claim_id": ["C1", "C2"], "line_id": ["X1", "X2", "X3"]}


@fuzzing(30, suppressed=(HealthCheck.too_slow, HealthCheck.data_too_large))
@given(
    writer=st.sampled_from(["openpyxl", "xlsxwriter"]),
    policies=_sheet(POLICY_KINDS, IDS),
    claims=_sheet(CLAIM_KINDS, IDS),
    lines=_sheet(LINE_KINDS, IDS),
)
def test_the_loader_never_raises_and_never_loses_a_row(writer, policies, claims, lines):
    with tempfile.TemporaryDirectory() as folder:
        written = {"policies": policies, "claims": claims, "lines": lines}
        written = {
            name: [rows[0], *[[_written(c, writer) for c in row] for row in rows[1:]]] for name, rows in written.items()
        }
        _write(Path(folder) / MONTH / "policies.xlsx", {"policies": written["policies"]}, writer)
        _write(Path(folder) / MONTH / "claims.xlsx", {"claims": written["claims"], "lines": written["lines"]}, writer)
        validated = validate_bordereaux(read_bordereaux(Path(folder), MONTH), BOOK)
        table = reconciliation(validated.counts, validated.rejected)
    for _, sheet in table.iloc[:-1].iterrows():
        rows = written[sheet["sheet"]][1:]
        non_empty = sum(1 for row in rows if not all(is_empty_cell(c) for c in row))
        assert sheet["rows_read"] == non_empty
        assert sheet["rows_read"] == sheet["rows_processed"] + sheet["rows_rejected"]
    assert validated.rejected["reason"].map(lambda reason: bool(reason) and "\n" not in reason).all()
