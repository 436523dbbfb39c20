"""Text columns as pyarrow arrays, for the pyarrow kernels (``is_in``, ``index_in``, dictionary
encoding, sorting) that validation and the claims engine use instead of Python objects, and the
lookups built on them (``positions``, ``take_text``, ``mapped``): a neutral module, so that
``schemas/`` and ``pipeline/stages/`` convert and look up text the same way."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

NONE = -1
"""The position of an absent value."""


def arrow_strings(values: pd.Series | pd.Index | Iterable[object]) -> pa.Array | pa.ChunkedArray:
    """``values`` as a pyarrow ``large_string`` array: taken as it is from an Arrow-backed ``str``
    column or index (no copy, no Python object per value), else converted (empty cells are nulls;
    raises ``ArrowInvalid``/``ArrowTypeError`` when a value is not text)."""
    if isinstance(values, pd.Series | pd.Index):
        array = values.array
        if isinstance(array, pd.arrays.ArrowStringArray):
            arrow: pa.Array | pa.ChunkedArray = pa.array(array)
            return arrow
        return pa.array(values.to_numpy(dtype=object), type=pa.large_string(), from_pandas=True)
    return pa.array(list(values), type=pa.large_string(), from_pandas=True)


def positions(values: pd.Series, universe: pd.Series | pd.Index | Sequence[str]) -> np.ndarray:
    """The position in ``universe`` of each value (its first occurrence), -1 where absent or empty."""
    found = pc.index_in(arrow_strings(values), value_set=arrow_strings(universe), skip_nulls=True)
    return np.asarray(found.fill_null(NONE).to_numpy(zero_copy_only=False), dtype=np.int64)


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


def mapped(values: pd.Series, mapping: pd.Series) -> pd.Series:
    """``values.map(mapping)`` for a ``mapping`` from text to text (its index unique): a ``str``
    column with ``values``' index, empty where a value is not in the index, looked up with
    pyarrow's ``index_in`` instead of hashing Python objects."""
    return take_text(mapping, positions(values, mapping.index), values.index)
