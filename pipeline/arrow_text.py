"""Text columns as pyarrow arrays, for the pyarrow kernels (``is_in``, ``index_in``, dictionary
encoding, sorting) that validation and the claims engine use instead of Python objects: a neutral
module, so that ``schemas/`` and ``pipeline/stages/`` convert text the same way."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import pyarrow as pa


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
