"""Text columns as pyarrow arrays, for the pyarrow kernels (``is_in``, ``index_in``, dictionary
encoding, sorting) that validation and the claims engine use instead of Python objects, and the
lookups built on them (``positions``, ``take_text``, ``mapped``, ``looked_up``); and the engine's columns of a few
labels as pandas categoricals (``take_labels``), text again where they are shown or written
(``labels_as_text``): a neutral module, so that ``schemas/``, ``pipeline/stages/``, ``pipeline/io/``
and ``pipeline/reports/`` convert and look up text the same way."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

NONE = -1
"""The position of an absent value."""


def arrow_strings(
    values: pd.Series | pd.Index | pa.Array | pa.ChunkedArray | Iterable[object],
) -> pa.Array | pa.ChunkedArray:
    """``values`` as a pyarrow ``large_string`` array: taken as it is from an Arrow array or an
    Arrow-backed ``str`` column or index (no copy, no Python object per value), else converted
    (empty cells are nulls; raises ``ArrowInvalid``/``ArrowTypeError`` when a value is not text)."""
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    if isinstance(values, pd.Series | pd.Index):
        array = values.array
        if isinstance(array, pd.arrays.ArrowStringArray):
            arrow: pa.Array | pa.ChunkedArray = pa.array(array)
            return arrow
        return pa.array(values.to_numpy(dtype=object), type=pa.large_string(), from_pandas=True)
    return pa.array(list(values), type=pa.large_string(), from_pandas=True)


def contiguous_text(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with each Arrow-backed text column that is in several chunks (frames stacked one
    under another share their arrays, a chunk each) made one contiguous array: taking rows by
    position from a chunked array looks each position's chunk up (about 25 times slower than from one
    array at 5M rows), and a run's history is taken from for every view of every month. The other
    columns are kept as they are; a frame whose text columns are contiguous is returned as it is."""
    texts = frame.columns[[getattr(dtype, "storage", None) == "pyarrow" for dtype in frame.dtypes]]
    chunked = {
        column: arrow.combine_chunks()
        for column in texts  # only the Arrow-backed text columns looked at, of perhaps 16,000
        if isinstance(frame[column].array, pd.arrays.ArrowStringArray)
        and isinstance(arrow := arrow_strings(frame[column]), pa.ChunkedArray)
        and arrow.num_chunks > 1
    }
    if not chunked:
        return frame
    return frame.assign(
        **{column: pd.Series(array, index=frame.index, dtype=frame[column].dtype) for column, array in chunked.items()}
    )


HASH_THE_VALUES_BELOW = 0.5
"""``positions`` hashes the values' distinct ids instead of the universe when there are fewer than
this many values per row of the universe: building a hash table of a large universe is memory-bound
(a table of 200,000 ids far outgrows the caches: 66 ms, against 12 ms for hashing 14,000 values and
looking every id of the universe up among them), and validation looks a month's rows up in every
policy, claim or line on file, many times per month."""


def positions(
    values: pd.Series | pd.Index, universe: pd.Series | pd.Index | pa.Array | pa.ChunkedArray | Iterable[object]
) -> np.ndarray:
    """The position in ``universe`` of each value (its first occurrence), -1 where absent or empty."""
    text, table = arrow_strings(values), arrow_strings(universe)
    if len(text) < HASH_THE_VALUES_BELOW * len(table):
        return _positions_by_the_values(text, table)
    return arrow_codes(pc.index_in(text, value_set=table, skip_nulls=True))


def among(values: pd.Series | pd.Index, *sets: pd.Series) -> np.ndarray:
    """Whether each of ``values`` is one of the values of ``sets`` (an empty value never is): ``isin``
    looked up with pyarrow's ``index_in`` (``positions``; pandas' ``isin`` hashes Python objects, see
    ``looked_up``). One set is looked in as it is, several put together first."""
    universe = sets[0] if len(sets) == 1 else pd.concat([pd.Series(values[:0]), *sets], ignore_index=True)
    return positions(values, universe) >= 0


def _positions_by_the_values(values: pa.Array | pa.ChunkedArray, universe: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """``positions`` with the hash table built on the values' distinct ids (few) instead of the
    universe (many): each row of the universe is looked up among them, and each distinct value gets
    the first row that found it."""
    encoded = pc.dictionary_encode(values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values)
    distinct = encoded.dictionary.cast(universe.type)
    found_at = arrow_codes(pc.index_in(universe, value_set=distinct, skip_nulls=True))
    rows = np.flatnonzero(found_at >= 0)
    found, first = np.unique(found_at[rows], return_index=True)  # each distinct value's first row
    position = np.full(len(distinct) + 1, NONE, dtype=np.int64)  # the last: an empty value's (code -1)
    position[found] = rows[first]
    return position[arrow_codes(encoded.indices)]


def arrow_codes(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """An Arrow integer array (positions found, dictionary codes) as numpy int64, ``NONE`` where null."""
    return np.asarray(array.fill_null(NONE).to_numpy(zero_copy_only=False), dtype=np.int64)


def take_text(labels: pa.Array | pd.Series | Sequence[str], where: np.ndarray, index: pd.Index) -> pd.Series:
    """A ``str`` column of ``labels[where]`` (empty where ``where`` is -1, and everywhere when there
    are no labels), with ``index``.

    ``where`` and ``labels`` are read as the indices and dictionary of an Arrow dictionary array,
    decoded in one cast: the -1s become the array's nulls, not a take and a second pass that blanks
    them (several times faster on the engine's columns of a few labels, where most time went)."""
    table = labels if isinstance(labels, pa.Array | pa.ChunkedArray) else arrow_strings(labels)
    if isinstance(table, pa.ChunkedArray):
        table = table.combine_chunks()
    if len(table) == 0:
        return pd.Series(pa.nulls(len(where), pa.large_string()), index=index, dtype="str")
    missing = where < 0
    indices = pa.array(np.asarray(where, dtype=np.int64), mask=missing if missing.any() else None)
    decoded = pa.DictionaryArray.from_arrays(indices, table).cast(table.type)
    return pd.Series(decoded, index=index, dtype="str")


def take_labels(labels: Sequence[str], where: np.ndarray, index: pd.Index) -> pd.Series:
    """A categorical column of ``labels[where]`` (empty where ``where`` is -1), with ``index``.

    For the engine's columns of a few labels (product, plan, part, reason, adjustments): a byte per
    line instead of a string, built without decoding any text (at ten million lines 0.7 GB less new
    memory and about a second less than ``take_text``). The categories are ``labels`` (distinct) in
    code-point order, whichever occur: sorting or grouping the column orders it as its text, and
    the columns of two parts of a book concatenate as they are."""
    names = np.asarray(list(labels), dtype=object)
    order = np.argsort(names, kind="stable")
    rank = np.empty(len(names) + 1, dtype=np.int64)
    rank[order] = np.arange(len(names))
    rank[-1] = NONE  # where is -1: empty
    dtype = pd.CategoricalDtype(pd.Index(names[order], dtype="str"))
    return pd.Series(pd.Categorical.from_codes(rank[where], dtype=dtype), index=index)


def text_as_labels(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """``frame`` with those of ``columns`` it has that are text as categoricals of their distinct
    values (``take_labels``: code-point order, so sorting and grouping keep the text's order), the
    others as they are: for text of a few values repeated on every row (the file, sheet and
    cover-holder each row of a run's history came from), a byte or two per row instead of the
    string, and taking rows by position takes codes. Dictionary-encoded by pyarrow, no Python
    object per row."""
    labelled = {}
    for column in columns:
        if column not in frame.columns or not isinstance(frame[column].array, pd.arrays.ArrowStringArray):
            continue
        encoded = pc.dictionary_encode(arrow_strings(frame[column]))
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        where = encoded.indices.fill_null(NONE).to_numpy(zero_copy_only=False).astype(np.int64)
        labelled[column] = take_labels(encoded.dictionary.to_pylist(), where, frame.index)
    return frame.assign(**labelled) if labelled else frame


def labels_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its categorical columns (``take_labels``) as ``str`` columns, the others as
    they are: what is shown to people and written to files holds text, not codes."""
    labelled = [column for column, dtype in frame.dtypes.items() if isinstance(dtype, pd.CategoricalDtype)]
    if not labelled:
        return frame
    text = frame.copy(deep=False)
    for column in labelled:
        text[column] = label_text(frame[column])
    return text


def label_text(labels: pd.Series) -> pd.Series:
    """A categorical column as ``str``: its categories taken by code in Arrow when they are Arrow
    text (``astype("str")`` gives the same column but goes through a Python object per row: 0.9 s
    against 0.08 s for 5M rows), else ``astype``; any other column as it is."""
    if not isinstance(labels.dtype, pd.CategoricalDtype):
        return labels
    categories = labels.cat.categories
    if not isinstance(categories.array, pd.arrays.ArrowStringArray):
        return labels.astype("str")
    codes = labels.cat.codes.to_numpy()
    taken = arrow_strings(categories).take(pa.array(codes, mask=codes < 0))
    return pd.Series(taken, index=labels.index, name=labels.name, dtype="str")


def looked_up(values: pd.Series, mapping: pd.Series, missing: object = None) -> pd.Series:
    """``values.map(mapping)`` for a ``mapping`` keyed by text (its index unique) to values of any
    dtype, which the result keeps: ``missing`` where a value is not in the index (None: the dtype's
    own missing value, as ``map`` gives), aligned with ``values``' index. Looked up with pyarrow's
    ``index_in``: pandas' ``map`` and ``isin`` on ``str`` columns hash or convert Python objects
    (``isin`` of a million claim ids took 6.5 s, ``map`` of 5M line ids 1.9 s)."""
    return column_taken(mapping, positions(values, mapping.index), values.index, missing)


def column_taken(column: pd.Series, where: np.ndarray, index: pd.Index, missing: object = None) -> pd.Series:
    """``column``'s values at the positions ``where`` (``missing`` where a position is -1; None: the
    dtype's own missing value), with ``index``, in the column's own dtype: text held as objects stays
    objects (pandas would infer ``str`` from them, which a merge or ``map`` does not). The values of
    many columns can be taken at positions looked up once."""
    taken = column.array.take(where, allow_fill=True, fill_value=missing)
    return pd.Series(taken, index=index, name=column.name, dtype=taken.dtype)


def mapped(values: pd.Series, mapping: pd.Series) -> pd.Series:
    """``values.map(mapping)`` for a ``mapping`` from text to text (its index unique): a ``str``
    column with ``values``' index, empty where a value is not in the index, looked up with
    pyarrow's ``index_in`` instead of hashing Python objects."""
    return take_text(mapping, positions(values, mapping.index), values.index)
