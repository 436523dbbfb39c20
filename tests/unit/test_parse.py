"""Spellings people type (DATA_CONTRACT.md § Values people really type, § Validation details)."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.parse import (
    BOOL_REASON,
    DATE_REASON,
    ID_REASON,
    INTEGER_REASON,
    TEXT_REASON,
    YEN_REASON,
    carried,
    carried_columns,
    half_width,
    parse_bool,
    parse_code,
    parse_code_list,
    parse_date,
    parse_id,
    parse_integer,
    parse_text,
    parse_yen,
)
from tests.property.strategies import reproducible


def _parse_column(column: pd.Series, parse_cell, plain=None) -> tuple[list[object], list[object]]:
    """Every cell's value and reason as the column parsers find them, as lists (the Python objects)."""
    from pipeline.parse import _parsed_cells

    values, errors = _parsed_cells(column.to_numpy(dtype=object), parse_cell, plain)
    return values.tolist(), errors.tolist()


def one(parser, cell):
    values, errors = parser(pd.Series([cell], dtype=object))
    return values.iloc[0], errors.iloc[0]


@pytest.mark.parametrize(
    "cell",
    [
        "1234567",
        "1,234,567",
        "¥1,234,567",
        "1,234,567円",
        "１２３４５６７",
        "￥１，２３４，５６７円",
        " 1,234,567 ",
        1234567.0,
        1234567,
    ],
)
def test_yen_accepts_every_listed_spelling(cell):
    assert one(parse_yen, cell) == (1_234_567, None)


@pytest.mark.parametrize(
    "cell",
    [
        "12,34,567",
        "1234,567",
        "1,2345",
        "123万",
        "1.5",
        "1,234.5",
        1234.5,
        "-1,000",
        -1000.0,
        "abc",
        True,
        dt.date(2026, 4, 1),
        "1,000ドル",
    ],
)
def test_yen_rejects_anything_else_saying_what_was_expected(cell):
    value, error = one(parse_yen, cell)
    assert pd.isna(value)
    assert error == YEN_REASON


def test_yen_empty_is_missing_not_an_error():
    values, errors = parse_yen(pd.Series(["", "  ", None], dtype=object))
    assert values.isna().all() and errors.isna().all()
    assert str(values.dtype) == "Int64"


@pytest.mark.parametrize("parse", [parse_yen, parse_integer, parse_date, parse_bool, parse_code, parse_id, parse_text])
@pytest.mark.parametrize(
    ("cell", "shown"), [(float("nan"), "NaN"), (float("inf"), "Infinity"), (-math.inf, "-Infinity")]
)
def test_nan_and_infinities_are_bad_values_never_empty(parse, cell, shown):
    _, error = one(parse, cell)
    assert error == f"{shown} is not a value (written by a program, no Excel holds it): give the value"


@pytest.mark.parametrize(
    ("cell", "character"),
    [
        ("10⁸", "'⁸' (U+2078 SUPERSCRIPT EIGHT)"),
        ("⑩", "'⑩' (U+2469 CIRCLED NUMBER TEN)"),
        ("٣٠٠", "'٣' (U+0663 ARABIC-INDIC DIGIT THREE)"),
        ("¥１，０⁰⁰", "'⁰' (U+2070 SUPERSCRIPT ZERO)"),
    ],
)
def test_compatibility_digits_are_not_digits(cell, character):
    """NFKC would read 10⁸ as 108 and ⑩ as 10: only width is normalised."""
    for parse, expected in ((parse_yen, YEN_REASON), (parse_integer, INTEGER_REASON), (parse_id, ID_REASON)):
        value, error = one(parse, cell)
        assert pd.isna(value)
        assert error == f"contains {character}, not one of the digits 0-9; {expected}"


def test_full_width_is_read_as_half_width():
    assert one(parse_yen, "¥１，２３４，５６７")[0] == 1_234_567
    assert one(parse_id, "ＣＳ０００１")[0] == "CS0001"
    assert one(parse_date, "２０２６／４／１")[0] == pd.Timestamp("2026-04-01")
    assert one(parse_code, "ＷＩＤＥ")[0] == "wide"
    assert half_width("ｶﾞｲﾄﾞ　Ａ") == "ガイド A"


@pytest.mark.parametrize("invisible", ["\u200b", "\ufeff", "\u200e", "\u2060", "\u00ad", "\ue000"])
def test_ids_with_invisible_characters_are_rejected(invisible):
    for cell in (f"CS0000001{invisible}", f"CS{invisible}0000001"):
        value, error = one(parse_id, cell)
        assert pd.isna(value)
        assert error.startswith(f"contains an invisible character (U+{ord(invisible):04X} ")
        assert error.endswith(ID_REASON)


def test_boolean_cells_are_not_ids_or_text():
    assert pd.isna(one(parse_id, True)[0])
    assert one(parse_id, True)[1] == f"a TRUE (boolean) cell is not an id; {ID_REASON}"
    assert one(parse_text, False)[1] == f"a FALSE (boolean) cell is not text; {TEXT_REASON}"
    assert one(parse_bool, True) == (True, None)


def test_yen_excel_errors_and_control_characters_are_reasons_never_exceptions():
    assert one(parse_yen, "#N/A")[1].startswith("Excel error value #N/A")
    assert one(parse_yen, "#DIV/0!")[1].startswith("Excel error value #DIV/0!")
    assert one(parse_yen, "12\x0734")[1].startswith("contains a control character (U+0007)")
    assert "implausibly large" in one(parse_yen, "9" * 20)[1]


@pytest.mark.parametrize(
    "cell",
    [
        dt.date(2026, 4, 1),
        dt.datetime(2026, 4, 1, 0, 0),
        dt.datetime(2026, 4, 1, 13, 30),
        "2026-04-01",
        "2026-4-1",
        "2026/4/1",
        "2026/04/01",
        "2026年4月1日",
        "２０２６年４月１日",
        "令和8年4月1日",
        "R8.4.1",
        "r8.4.1",
        "Ｒ８．４．１",
    ],
)
def test_dates_accept_every_listed_spelling(cell):
    assert one(parse_date, cell) == (pd.Timestamp("2026-04-01"), None)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("平成31年4月30日", "2019-04-30"),
        ("H31.4.30", "2019-04-30"),
        ("H1.1.8", "1989-01-08"),
        ("R1.5.1", "2019-05-01"),
        ("令和元年5月1日", "2019-05-01"),
        ("2024-02-29", "2024-02-29"),
    ],
)
def test_era_dates_inside_their_era(cell, expected):
    assert one(parse_date, cell) == (pd.Timestamp(expected), None)


@pytest.mark.parametrize(
    ("cell", "reason_part"),
    [
        ("R1.4.1", "outside the Reiwa era"),
        ("令和1年4月30日", "outside the Reiwa era"),
        ("H31.5.1", "outside the Heisei era"),
        ("H1.1.7", "outside the Heisei era"),
        ("2026-02-30", "is not a calendar date"),
        ("R8.2.30", "is not a calendar date"),
        ("2025-02-29", "is not a calendar date"),
        (46113.0, "a bare number (46113) is not a date"),
        (46113, "a bare number (46113) is not a date"),
        ("46113", "a bare number (46113) is not a date"),
        ("2026.4.1", DATE_REASON),
        ("2026-04", DATE_REASON),
        ("April 1, 2026", DATE_REASON),
        ("S60.1.1", DATE_REASON),
        (True, DATE_REASON),
        (dt.time(10, 0), DATE_REASON),
        ("#N/A", "Excel error value #N/A"),
        ("3026-01-01", "is after 2199-12-31, the latest date accepted"),
        ("1989-01-07", "1989-01-07 is before 1989-01-08, the earliest date accepted"),
        (dt.date(1900, 2, 28), "1900-02-28 is before 1989-01-08, the earliest date accepted"),
        (dt.datetime(1970, 1, 1), "1970-01-01 is before 1989-01-08"),
    ],
)
def test_dates_reject_anything_else(cell, reason_part):
    value, error = one(parse_date, cell)
    assert pd.isna(value)
    assert reason_part in error


def test_dates_dtype_is_datetime64_ns_with_missing_for_empty():
    values, errors = parse_date(pd.Series(["2026-04-01", "", None], dtype=object))
    assert str(values.dtype) == "datetime64[ns]"
    assert values.isna().tolist() == [False, True, True]
    assert errors.isna().all()


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("TRUE", True),
        ("FALSE", False),
        ("true", True),
        (True, True),
        (False, False),
        (1.0, True),
        (0.0, False),
        ("1", True),
        ("0", False),
        ("yes", True),
        ("no", False),
        ("YES", True),
        ("Y", True),
        ("N", False),
        ("y", True),
        ("n", False),
        ("有", True),
        ("無", False),
        ("あり", True),
        ("なし", False),
        ("○", True),
        ("×", False),
        ("はい", True),
        ("いいえ", False),
        ("", False),
        (None, False),
        ("ＴＲＵＥ", True),
    ],
)
def test_booleans_accept_every_listed_spelling(cell, expected):
    assert one(parse_bool, cell) == (expected, None)


@pytest.mark.parametrize("cell", ["maybe", "2", 2.0, "t", dt.date(2026, 4, 1), "#VALUE!"])
def test_booleans_reject_anything_else(cell):
    value, error = one(parse_bool, cell)
    assert value is False or value == False  # noqa: E712 - a bad cell reads as False and carries a reason
    assert BOOL_REASON in error


def test_codes_are_trimmed_case_insensitive_and_nfkc():
    values, errors = parse_code(pd.Series([" Cyber_Security ", "ＬＥＡＫ", "", 3.0], dtype=object))
    assert values.iloc[:2].tolist() == ["cyber_security", "leak"]
    assert pd.isna(values.iloc[2])
    assert values.iloc[3] == "3"  # a number is a (wrong) code, judged by validation
    assert errors.isna().all()


def test_code_lists_keep_order_and_drop_empties():
    values, _ = parse_code_list(pd.Series([" Media ; authority_report;", "", "ＭＥＤＩＡ；soc_report"], dtype=object))
    assert values.tolist() == ["media;authority_report", "", "media;soc_report"]


def test_ids_are_text_and_numeric_cells_lose_the_point_zero():
    values, errors = parse_id(pd.Series([1001.0, 1001, " P-001 ", "Ｐ００１", 1001.5, ""], dtype=object))
    assert values.iloc[:5].tolist() == ["1001", "1001", "P-001", "P001", "1001.5"]
    assert pd.isna(values.iloc[5])
    assert errors.isna().all()
    assert one(parse_id, "P\x00001")[1].startswith("contains a control character")
    assert one(parse_id, "#REF!")[1].startswith("Excel error value #REF!")


def test_integers_for_victims():
    values, errors = parse_integer(pd.Series(["3", 3.0, "１,０００", "", "2.5", "-1", "三"], dtype=object))
    assert values.iloc[:3].tolist() == [3, 3, 1000]
    assert pd.isna(values.iloc[3])
    assert errors.iloc[4:].tolist() == [INTEGER_REASON] * 3


def test_text_is_trimmed_but_otherwise_kept_and_unknown_columns_never_fail():
    values, errors = parse_text(pd.Series([" 株式会社ｱｲｳ ", "line\nbreak", "bad\x01", 12.0], dtype=object))
    assert values.tolist()[:2] == ["株式会社ｱｲｳ", "line\nbreak"]
    assert errors.iloc[2].startswith("contains a control character")
    assert values.iloc[3] == "12"
    assert carried(pd.Series([1.0, dt.date(2026, 4, 1), True, ""], dtype=object)).tolist() == [
        "1",
        "2026-04-01",
        "TRUE",
        "",
    ]


def test_parsing_a_large_column_is_fast():
    import time

    cells = pd.Series([f"{i:,}" for i in range(100_000)], dtype=object)
    start = time.perf_counter()
    values, errors = parse_yen(cells)
    assert time.perf_counter() - start < 2
    assert errors.isna().all() and values.iloc[-1] == 99_999


# --- a whole column of plain ids at once (#17) ------------------------------------------------------

_TRICKY_IDS: list[object] = [
    "CS0000001",
    "L-2026/04.001",
    " CS01",
    "CS01 ",
    "CS 01",
    "ＣＳ０１",
    "#N/A",
    "CS01\u200b",
    "CS⑩",
    "A" * 40_000,
    "A" * 200,
    "",
    "   ",
    None,
    "x\x07",
    ":a",
    "-1",
]


def test_plain_ids_taken_a_column_at_once_read_as_one_by_one() -> None:
    from pipeline.parse import _id_cell, plain_ids

    column = pd.Series(_TRICKY_IDS * 3, dtype=object)
    assert _parse_column(column, _id_cell, plain=plain_ids) == _parse_column(column, _id_cell)
    mixed = pd.Series([*_TRICKY_IDS, 1001, True, 2.5], dtype=object)  # not all text: cell by cell
    assert _parse_column(mixed, _id_cell, plain=plain_ids) == _parse_column(mixed, _id_cell)


@given(
    st.lists(
        st.one_of(
            st.none(),
            st.text(alphabet=st.characters(codec="utf-8"), max_size=12),
            st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_./:-]{0,12}", fullmatch=True),
        ),
        max_size=30,
    )
)
def test_plain_ids_equal_the_cell_parser_on_any_text(cells: list[str | None]) -> None:
    from pipeline.parse import _id_cell, plain_ids

    column = pd.Series(cells, dtype=object)
    assert _parse_column(column, _id_cell, plain=plain_ids) == _parse_column(column, _id_cell)


_TRICKY_NUMBERS: list[object] = [
    0,
    0.0,
    -0.0,
    1.0,
    1234567,
    1234567.0,
    1234567.5,
    -1,
    -1.0,
    10**15 - 1,
    10**15,
    float(10**15),
    10**20,
    1e300,
    float("nan"),
    float("inf"),
    True,
    False,
    "1,234",
    "",
    None,
    "¥5",
]


@pytest.mark.parametrize("parser", ["_yen_cell", "_integer_cell"])
def test_plain_whole_numbers_taken_a_column_at_once_read_as_one_by_one(parser: str) -> None:
    from pipeline import parse

    cell_parser = getattr(parse, parser)
    column = pd.Series(_TRICKY_NUMBERS * 2, dtype=object)
    fast = _parse_column(column, cell_parser, plain=parse.plain_whole_numbers)
    assert fast == _parse_column(column, cell_parser)
    assert [type(value) for value in fast[0]] == [type(value) for value in _parse_column(column, cell_parser)[0]]


@given(
    st.lists(
        st.one_of(st.none(), st.integers(-10, 10**16), st.floats(allow_nan=True), st.booleans(), st.text(max_size=6)),
        max_size=30,
    )
)
def test_plain_whole_numbers_equal_the_cell_parser_on_any_cells(cells: list[object]) -> None:
    from pipeline.parse import _yen_cell, plain_whole_numbers

    column = pd.Series(cells, dtype=object)
    assert _parse_column(column, _yen_cell, plain=plain_whole_numbers) == _parse_column(column, _yen_cell)


@pytest.mark.parametrize("parser", ["_date_cell", "_code_cell", "_text_cell", "_bool_cell", "_yen_cell"])
@given(
    cells=st.lists(
        st.one_of(
            st.sampled_from(["", " ", "2026-04-01", "R8.4.1", "Yes", "TRUE", "1,000", "a", "Ａ", "#N/A"]),
            st.dates(min_value=dt.date(1980, 1, 1), max_value=dt.date(2210, 1, 1)),
            st.datetimes(min_value=dt.datetime(1980, 1, 1), max_value=dt.datetime(2210, 1, 1)),
            st.booleans(),
            st.sampled_from([None, pd.NaT, float("nan")]),
        ),
        max_size=25,
    )
)
def test_a_column_parses_each_cell_as_the_cell_parser_does(parser: str, cells: list[object]) -> None:
    """Distinct cells parsed once and taken by code (one type, no missing cell) or through the
    cache: either way every cell's value and reason are what the cell parser gives that cell."""
    from pipeline import parse

    cell_parser = getattr(parse, parser)
    column = pd.Series(cells, dtype=object)
    values, errors = _parse_column(column, cell_parser)
    expected = [parse._outcome(cell, cell_parser) for cell in cells]
    assert list(zip(values, errors, strict=True)) == expected
    assert [type(value) for value in values] == [type(value) for value, _ in expected]


NUMBERS = st.one_of(st.integers(-(2**60), 2**60), st.floats(allow_nan=True, allow_infinity=True))
CELLS = st.one_of(st.just(""), NUMBERS, st.booleans(), st.dates(), st.text(max_size=6))


@st.composite
def unknown_columns(draw: st.DrawFn) -> pd.DataFrame:
    """Unknown columns as read (cells as typed, "" where empty), some of numbers and empty cells only."""
    rows = draw(st.integers(0, 7))
    columns = {}
    for number in range(draw(st.integers(1, 6))):
        cells = st.one_of(st.just(""), NUMBERS) if draw(st.booleans()) else CELLS
        columns[f"x{number}"] = pd.Series(draw(st.lists(cells, min_size=rows, max_size=rows)), dtype=object)
    return pd.DataFrame(columns).set_axis(pd.RangeIndex(2, rows + 2))


@reproducible(80, suppressed=())
@given(raw=unknown_columns())
def test_unknown_columns_carried_together_are_each_carried_alone(raw: pd.DataFrame) -> None:
    """``carried_columns`` (a sheet's unknown columns in one frame, as validation carries them) gives
    each column exactly as ``carried`` gives it alone (as a folder sheet's parts are carried again):
    the same values, dtype (``Int64``, ``float64`` or text) and missing cells."""
    together = carried_columns(raw)
    assert list(together.columns) == list(raw.columns)
    assert together.index.equals(raw.index)
    for column in raw.columns:
        pd.testing.assert_series_equal(together[column], carried(raw[column]), check_names=False)


def _arrow_cells(kind: str) -> st.SearchStrategy[tuple[list[object], object]]:
    """Cells of a Parquet column of ``kind``'s usual Arrow type: mostly plain, now and then not."""
    plain_text = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,8}", fullmatch=True)
    odd_text = st.sampled_from(["", " x", "A B", "#N/A", "Ａ1", "x\x07", "a;;b", "a; b", "a" * 201, "1/2", "p:q"])
    if kind in ("id", "code", "code_list"):
        listed = st.lists(plain_text, min_size=1, max_size=3).map(";".join)
        cells = st.one_of(st.none(), plain_text, listed, odd_text)
        return st.tuples(st.lists(cells, max_size=12), st.sampled_from([pa.string(), pa.large_string()]))
    if kind in ("yen", "integer"):
        odd = st.sampled_from([-1, -5, 10**15, 10**16])
        numbers = st.one_of(st.none(), st.integers(0, 10**15 - 1), odd)
        return st.tuples(st.lists(numbers, max_size=12), st.sampled_from([pa.int64(), pa.int32(), pa.uint64()]))
    if kind == "date":
        odd = st.sampled_from([dt.date(1900, 2, 28), dt.date(1989, 1, 7), dt.date(2200, 1, 1), dt.date(1, 1, 1)])
        days = st.one_of(st.none(), st.dates(dt.date(1989, 1, 8), dt.date(2199, 12, 31)), odd)
        return st.tuples(st.lists(days, max_size=12), st.just(pa.date32()))
    return st.tuples(st.lists(st.one_of(st.none(), st.booleans()), max_size=12), st.just(pa.bool_()))


@pytest.mark.parametrize("kind", ["id", "code", "code_list", "yen", "integer", "date", "bool"])
@given(data=st.data())
def test_a_parquet_column_parsed_from_arrow_is_what_its_python_cells_give(kind: str, data: st.DataObject) -> None:
    """``parsed_arrow`` gives the kind's parser's values, dtype and reasons for the same cells as
    Python values, or None (a cell not plain: the caller parses the Python values); a column of
    plain cells and nulls is always taken from Arrow."""
    from pipeline.cell_columns import python_values
    from pipeline.parse import PARSERS, parsed_arrow

    cells, arrow_type = data.draw(_arrow_cells(kind))
    try:
        array = pa.array(cells, type=arrow_type)
    except (pa.ArrowInvalid, OverflowError):  # a number the type cannot hold: not a Parquet column
        return
    column = pa.chunked_array([array], arrow_type)
    index = pd.RangeIndex(len(cells))
    expected = PARSERS[kind](pd.Series(python_values(column), dtype=object))
    fast = parsed_arrow(kind, column, index)
    if fast is None:
        assert expected.errors.notna().any() or not _all_plain(kind, cells)
        return
    pd.testing.assert_series_equal(fast.values, expected.values, check_exact=True)
    pd.testing.assert_series_equal(fast.errors, expected.errors)
    if isinstance(expected.values.dtype, pd.StringDtype):
        assert fast.values.array._pa_array.type == expected.values.array._pa_array.type


def _all_plain(kind: str, cells: list[object]) -> bool:
    """Whether every cell is null or plain for ``kind`` (``parsed_arrow`` must then take the column)."""
    import re

    from pipeline.parse import MAX_YEN, PLAIN_CODE, PLAIN_CODE_LIST, PLAIN_ID, PLAIN_LENGTH

    given = [cell for cell in cells if cell is not None]
    if kind in ("id", "code", "code_list"):
        pattern = {"id": PLAIN_ID, "code": PLAIN_CODE, "code_list": PLAIN_CODE_LIST}[kind]
        return all(isinstance(c, str) and len(c) <= PLAIN_LENGTH and re.match(pattern, c) for c in given)
    if kind in ("yen", "integer"):
        return all(0 <= c < MAX_YEN for c in given)  # type: ignore[operator]
    if kind == "date":
        return all(dt.date(1989, 1, 8) <= c <= dt.date(2199, 12, 31) for c in given)  # type: ignore[operator]
    return True
