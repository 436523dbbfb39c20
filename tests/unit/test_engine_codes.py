"""The integer machinery of the claims engine (pipeline/stages/codes.py, caps.py): codes, the global
order and the grouped cumulative cap, checked against plain pandas on awkward inputs."""

from __future__ import annotations

from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from pipeline.arrow_text import labels_as_text, looked_up, mapped, positions, take_labels, take_text
from pipeline.stages import caps
from pipeline.stages.caps import capped_rows, global_order, group_cumsum
from pipeline.stages.codes import codes, lookup, mapped_once_each, text_order_codes, text_rank
from tests.helpers import cumulative_cap


def test_positions_and_codes() -> None:
    values = pd.Series(["b", None, "z", "a", "b"], dtype="str")
    assert positions(values, pd.Series(["a", "b", "c"], dtype="str")).tolist() == [1, -1, -1, 0, 1]
    assert codes(pd.Series(["x", "y"], dtype=object), ["y"]).tolist() == [-1, 0]
    assert codes(values.iloc[:0], ["a"]).tolist() == []


@given(
    values=st.lists(st.one_of(st.none(), st.sampled_from(["p1", "p2", "leak_lite", ""])), max_size=40),
    mapping=st.dictionaries(
        st.sampled_from(["p1", "p2", "leak_lite", "", "other"]),
        st.one_of(st.integers(0, 10**12), st.booleans(), st.sampled_from(["standard", "policy"]), st.none()),
        max_size=4,
    ),
)
def test_mapped_once_each_equals_pandas_map(values: list[str | None], mapping: dict[str, object]) -> None:
    """``mapped_once_each`` (the tariff's options, a product's plan, limits and caps per policy) gives
    what ``Series.map`` of the same dict gives, values and dtype, empty and unmapped cells included,
    on a non-default index."""
    column = pd.Series(values, index=pd.RangeIndex(3, 3 + len(values)), dtype="str")
    numbers = pd.Series([len(value) if value else 0 for value in values], index=column.index, dtype="int64")
    by_number = {len(key): value for key, value in mapping.items()}
    for cells, keyed in ((column, mapping), (numbers, by_number)):
        got, expected = mapped_once_each(cells, keyed), cells.map(keyed)
        assert got.dtype == expected.dtype and got.index.equals(cells.index)
        assert [None if pd.isna(value) else value for value in got] == [
            None if pd.isna(value) else value for value in expected
        ]


def test_text_order_codes_sort_as_text_with_empties_last() -> None:
    values = pd.Series(["2026-10", "2026-04", None, "2026-04", "2027-01"], dtype="str")
    assert text_order_codes(values).tolist() == [1, 0, 3, 0, 2]


def test_text_rank_and_repeats() -> None:
    rank, repeated = text_rank(pd.Series(["C10", "C2", "C1"], dtype="str"))
    assert rank.tolist() == [1, 2, 0] and repeated == []
    assert text_rank(pd.Series(["A", "B", "A"], dtype="str"))[1] == ["A"]


def test_take_text_and_lookup_sentinel() -> None:
    taken = take_text(["x", "y"], np.array([1, -1, 0]), pd.Index([5, 6, 7]))
    assert taken.dtype == "str" and taken.index.tolist() == [5, 6, 7]
    assert taken.iloc[0] == "y" and pd.isna(taken.iloc[1]) and taken.iloc[2] == "x"
    table = np.arange(12).reshape(3, 4)
    assert lookup(table, np.array([0, 2, -1]), np.array([1, -1, 0])).tolist() == [1, 11, 8]


def test_take_labels_are_categories_in_text_order_whichever_occur() -> None:
    """``take_labels``: each pick's label, empty for -1; the categories are every label in code-point
    order (not the order given, not only those picked), so sorting and grouping follow the text and
    two parts of a book concatenate as one categorical column."""
    labels = ["wide", "", "basic", "standard"]
    first = take_labels(labels, np.array([0, -1, 2, 0, 1]), pd.Index([5, 6, 7, 8, 9]))
    second = take_labels(labels, np.array([3]), pd.Index([10]))
    assert isinstance(first.dtype, pd.CategoricalDtype)
    assert first.cat.categories.tolist() == ["", "basic", "standard", "wide"]
    assert first.index.tolist() == [5, 6, 7, 8, 9]
    assert first.astype("str").fillna("-").tolist() == ["wide", "-", "basic", "wide", ""]
    assert first.sort_values().astype("str").fillna("-").tolist() == ["", "basic", "wide", "wide", "-"]
    joined = pd.concat([first, second])
    assert isinstance(joined.dtype, pd.CategoricalDtype)
    assert joined.astype("str").tolist()[-1] == "standard"
    assert first.groupby(first).size().to_dict() == {"": 1, "basic": 1, "wide": 2}
    frame = pd.DataFrame({"reason": first, "amount": range(5)}, index=first.index)
    text = labels_as_text(frame)
    assert text["reason"].dtype == "str" and text["amount"].dtype == "int64"
    pd.testing.assert_series_equal(text["reason"], first.astype("str"), check_names=False)
    assert isinstance(frame["reason"].dtype, pd.CategoricalDtype)  # the frame given is left alone
    assert labels_as_text(text) is text


@given(
    labels=st.lists(st.one_of(st.none(), st.text(max_size=4)), max_size=6),
    picks=st.lists(st.integers(-1, 5), max_size=40),
    chunked=st.booleans(),
)
def test_take_text_is_a_plain_take_with_empties(labels: list[str | None], picks: list[int], chunked: bool) -> None:
    """``take_text`` (labels decoded through an Arrow dictionary) gives each pick's label, empty for
    -1 and for an empty label, on any index, from a list, a ``str`` column or a chunked Arrow array."""
    where = np.array([pick if pick < len(labels) else -1 for pick in picks], dtype=np.int64)
    index = pd.RangeIndex(7, 7 + len(where))
    expected = [labels[pick] if pick >= 0 and labels else None for pick in where]
    arrow = pa.chunked_array([labels[:2], labels[2:]], type=pa.large_string()) if chunked else labels
    for given_labels in (arrow, pd.Series(labels, dtype="str")):
        taken = take_text(given_labels, where, index)
        assert taken.dtype == "str" and taken.index.equals(index)
        assert [None if pd.isna(value) else value for value in taken] == expected


@given(
    values=st.lists(st.one_of(st.none(), st.sampled_from(["p1", "p2", "p3", "p10", "ｐ1", ""])), max_size=30),
    keys=st.lists(st.sampled_from(["p1", "p2", "p10", "ｐ1", ""]), unique=True, max_size=5),
)
def test_mapped_equals_pandas_map(values: list[str | None], keys: list[str]) -> None:
    """The Arrow lookup the schemas use for a claim's product, a series' policy: what ``Series.map``
    gives, empties and values not in the mapping included, on a non-default index."""
    column = pd.Series(values, index=pd.RangeIndex(100, 100 + len(values)), dtype="str")
    mapping = pd.Series([f"to {key}" for key in keys], index=pd.Index(keys, dtype="str"), dtype="str")
    got = mapped(column, mapping)
    assert got.index.equals(column.index)
    expected = column.map(mapping)  # float NaN throughout when nothing maps
    assert [None if pd.isna(value) else value for value in got] == [
        None if pd.isna(value) else value for value in expected
    ]


@given(
    values=st.lists(st.one_of(st.none(), st.sampled_from(["c1", "c2", "c10", "ｃ1", ""])), max_size=30),
    keys=st.lists(st.sampled_from(["c1", "c2", "c10", "ｃ1", ""]), unique=True, max_size=5),
    amounts=st.lists(st.integers(-(2**62), 2**62), min_size=5, max_size=5),
)
def test_looked_up_equals_pandas_map_and_keeps_the_dtype(
    values: list[str | None], keys: list[str], amounts: list[int]
) -> None:
    """``looked_up`` (claim totals, movements, the triangle's accident months) gives what
    ``Series.map`` gives for int64, nullable Int64 and text mappings, on a non-default index; with
    ``missing`` an int64 mapping stays int64, exact to the yen beyond float's 2**53."""
    column = pd.Series(values, index=pd.RangeIndex(7, 7 + len(values)), dtype="str")
    index = pd.Index(keys, dtype="str")
    mappings: list[pd.Series] = [
        pd.Series(amounts[: len(keys)], index=index, dtype="int64"),
        pd.Series(amounts[: len(keys)], index=index, dtype="Int64"),
        pd.Series([f"P{key}" for key in keys], index=index, dtype="str"),
    ]
    for mapping in mappings:
        got, expected = looked_up(column, mapping), column.map(mapping)
        assert got.index.equals(column.index)
        assert [None if pd.isna(value) else value for value in got] == [
            None if pd.isna(value) else value for value in expected
        ]
    filled = looked_up(column, mappings[0], 0)
    by_key = dict(zip(keys, amounts, strict=False))
    assert filled.dtype == np.int64
    assert filled.tolist() == [by_key.get(value, 0) if value is not None else 0 for value in values]


@given(
    values=st.lists(st.one_of(st.none(), st.sampled_from(["p1", "p2", "p3", "p10", "ｐ1", ""])), max_size=12),
    universe=st.lists(st.one_of(st.none(), st.sampled_from(["p1", "p2", "p10", "ｐ1", "", "q"])), max_size=40),
    chunked=st.booleans(),
)
def test_positions_are_each_values_first_row_in_the_universe(
    values: list[str | None], universe: list[str | None], chunked: bool
) -> None:
    """``positions`` gives each value's first row in the universe, -1 when it is absent or empty,
    whichever side it hashes (the universe, or the values' distinct ids when the universe is more
    than twice as long: both happen here), from ``str`` columns, lists and chunked Arrow arrays."""
    first: dict[str, int] = {}
    for row, value in enumerate(universe):
        if value is not None:
            first.setdefault(value, row)
    expected = [first.get(value, -1) if value is not None else -1 for value in values]
    column = pd.Series(values, dtype="str")
    tables: list[Any] = [pd.Series(universe, dtype="str"), universe]
    if chunked:
        tables.append(pa.chunked_array([universe[:3], universe[3:]], type=pa.large_string()))
    for table in tables:
        assert positions(column, table).tolist() == expected


def test_global_order_matches_a_stable_sort_of_the_columns() -> None:
    rng = np.random.default_rng(7)
    n = 2_000
    frame = pd.DataFrame(
        {
            "first_month": pd.Series(rng.choice(["2026-05", "2026-04", "2026-12"], n), dtype="str"),
            "spent_date": pd.Series(pd.to_datetime("2026-04-01") + pd.to_timedelta(rng.integers(0, 4, n), "D")),
            "claim_id": pd.Series(rng.choice(["C10", "C9", "C1"], n), dtype="str"),
            "item_number": pd.array(rng.choice([1, 2, -1], n), dtype="Int64"),
            "line_id": pd.Series(rng.choice(["L2", "L10", "L1", "L1"], n), dtype="str"),  # repeats
        }
    )
    frame["item_number"] = frame["item_number"].mask(frame["item_number"] < 0)
    frame.loc[::97, "spent_date"] = pd.NaT
    expected = frame.sort_values(list(frame.columns), kind="stable", na_position="last").index.to_numpy()
    spent = frame["spent_date"].to_numpy(dtype="datetime64[ns]")
    spent_key = np.where(np.isnat(spent), 10**6, spent.view(np.int64) // 86_400_000_000_000 % 10**5)
    claim_key = text_order_codes(frame["claim_id"])
    number = frame["item_number"].fillna(99).to_numpy(dtype=np.int64)
    order = global_order(text_order_codes(frame["first_month"]), spent_key, claim_key, number, frame["line_id"])
    assert order.tolist() == expected.tolist()


def test_global_order_falls_back_when_keys_do_not_fit() -> None:
    month = np.array([1, 0, 1, 0])
    wide = np.array([2**40, 2**40, 0, 0])
    order = global_order(month, wide, wide, wide, pd.Series(["d", "c", "b", "a"], dtype="str"))
    assert order.tolist() == [3, 1, 2, 0]


def test_group_cumsum_and_capped_rows_match_the_primitive() -> None:
    rng = np.random.default_rng(3)
    amounts = rng.integers(0, 50, 500)
    keys = rng.integers(0, 40, 500) * 1_000_003  # sparse keys are renumbered
    expected = pd.Series(amounts).groupby(keys, sort=False).cumsum().to_numpy()
    assert group_cumsum(amounts, keys).tolist() == expected.tolist()
    limits = (keys // 1_000_003 % 7) * 20
    rows = np.flatnonzero(keys % 3 != 0)
    capped = pd.Series(limits, dtype="Int64").where(keys % 3 != 0)
    reference = cumulative_cap(pd.Series(amounts), [pd.Series(keys)], capped)
    assert capped_rows(amounts, rows, keys[rows], limits[rows]).tolist() == reference.tolist()


def test_capped_rows_makes_its_keys_and_limits_when_given_functions() -> None:
    """``capped_rows`` takes its keys and limits as arrays or as functions that make them (so that
    ``capped_at_level`` frees the keys before the limits exist): the same figures either way."""
    rng = np.random.default_rng(5)
    amounts = rng.integers(0, 60, 400)
    rows = np.flatnonzero(rng.random(400) < 0.7)
    keys, limits = rng.integers(0, 30, len(rows)), rng.integers(0, 200, len(rows))
    given_arrays = capped_rows(amounts, rows, keys, limits)
    assert capped_rows(amounts, rows, lambda: keys.copy(), lambda: limits.copy()).tolist() == given_arrays.tolist()


@given(
    codes=st.lists(st.integers(0, 60), min_size=1, max_size=60),
    spread=st.sampled_from([1, 2_000, 10**6]),
    copies=st.sampled_from([1, 2_000]),
)
def test_dense_in_place_renumbers_keys_in_their_order(codes: list[int], spread: int, copies: int) -> None:
    """Keys spanning a range wider than 65,536 codes but not sparser than two per key are renumbered in
    place as the ranks of their distinct values (what ``np.unique`` gives); others are left as they
    are (``group_cumsum`` factorizes sparse ones). The cap's figures cannot change either way (its
    groups are the same), but the table of running totals has a row per group used."""
    keys = np.tile(np.array(codes, dtype=np.int64) * spread, copies)
    before = keys.copy()
    caps.dense_in_place(keys)
    size = int(before.max()) + 1
    if 1 << 16 < size <= 2 * len(before) + 1024:
        assert keys.tolist() == np.unique(before, return_inverse=True)[1].tolist()
    else:
        assert keys.tolist() == before.tolist()


def test_dense_in_place_on_a_level_of_ten_million_codes() -> None:
    keys = np.array([9_999_999, 4_000_000, 9_999_999, 4_000_001, 4_000_000] * 1_000_000, dtype=np.int64)
    caps.dense_in_place(keys)
    assert keys[:5].tolist() == [2, 0, 2, 1, 0] and int(keys.max()) == 2


@given(
    pairs=st.lists(
        st.tuples(st.integers(0, 10**12), st.sampled_from([0, 1, 2, 5, 1_000_003, 2**40])),  # some sparse
        max_size=80,
    )
)
def test_group_cumsum_through_pandas_kernel_equals_the_public_groupby(pairs: list[tuple[int, int]]) -> None:
    """``group_cumsum`` hands the codes to pandas' own kernel (``caps.PANDAS_GROUP_CUMSUM``, found in
    the pandas this project pins) and gives what pandas' public ``groupby().cumsum()`` gives, which
    is also its fallback where a pandas release moves the kernel. Either way the result is a new
    array its callers may write into (``capped_rows`` subtracts in place)."""
    amounts = np.array([amount for amount, _ in pairs], dtype=np.int64)
    keys = np.array([key for _, key in pairs], dtype=np.int64)
    assert caps.PANDAS_GROUP_CUMSUM is not None
    through_kernel = group_cumsum(amounts, keys)
    with mock.patch.object(caps, "PANDAS_GROUP_CUMSUM", None):
        through_groupby = group_cumsum(amounts, keys)
    expected = pd.Series(amounts, dtype="int64").groupby(keys, sort=False).cumsum()
    assert through_kernel.dtype == through_groupby.dtype == np.int64
    assert through_kernel.tolist() == through_groupby.tolist() == expected.tolist()
    assert through_kernel.flags.writeable and through_groupby.flags.writeable


def test_global_order_argsort_path_breaks_ties_by_line_id() -> None:
    rng = np.random.default_rng(11)
    n = 40
    month, spent = rng.integers(0, 2, n), rng.choice([0, 2**30], n)
    claim, number = rng.choice([0, 2**27], n), np.zeros(n, dtype=np.int64)
    ids = pd.Series([f"L{i % 7}" for i in range(n)], dtype="str")
    frame = pd.DataFrame({"m": month, "s": spent, "c": claim, "n": number, "id": ids})
    expected = frame.sort_values(["m", "s", "c", "n", "id"], kind="stable").index.tolist()
    assert global_order(month, spent, claim, number, ids).tolist() == expected


@given(
    st.lists(st.lists(st.one_of(st.none(), st.text(max_size=4)), max_size=5), min_size=1, max_size=5),
    st.integers(0, 3),
)
def test_contiguous_text_keeps_every_value_in_one_array(months: list[list[str | None]], start: int) -> None:
    """``contiguous_text`` (the history's text columns once stacked): the same frame, values, dtypes
    and index, with each text column one Arrow array instead of a chunk per frame stacked; a frame
    already contiguous comes back as it is."""
    from pipeline.arrow_text import arrow_strings, contiguous_text

    frames = [
        pd.DataFrame({"id": pd.Series(values, dtype="str"), "amount": np.arange(len(values), dtype=np.int64)})
        for values in months
    ]
    stacked = pd.concat(frames, ignore_index=True).set_axis(pd.RangeIndex(start, start + sum(map(len, months))))
    made = contiguous_text(stacked)
    pd.testing.assert_frame_equal(made, stacked)
    assert not isinstance(arrow_strings(made["id"]), pa.ChunkedArray) or arrow_strings(made["id"]).num_chunks <= 1
    assert contiguous_text(made) is made


@given(
    st.lists(
        st.lists(st.one_of(st.none(), st.sampled_from(["b.xlsx", "a.xlsx", "ファイル", ""])), max_size=5), max_size=4
    ),
    st.integers(0, 3),
)
def test_text_as_labels_keeps_every_value_and_the_texts_order(months: list[list[str | None]], start: int) -> None:
    """``text_as_labels`` (where each row of the history came from): the same values and index, each
    named text column a categorical whose categories are its distinct values in code-point order (so
    sorting or grouping gives the text's order), empty cells empty; other and absent columns as
    they were, and written as text again (``labels_as_text``) the frame is the one given."""
    from pipeline.arrow_text import labels_as_text, text_as_labels

    frames = [
        pd.DataFrame({"source_file": pd.Series(values, dtype="str"), "id": pd.Series(values, dtype="str")})
        for values in months
    ]
    rows = sum(map(len, months))
    stacked = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame({"source_file": pd.Series([], dtype="str"), "id": pd.Series([], dtype="str")})
    ).set_axis(pd.RangeIndex(start, start + rows))
    labelled = text_as_labels(stacked, ["source_file", "coverholder"])
    column = labelled["source_file"]
    assert isinstance(column.dtype, pd.CategoricalDtype)
    categories = column.cat.categories.tolist()
    assert categories == sorted(categories) and set(categories) == set(stacked["source_file"].dropna())
    assert labelled["id"].dtype == stacked["id"].dtype and "coverholder" not in labelled.columns
    pd.testing.assert_frame_equal(labels_as_text(labelled), stacked)
    assert column.isna().tolist() == stacked["source_file"].isna().tolist()
