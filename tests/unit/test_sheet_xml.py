"""The extent scan of a sheet's XML (pipeline.io.sheet_xml): the farthest ``r="…"`` reference of a
block, vectorised, against a plain regular expression on generated XML."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from pipeline.io.sheet_xml import SPECIAL_MARKERS, _block_extent, column_letters, has_special_marker
from tests.property.strategies import reproducible

REFERENCE = re.compile(rb"""[ \n\t\r]r=["']([A-Z]{0,3})([0-9]{0,8})""")


def _expected(xml: bytes) -> tuple[int, int]:
    """The largest row and column (1-based) of the references, read one match at a time."""
    rows, columns = [0], [0]
    for match in REFERENCE.finditer(xml):
        column = 0
        for letter in match[1]:
            column = column * 26 + letter - 64
        rows.append(int(match[2] or 0))
        columns.append(column)
    return max(rows), max(columns)


cells = st.lists(
    st.tuples(
        st.integers(0, 16_383),
        st.integers(1, 1_048_576),
        st.sampled_from([" ", "\n", "\t", "\r"]),
        st.sampled_from(['"', "'"]),
        st.sampled_from(['s="1"', 't="s"', 'r="x"', "", 'xr="Z9"']),
    ),
    max_size=40,
)


@reproducible(200, suppressed=())
@given(cells)
def test_block_extent_matches_the_references_read_one_by_one(given_cells: list) -> None:
    parts = ["<sheetData>"]
    for column, row, space, quote, noise in given_cells:
        reference = f"{column_letters(column)}{row}"
        parts.append(f"<row{space}r={quote}{row}{quote}><c {noise}{space}r={quote}{reference}{quote}>")
        parts.append("<v>1</v></c></row>")
    xml = ("".join(parts) + "</sheetData>" + " " * 16).encode()
    assert _block_extent(xml) == _expected(xml)


def test_block_extent_of_a_block_without_references_is_zero() -> None:
    assert _block_extent(b"<worksheet><sheetData/></worksheet>" + b" " * 16) == (0, 0)
    assert _block_extent(b"short") == (0, 0)


fragments = st.lists(
    st.sampled_from(
        [b"<", b">", b"/", b" ", b":", b"f", b"e", b"t", b"=", b'"', b"'", b"x", b"<c>", b"<f", b"t=", b"</v>"]
    ),
    max_size=60,
)


@reproducible(500, suppressed=())
@given(fragments)
def test_special_markers_are_found_as_a_search_for_each_marker_finds_them(pieces: list[bytes]) -> None:
    """The vectorised check of error values and formulas agrees with searching the block for each
    marker in turn, wherever the markers fall (at the block's edges too)."""
    block = b"".join(pieces)
    assert has_special_marker(block) == any(marker in block for marker in SPECIAL_MARKERS)


def test_special_markers_in_a_sheets_xml() -> None:
    assert has_special_marker(b'<c r="A2" t="e"><v>#N/A</v></c>')
    assert has_special_marker(b'<c r="A2"><f>SUM(B1:B9)</f></c>') and has_special_marker(b"<x:f t='shared'/>")
    assert not has_special_marker(b'<c r="A2" t="s"><v>3</v></c><c r="F2" t="str"><v>fee</v></c>')
