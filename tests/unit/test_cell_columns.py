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
from pandas.testing import assert_frame_equal

from pipeline.cell_columns import (
    concatenated,
    concatenated_frames,
    packed_column,
    packed_frame,
    unpacked_column,
    unpacked_frame,
    unpacked_series,
    without_columns,
)
from pipeline.stages.rejections import rejected_rows
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


def _sheet_frame(columns: list[list[object]], start: int) -> pd.DataFrame:
    rows = min(len(column) for column in columns)
    index = pd.RangeIndex(start, start + rows)
    return pd.DataFrame(
        {f"c{number}": pd.Series(column[:rows], index=index, dtype=object) for number, column in enumerate(columns)}
    ).assign(**{EXCEL_ROW: pd.Series(np.arange(rows, dtype=np.int64) + 2, index=index)})


def _raw_sheet(frame: pd.DataFrame) -> RawSheet:
    return RawSheet(month="2026-04", file="2026-04/claims.xlsx", sheet="lines", cells=frame, headers=(("c0", "項目"),))


def _same_frame(before: pd.DataFrame, after: pd.DataFrame) -> None:
    assert list(after.columns) == list(before.columns)
    assert after.index.equals(before.index)
    assert after.dtypes.equals(before.dtypes)
    for column in before.columns:
        cells = zip(before[column].to_numpy(), after[column].to_numpy(), strict=True)
        assert all(_same_cell(b, a) for b, a in cells), column


@given(columns=st.lists(sheet_columns(), min_size=1, max_size=5), start=st.integers(0, 5))
def test_a_sheet_comes_back_cell_for_cell(columns: list[list[object]], start: int) -> None:
    frame = _sheet_frame(columns, start)
    sheet = _raw_sheet(frame)
    back = pickle.loads(pickle.dumps(sheet))
    assert back.headers == sheet.headers and back.file == sheet.file
    assert back.rows_read == len(frame) and back.index.equals(frame.index)
    _same_frame(frame, back.frame)
    _same_frame(frame, pickle.loads(pickle.dumps(back)).frame)  # sent on again, unpacked or not


@given(columns=st.lists(sheet_columns(), min_size=1, max_size=5), start=st.integers(0, 5), data=st.data())
def test_the_rows_asked_for_come_back_alone(columns: list[list[object]], start: int, data: st.DataObject) -> None:
    """A sheet received from another process gives the rows asked for (any, in any order, again)
    cell for cell, as ``frame.iloc`` would, without unpacking the whole sheet."""
    frame = _sheet_frame(columns, start)
    back = pickle.loads(pickle.dumps(_raw_sheet(frame)))
    asked = data.draw(st.lists(st.integers(0, len(frame) - 1), max_size=8) if len(frame) else st.just([]))
    positions = np.array(asked, dtype=np.intp)
    _same_frame(frame.iloc[positions], back.rows_at(positions))
    assert "frame" not in vars(back)  # the sheet's cells still packed
    _same_frame(frame.iloc[positions], _raw_sheet(frame).rows_at(positions))  # a sheet read here alike


@st.composite
def folder_parts(draw: st.DrawFn) -> list[pd.DataFrame]:
    """The parts of one folder sheet: the same columns, each column's cells of one kind in every
    part or not (a column packs in one part and not in another), excel_row numbered on."""
    width = draw(st.integers(1, 4))
    kinds = [draw(st.sampled_from(ONE_TYPE)) for _ in range(width)]
    parts, first_row = [], 2
    for _ in range(draw(st.integers(1, 4))):
        rows = draw(st.integers(0, 6))
        cells = {}
        for number, kind in enumerate(kinds):
            cell = draw(st.sampled_from([kind, st.one_of(kind, st.just("")), st.just(""), ANY_CELL]))
            cells[f"c{number}"] = pd.Series(draw(st.lists(cell, min_size=rows, max_size=rows)), dtype=object)
        rows_here = np.arange(first_row, first_row + rows, dtype=np.int64)
        parts.append(pd.DataFrame(cells).assign(**{EXCEL_ROW: rows_here}))
        first_row += rows
    return parts


@given(parts=folder_parts())
def test_parts_sent_packed_are_put_together_as_the_frames_would_be(parts: list[pd.DataFrame]) -> None:
    """The parts of a folder sheet, each sent packed by the worker that read it, are put together
    packed: the same cells, dtypes and index as ``pd.concat`` of the parts as read, each column
    alone too."""
    whole = pd.concat(parts, ignore_index=True)
    together = concatenated_frames([packed_frame(part) for part in parts])
    _same_frame(whole, unpacked_frame(together))
    for column in whole.columns:
        _same_frame(whole[[column]], unpacked_series(together, column).to_frame())
    _same_frame(whole.drop(columns=["c0"]), unpacked_frame(without_columns(together, ["c0"])))


def test_parts_of_one_kind_stay_packed() -> None:
    """Parts whose column holds numbers in each stay one Arrow array with their empty cells' bits
    (the saving), whatever part has no empty cell."""
    parts = [pd.Series([1.5, "", 3.0], dtype=object), pd.Series([4.0, 5.0], dtype=object)]
    together = concatenated([packed_column(part) for part in parts])
    assert isinstance(together.values, pa.Array) and together.values.to_pylist() == [1.5, 3.0, 4.0, 5.0]
    assert unpacked_column(together).tolist() == [1.5, "", 3.0, 4.0, 5.0]


def test_rejected_rows_unpack_only_the_failing_rows() -> None:
    """The run's process builds a month's rejected rows from sheets its readers sent: the same rows
    as from the sheet as read, with the cells of the failing rows only unpacked."""
    frame = pd.DataFrame(
        {
            "line_id": ["L1", "L2", "L3", "L4"],
            "amount": [1_000.0, "", "abc", 2_500.0],
            "spent_date": [dt.date(2026, 4, 1), dt.date(2026, 4, 2), "", dt.date(2026, 4, 4)],
            EXCEL_ROW: np.array([2, 3, 4, 5], dtype=np.int64),
        },
        index=pd.RangeIndex(4),
    ).astype({"line_id": object, "amount": object, "spent_date": object})
    failures = pd.DataFrame(
        {
            "index": [2, 1, 2, 3],
            "column": ["amount", "amount", "spent_date", "line_id"],
            "reason": ["not a number", "required", "required", "L4 twice in the file"],
        }
    )
    here = rejected_rows(_raw_sheet(frame), failures)
    sent = pickle.loads(pickle.dumps(_raw_sheet(frame)))
    assert_frame_equal(rejected_rows(sent, failures), here)
    assert "frame" not in vars(sent)
    assert here[["row", "column", "value"]].values.tolist() == [
        [3, "amount", ""],
        [4, "amount", "abc"],
        [4, "spent_date", ""],
        [5, "line_id", "L4"],
    ]


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


_INT64 = st.integers(-(2**63), 2**63 - 1)
_ARROW_COLUMNS = st.one_of(
    st.lists(st.one_of(st.none(), _INT64), max_size=20).map(lambda v: pa.array(v, pa.int64())),
    st.lists(st.one_of(st.none(), st.integers(0, 2**64 - 1)), max_size=20).map(lambda v: pa.array(v, pa.uint64())),
    st.lists(st.one_of(st.none(), st.floats(allow_nan=True)), max_size=20).map(lambda v: pa.array(v, pa.float64())),
    st.lists(st.one_of(st.none(), st.booleans()), max_size=20).map(lambda v: pa.array(v, pa.bool_())),
    st.lists(st.one_of(st.none(), st.dates()), max_size=20).map(lambda v: pa.array(v, pa.date32())),
    st.lists(st.one_of(st.none(), st.text(max_size=5)), max_size=20).map(lambda v: pa.array(v, pa.string())),
    st.lists(st.one_of(st.none(), st.text(max_size=5)), max_size=20).map(lambda v: pa.array(v, pa.large_string())),
    st.lists(st.one_of(st.none(), st.datetimes()), max_size=20).map(lambda v: pa.array(v, pa.timestamp("us"))),
)


@given(_ARROW_COLUMNS, st.integers(1, 3))
def test_an_arrow_column_gives_the_python_values_to_pylist_gives(array: pa.Array, chunks: int) -> None:
    """``python_values`` (numpy's conversions) gives what pyarrow's ``to_pylist`` gives, cell for
    cell: the same Python type and value, None where null, a chunked column too."""
    from pipeline.cell_columns import python_values

    size = len(array) // chunks + 1
    chunked = pa.chunked_array([array.slice(start, size) for start in range(0, len(array), size)], array.type)
    for column in (array, chunked):
        expected = column.to_pylist()
        values = python_values(column)
        assert values.dtype == object and len(values) == len(expected)
        for value, wanted in zip(values.tolist(), expected, strict=True):
            assert type(value) is type(wanted)
            assert value == wanted or (isinstance(wanted, float) and math.isnan(wanted) and math.isnan(value))


def test_days_numpy_cannot_give_as_dates_come_as_to_pylist_gives_them() -> None:
    from pipeline.cell_columns import python_values

    beyond = pa.array([-800_000, None], pa.int32()).cast(pa.date32())  # before year 1
    try:
        expected: object = beyond.to_pylist()
    except OverflowError as error:
        expected = type(error)
    try:
        given: object = python_values(beyond).tolist()
    except OverflowError as error:
        given = type(error)
    assert given == expected


@given(st.lists(_ARROW_COLUMNS, min_size=1, max_size=4), st.integers(0, 3), st.data())
def test_a_parquet_sheets_own_columns_travel_as_they_are_and_come_back_cell_for_cell(
    arrays: list[pa.Array], start: int, data: st.DataObject
) -> None:
    """A sheet whose cells were made from Arrow columns (``python_values``: a Parquet sheet's, None
    where null) packs those columns as they are (``packed_frame``'s ``arrow``) and gives back the
    same Python values, whole, by rows and by column."""
    from pipeline.cell_columns import python_values, unpacked_rows

    rows = min(len(array) for array in arrays)
    columns = {
        f"c{number}": pa.chunked_array([array.slice(0, rows)], array.type) for number, array in enumerate(arrays)
    }
    index = pd.RangeIndex(start, start + rows)
    frame = pd.DataFrame(
        {name: pd.Series(python_values(column), index=index, dtype=object) for name, column in columns.items()}
    )
    packed = packed_frame(frame, columns)
    sent = pickle.loads(pickle.dumps(packed))
    _same_frame(frame, unpacked_frame(sent))
    positions = np.asarray(
        data.draw(st.lists(st.integers(0, max(rows - 1, 0)), max_size=6)) if rows else [], dtype=np.intp
    )
    _same_frame(frame.iloc[positions], unpacked_rows(sent, positions))
    for name in columns:
        _same_frame(frame[[name]], unpacked_series(sent, name).to_frame())
