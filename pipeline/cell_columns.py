"""A sheet's cells as read, sent from one process to another as Arrow columns.

A sheet as read (``RawSheet.frame``) holds one Python value per cell: text, numbers, booleans,
dates, with ``""`` in the empty cells. The forked readers and the Dask workers send every sheet
they read back to the run's process, where the rejected rows show the cells as typed; pickling a
column of Python objects costs one memo entry per cell (about 1.3 CPU s for the 100,000-policy
book's 36 sheets, against 0.25 s as Arrow columns). So a column whose cells are all of one type,
apart from empty cells, travels as one Arrow array of that type and a bitmap of the empty cells,
and comes back as the very same Python values (``str``, ``float``, ``int``, ``bool``,
``datetime.date``, ``datetime.datetime``); a Parquet sheet's own Arrow columns travel as they are,
nulls for its empty (``None``) cells; any other column (several types, ``None`` among a
workbook's cells, times, durations, error values) travels as it is. ``RawSheet`` pickles its frame
this way, so nothing else has to know.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from pandas.api.types import infer_dtype

ARROW_TYPES = {
    "string": pa.large_string(),
    "floating": pa.float64(),
    "integer": pa.int64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us"),
}
"""pandas' name for a column of one Python type -> the Arrow type it travels as."""
COMPARED = frozenset({"date", "datetime"})
"""Kinds that pyarrow converts with a loss when they mix (pandas calls dates with a datetime among
them ``date``, and a datetime with a time zone ``datetime``): kept only when they come back equal."""
BLANK = ""
CONVERSION_ERRORS = (pa.ArrowException, OverflowError, TypeError, ValueError, UnicodeError)


@dataclass(frozen=True)
class PackedColumn:
    """One column: ``values`` (an Arrow array of the cells that are not blank, or the column as it
    is when it does not pack), ``blank`` (the empty cells as packed bits; None when there is none)
    and ``length``."""

    values: pa.Array | np.ndarray | pd.api.extensions.ExtensionArray
    blank: np.ndarray | None
    length: int


@dataclass(frozen=True)
class PackedFrame:
    columns: pd.Index
    index: pd.Index
    values: tuple[PackedColumn, ...]


def _as_objects(array: pa.Array) -> np.ndarray:
    """An Arrow array back as the Python values it was made of (``None`` where null: a Parquet
    sheet's own columns, ``packed_frame``'s ``arrow``): ``python_values``, and numpy's conversion
    for the microsecond date-times ``ARROW_TYPES`` packs (``datetime.datetime``, no null among them)."""
    if pa.types.is_timestamp(array.type) and not array.null_count:
        return np.asarray(array.to_numpy(zero_copy_only=False)).astype(object)
    return python_values(array)


_EARLIEST_DAY, _LATEST_DAY = -719_162, 2_932_896
"""0001-01-01 and 9999-12-31 as days since 1970-01-01: the dates numpy gives back as ``datetime.date``."""


def python_values(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The cells of an Arrow column as the Python values ``to_pylist`` gives (``None`` where null),
    in an object array: text, whole numbers, floats, booleans and dates converted by numpy (pyarrow's
    ``to_pylist`` makes a scalar per cell: a date column of 180,000 cells took 0.3 s, against 0.01 s
    this way), any other type by ``to_pylist``."""
    kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return np.asarray(array.to_numpy(zero_copy_only=False), dtype=object)
    numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
    if not (numeric or pa.types.is_date32(kind)):
        return object_array(array.to_pylist())
    nulls = np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    filled = array.fill_null(pa.scalar(0, pa.int32()).cast(kind)) if nulls.any() else array
    values = np.asarray(filled.to_numpy(zero_copy_only=False))
    if pa.types.is_date32(kind):
        days = values.astype("datetime64[D]").astype(np.int64)
        if len(days) and (days.min() < _EARLIEST_DAY or days.max() > _LATEST_DAY):
            return object_array(array.to_pylist())  # a day numpy would give as a number
        values = values.astype("datetime64[D]")
    objects = values.astype(object)
    objects[nulls] = None
    return objects


def object_array(items: list[Any]) -> np.ndarray:
    """``items`` as a numpy object array, each item the Python object it is (never converted, a
    list never taken for a row)."""
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def _arrow(values: np.ndarray) -> pa.Array | None:
    """``values`` (Python objects) as one Arrow array that gives them back exactly, or None."""
    kind = infer_dtype(values, skipna=False)
    if kind not in ARROW_TYPES:
        return None
    try:
        array = pa.array(values, type=ARROW_TYPES[kind], from_pandas=False)
    except CONVERSION_ERRORS:
        return None
    if kind in COMPARED and not bool(np.all(_as_objects(array) == values)):
        return None
    return array


def packed_column(column: pd.Series) -> PackedColumn:
    """One column of a sheet as read, packed: typed cells as Arrow, empty cells as a bitmap (a
    column that is not of Python objects, such as ``excel_row``, as it is)."""
    length = len(column)
    if column.dtype != object or length == 0:
        return PackedColumn(column.array, None, length)
    values = column.to_numpy()
    whole = _arrow(values)
    if whole is not None:
        return PackedColumn(whole, None, length)
    try:
        blank = np.asarray(values == BLANK, dtype=bool)
    except CONVERSION_ERRORS:
        return PackedColumn(values, None, length)
    if not blank.any() or blank.all():
        return PackedColumn(values, None, length)
    rest = _arrow(values[~blank])
    if rest is None:
        return PackedColumn(values, None, length)
    return PackedColumn(rest, np.packbits(blank), length)


def unpacked_column(packed: PackedColumn) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """The column ``packed_column`` packed, cell for cell."""
    if not isinstance(packed.values, pa.Array):
        return packed.values
    if packed.blank is None:
        return _as_objects(packed.values)
    blank = np.unpackbits(packed.blank, count=packed.length).astype(bool)
    values = np.full(packed.length, BLANK, dtype=object)
    values[~blank] = _as_objects(packed.values)
    return values


def unpacked_at(packed: PackedColumn, positions: np.ndarray) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """The cells at ``positions`` of the column ``packed_column`` packed, cell for cell, the others
    left packed."""
    if not isinstance(packed.values, pa.Array):
        return packed.values.take(positions)
    if packed.blank is None:
        return _as_objects(packed.values.take(positions))
    blank = np.unpackbits(packed.blank, count=packed.length).astype(bool)
    filled = ~blank[positions]
    among_filled = np.cumsum(~blank) - 1  # a filled cell's position among the packed values
    values = np.full(len(positions), BLANK, dtype=object)
    values[filled] = _as_objects(packed.values.take(among_filled[positions[filled]]))
    return values


def concatenated(columns: Sequence[PackedColumn]) -> PackedColumn:
    """Packed columns one under the other: still packed where they are all Arrow of one type (the
    parts of a folder sheet, conformed to one schema); otherwise their cells unpacked, put
    together as ``pd.concat`` puts columns together, and packed again."""
    arrays = [column.values for column in columns if isinstance(column.values, pa.Array)]
    length = sum(column.length for column in columns)
    if len(arrays) == len(columns) and len({array.type for array in arrays}) == 1:
        if all(column.blank is None for column in columns):
            return PackedColumn(pa.concat_arrays(arrays), None, length)
        blank = [
            np.zeros(column.length, dtype=bool)
            if column.blank is None
            else np.unpackbits(column.blank, count=column.length).astype(bool)
            for column in columns
        ]
        return PackedColumn(pa.concat_arrays(arrays), np.packbits(np.concatenate(blank)), length)
    cells = [pd.Series(unpacked_column(column), dtype=_dtype(column), copy=False) for column in columns]
    return packed_column(pd.concat(cells, ignore_index=True))


def _dtype(column: PackedColumn) -> Any:
    """The dtype of the column ``column`` was packed from."""
    return object if isinstance(column.values, pa.Array) else column.values.dtype


def packed_frame(frame: pd.DataFrame, arrow: Mapping[str, pa.ChunkedArray] | None = None) -> PackedFrame:
    """A sheet's frame packed column by column (columns and index as they are). ``arrow``: columns
    whose cells are already an Arrow column that ``python_values`` gives them from (a Parquet
    sheet's, nulls for its empty cells), sent as they are instead of packed from the cells."""
    arrow = arrow or {}

    def packed(position: int) -> PackedColumn:
        name, column = frame.columns[position], frame.iloc[:, position]
        given = arrow.get(name)
        if given is not None and len(given) == len(column) and given.type in _SENT_AS_THEY_ARE:
            return PackedColumn(given.combine_chunks(), None, len(column))
        return packed_column(column)

    return PackedFrame(frame.columns, frame.index, tuple(packed(position) for position in range(frame.shape[1])))


_SENT_AS_THEY_ARE = frozenset(
    {pa.string(), pa.large_string(), pa.int64(), pa.int32(), pa.float64(), pa.bool_(), pa.date32()}
)
"""The Arrow types of a Parquet sheet's columns that travel as they are: those ``python_values``
converts itself and ``_as_objects`` gives back the same."""


def unpacked_frame(packed: PackedFrame) -> pd.DataFrame:
    """The frame ``packed_frame`` packed: the same columns, index, dtypes and cells."""
    return _frame_of(packed, [unpacked_column(column) for column in packed.values], packed.index)


def unpacked_rows(packed: PackedFrame, positions: np.ndarray) -> pd.DataFrame:
    """The rows at ``positions`` of the frame ``packed_frame`` packed, as ``frame.iloc[positions]``
    gives them, with only those rows unpacked."""
    positions = np.asarray(positions, dtype=np.intp)
    return _frame_of(packed, [unpacked_at(column, positions) for column in packed.values], packed.index[positions])


def concatenated_frames(frames: Sequence[PackedFrame]) -> PackedFrame:
    """Packed frames of the same columns one under the other, as ``pd.concat(frames,
    ignore_index=True)`` of the frames they were packed from would give them, packed."""
    columns = tuple(
        concatenated([frame.values[position] for frame in frames]) for position in range(len(frames[0].columns))
    )
    return PackedFrame(frames[0].columns, pd.RangeIndex(sum(len(frame.index) for frame in frames)), columns)


def unpacked_series(packed: PackedFrame, name: str) -> pd.Series:
    """One column of the frame ``packed_frame`` packed, the others left packed."""
    column = packed.values[list(packed.columns).index(name)]
    return pd.Series(unpacked_column(column), index=packed.index, dtype=_dtype(column), name=name, copy=False)


def without_columns(packed: PackedFrame, names: Sequence[str]) -> PackedFrame:
    """The packed frame without the columns ``names``."""
    kept = [position for position, name in enumerate(packed.columns) if name not in names]
    return PackedFrame(packed.columns[kept], packed.index, tuple(packed.values[position] for position in kept))


def _frame_of(
    packed: PackedFrame, cells: list[np.ndarray | pd.api.extensions.ExtensionArray], index: pd.Index
) -> pd.DataFrame:
    """The unpacked ``cells`` of each column of ``packed`` as a frame with its columns and dtypes."""
    columns = {  # object columns stay object (pandas would make a column of text ``str``)
        position: pd.Series(
            values,
            index=index,
            dtype=_dtype(column),
            copy=False,
        )
        for position, (column, values) in enumerate(zip(packed.values, cells, strict=True))
    }
    frame = pd.DataFrame(columns, index=index, copy=False)
    frame.columns = packed.columns
    return frame
