"""Integer codes for the claims engine: text columns become positions or codes once, with pyarrow
kernels, so that the engine joins, tests membership and groups on integers, never on strings.

A code of -1 means "absent" (not found, or empty). The engine's lookup tables keep a sentinel entry
at their end, so ``table[-1]`` reads the sentinel's default (False, -1) on purpose.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.arrow_text import arrow_codes, arrow_strings, positions


def codes(values: pd.Series, categories: Sequence[str]) -> np.ndarray:
    """The code of each value in the list ``categories``, -1 where absent or empty."""
    if len(values) == 0:
        return np.empty(0, dtype=np.int64)
    return positions(values, categories)


def factorized(values: pd.Series) -> tuple[np.ndarray, pa.Array]:
    """Codes of ``values`` (-1 for empty cells) and the distinct values they index, in first-seen
    order."""
    encoded = pc.dictionary_encode(arrow_strings(values))
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks() if encoded.num_chunks != 1 else encoded.chunk(0)
    return arrow_codes(encoded.indices), encoded.dictionary


def mapped_once_each(values: pd.Series, mapping: Mapping[Any, Any]) -> pd.Series:
    """``values.map(mapping)`` for a dict, each distinct value mapped once: the column coded
    (``pd.factorize``), its distinct values (and an empty cell, if it has one, last) mapped by
    ``map`` itself, and those taken by code (an empty cell's -1 reads the last). The result holds the
    same set of values as ``map`` of the whole column, so pandas infers the same dtype for it, values
    missing from the dict included. For the columns of a few distinct values that the tariff and the
    product data key (a product, a plan, an option): ``map`` of a dict on a ``str`` column of 1.7M
    policies took 0.8 s, this 0.05 s."""
    if len(values) == 0:
        return values.map(mapping)
    codes, uniques = pd.factorize(values)
    distinct = pd.Series(uniques, dtype=values.dtype)
    empty = codes < 0
    if empty.any():
        distinct = pd.concat([distinct, values[empty].iloc[:1]], ignore_index=True)
    return pd.Series(distinct.map(mapping).array.take(codes), index=values.index, name=values.name)


def text_order_codes(values: pd.Series) -> np.ndarray:
    """Codes that sort as the text of ``values`` sorts (code points), empty cells after every value
    (in the ``narrowest`` integer type that holds them)."""
    indices, dictionary = factorized(values)
    rank = np.empty(len(dictionary) + 1, dtype=narrowest(len(dictionary)))
    rank[np.asarray(pc.sort_indices(dictionary), dtype=np.int64)] = np.arange(len(dictionary))
    rank[-1] = len(dictionary)  # code -1 (empty) reads the last entry: after every value
    result: np.ndarray = rank[indices]
    return result


def text_rank(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """The rank of each value of ``values`` in text order (equal values by position), and up to five
    values that occur more than once (empty when every value is distinct)."""
    arrow = arrow_strings(values)
    order = np.asarray(pc.sort_indices(arrow), dtype=np.int64)
    rank = np.empty(len(values), dtype=np.int64)
    rank[order] = np.arange(len(values))
    if len(values) < 2:
        return rank, []
    ordered = arrow.take(pa.array(order))
    same = pc.equal(ordered.slice(1), ordered.slice(0, len(values) - 1))
    repeated = ordered.slice(1).filter(pc.fill_null(same, False))
    return rank, [str(value) for value in repeated.slice(0, 5).to_pylist()]


def dense(key: np.ndarray) -> np.ndarray:
    """``key`` renumbered 0..k-1 (first-seen order)."""
    result, _ = pd.factorize(key, sort=False)
    return np.asarray(result, dtype=np.int64)


def narrowest(bound: int) -> type[np.signedinteger]:
    """The narrowest signed integer type that holds every code from -1 to ``bound``: per-line codes
    (a claim's position, a product, a reason) kept in a byte or four instead of eight, fewer fresh
    pages for the kernel to zero on a book of millions of lines."""
    for kind in (np.int8, np.int16, np.int32):
        if bound <= np.iinfo(kind).max:
            return kind
    return np.int64


def lookup(table: np.ndarray, *keys: np.ndarray) -> np.ndarray:
    """``table[keys[0], keys[1], ...]`` for long key arrays, as one ``np.take`` of the flattened
    table (several times faster than fancy indexing); a key of -1 reads the last entry along its
    axis (the sentinel)."""
    if len(keys) == 1:
        return np.take(table, keys[0])
    flat = np.zeros(len(keys[0]), dtype=np.int64)
    for size, key in zip(table.shape, keys, strict=False):
        flat *= size
        flat += key
        np.add(flat, size, out=flat, where=key < 0)  # -1 reads the last entry (no division per key)
    return np.take(np.ascontiguousarray(table).reshape(-1), flat)
