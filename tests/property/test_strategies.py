"""The property tests' generated books are valid input: every check of the ``*Valid`` schemas
passes on them, and the frames the property tests take without running those checks
(``factories.typed``: ``Book.frames``, the reinsurance tests' books) are these frames exactly."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from pandera.errors import SchemaError

from schemas.claims import ClaimValid
from schemas.policies import PolicyValid
from tests import factories
from tests.property import test_reinsurance_properties
from tests.property.strategies import Book, books, reproducible


@reproducible(30)
@given(books(max_portfolios=12))
def test_generated_books_pass_every_check_and_frames_are_the_validated_frames(book: Book) -> None:
    for checked, taken in zip(book.valid_frames(), book.frames(), strict=True):
        pd.testing.assert_frame_equal(taken, checked)


@reproducible(30)
@given(test_reinsurance_properties.books())
def test_the_reinsurance_tests_books_pass_every_check(book: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    for frame, schema in zip(book, (PolicyValid, ClaimValid), strict=True):
        taken = frame[list(factories.validated_dtypes(schema))]
        pd.testing.assert_frame_equal(taken, schema.validate(taken.copy()))


def test_frames_are_typed_as_validated_but_not_checked() -> None:
    """``frames`` runs no check: a row that breaks one passes it and fails ``valid_frames`` (so
    the test above can fail); its dtypes are still the validated ones."""
    bad = Book(policies=[{}], claims=[{}], lines=[{"amount": -1}])
    lines, _, _ = bad.frames()
    assert lines["amount"].tolist() == [-1] and lines["amount"].dtype == "int64"
    assert lines["spent_date"].dtype == "datetime64[ns]"
    with pytest.raises(SchemaError, match="amount"):
        bad.valid_frames()
