"""A sheet as read travels between processes as Arrow columns (``pipeline.cell_columns``) and comes
back cell for cell: the same Python type and value in every cell, the same columns, index and
dtypes, whatever the cells hold."""

from __future__ import annotations

import datetime as dt
import math
import pickle

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from pipeline.cell_columns import packed_column
from pipeline.tables import EXCEL_ROW, RawSheet

ANY_CELL = st.one_of(
    st.just(""),
    st.text(max_size=6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.dates(),
    st.datetimes(),
    st.datetimes(timezones=st.just(dt.UTC)),
    st.times(),
    st.timedeltas(),
    st.none(),
)
ONE_TYPE = [
    st.text(max_size=6),
    st.floats(allow_nan=True),
    st.integers(min_value=-(2**62), max_value=2**62),
    st.booleans(),
    st.dates(),
    st.datetimes(),
]


@st.composite
def sheet_columns(draw: st.DrawFn) -> list[object]:
    """A column of one type with empty cells here and there (the columns that pack), or of
    anything at all (the columns that travel as they are)."""
    if draw(st.booleans()):
        return draw(st.lists(ANY_CELL, max_size=12))
    cells = draw(st.sampled_from(ONE_TYPE))
    return draw(st.lists(st.one_of(cells, st.just("")) if draw(st.booleans()) else cells, max_size=12))


def _same_cell(before: object, after: object) -> bool:
    if type(before) is not type(after):
        return False
    if isinstance(before, float) and math.isnan(before):
        return isinstance(after, float) and math.isnan(after)
    if isinstance(before, float) and before == 0:
        return math.copysign(1, before) == math.copysign(1, after)  # type: ignore[arg-type]
    return before == after


@given(columns=st.lists(sheet_columns(), min_size=1, max_size=5), start=st.integers(0, 5))
def test_a_sheet_comes_back_cell_for_cell(columns: list[list[object]], start: int) -> None:
    rows = min(len(column) for column in columns)
    index = pd.RangeIndex(start, start + rows)
    frame = pd.DataFrame(
        {f"c{number}": pd.Series(column[:rows], index=index, dtype=object) for number, column in enumerate(columns)}
    ).assign(**{EXCEL_ROW: pd.Series(np.arange(rows, dtype=np.int64) + 2, index=index)})
    sheet = RawSheet(month="2026-04", file="2026-04/claims.xlsx", sheet="lines", frame=frame, headers=(("c0", "項目"),))
    back = pickle.loads(pickle.dumps(sheet))
    assert back.headers == sheet.headers and back.file == sheet.file
    assert list(back.frame.columns) == list(frame.columns)
    assert back.frame.index.equals(frame.index)
    assert back.frame.dtypes.equals(frame.dtypes)
    for column in frame.columns:
        before, after = frame[column].to_numpy(), back.frame[column].to_numpy()
        assert all(_same_cell(b, a) for b, a in zip(before, after, strict=True)), column


def test_the_usual_columns_travel_as_arrow() -> None:
    """Text, numbers with empty cells, dates and booleans with empty cells pack (the saving is
    theirs); a date column with a datetime among its dates, or a column of several types, does
    not (pyarrow would drop the time)."""
    day, moment = dt.date(2026, 4, 1), dt.datetime(2026, 4, 1, 9, 30)

    def packed(*cells: object) -> bool:
        return isinstance(packed_column(pd.Series(list(cells), dtype=object)).values, pa.Array)

    assert packed("CS0000001", "CS0000002")
    assert packed(1_500_000.0, "", 30_000.0)
    assert packed(day, day)
    assert packed("", True, False)
    assert packed(moment, "")
    assert not packed(day, moment)
    assert not packed(1.5, "abc", "")
    assert not packed(None, "x")
