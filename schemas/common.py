"""Columns every validated row carries: where it came from, so any figure traces back to a cell.

Also the building blocks of the validation rules (DATA_CONTRACT.md § Validation details): a
:class:`Rule` is a column, a reason and a boolean per row; the table modules build their rules from
these helpers and the product data, and ``pipeline.stages.validate`` runs them through pandera.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as arrow
from pandera import dtypes
from pandera.engines import pandas_engine
from pandera.typing import Series

from pipeline.arrow_text import positions

if TYPE_CHECKING:
    from pipeline.products import ProductBook

MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"

PANDERA_DASK_TYPING = "pandera.typing.dask"


def without_pandera_dask_typing() -> bool:
    """Keep pandera from importing ``dask.dataframe`` when it builds these schemas: pandera's
    backends for dask are imported only when a dask frame is validated, but its typing module
    ``pandera.typing.dask`` imports ``dask.dataframe`` (with ``dask.array``, ``sparse`` and numba:
    1.1 of the 2.3 s that ``python -m pipeline`` took to start) the first time any schema is built,
    to learn whether dask is installed. These schemas validate pandas frames only (the Dask engine
    runs the pandas stages on each part), so that module is registered as pandera has it where dask
    is not installed (``DASK_INSTALLED = False``, pandera's own fallback), unless it or dask's
    dataframe is already imported. ``tests/unit/test_validate.py`` fails once pandera no longer
    imports dask there (this can go then) or its module stops defining ``DASK_INSTALLED``; were
    pandera to read anything else of it, building any schema would fail at once. True when it was
    registered here."""
    if PANDERA_DASK_TYPING in sys.modules or "dask.dataframe" in sys.modules:
        return False
    module = types.ModuleType(PANDERA_DASK_TYPING, "pandera's dask typing as without dask (schemas.common)")
    module.DASK_INSTALLED = False  # type: ignore[attr-defined]
    sys.modules[PANDERA_DASK_TYPING] = module
    return True


without_pandera_dask_typing()


@dtypes.immutable(init=True)
class Text(pandas_engine.STRING):
    """The schemas' text columns: pandas' ``str`` dtype, as ``Series[str]`` gives it, with a dtype
    check that answers a column of exactly that dtype with one True. pandera's own check answers it
    with a True per row, and pandera then builds (and throws away) an empty table of failure cases
    for every text column of every validation: about a tenth of the cross-row validation's time
    (pipeline/bench/MEASUREMENTS.md § Tests). Any other dtype is checked, and coerced, as pandera
    checks ``str``."""

    def check(self, pandera_dtype: dtypes.DataType, data_container: Any = None) -> Any:
        try:
            exact = pandas_engine.Engine.dtype(pandera_dtype).type == self.type
        except TypeError:
            return False
        return True if exact else super().check(pandera_dtype, data_container)


class Provenance(pa.DataFrameModel):
    """Where a row was read: bordereau month, file (relative to the input folder), sheet, Excel row."""

    bordereau_month: Series[Text] = pa.Field(str_matches=MONTH_PATTERN)
    source_file: Series[Text]
    source_sheet: Series[Text]
    excel_row: Series[int] = pa.Field(ge=2)

    class Config:
        strict = False  # unknown input columns are carried through to the outputs
        coerce = True


# --- Parsing and validation rules (DATA_CONTRACT.md § Validation details) --------------------

# Codes of the data contract itself (not product data): where a claim was made or money spent,
# and the kinds of victim on a condolence line.
JURISDICTIONS = ("domestic", "overseas")
VICTIM_TYPES = ("individual", "corporate")


@dataclass(frozen=True)
class Rule:
    """One validation rule over a parsed sheet: the ``column`` a failure is reported against, the
    ``reason`` shown to people, and ``holds``: a boolean per row, True where the rule is met."""

    column: str
    reason: str
    holds: pd.Series


def unless(applies: pd.Series, holds: pd.Series) -> pd.Series:
    """A rule that only ``applies`` to some rows: it holds wherever it does not apply (NA = holds)."""
    return (~applies.fillna(False).astype(bool)) | holds.fillna(True).astype(bool)


def required_where(frame: pd.DataFrame, applies: pd.Series, column: str, reason: str) -> Rule:
    """``column`` must be given on the rows where the rule ``applies``."""
    return Rule(column, reason, unless(applies, frame[column].notna()))


def allowed_where(frame: pd.DataFrame, applies: pd.Series, column: str, allowed: list[Any], reason: str) -> Rule:
    """``column``, when given on the rows where the rule ``applies``, is one of ``allowed``."""
    values = frame[column]
    return Rule(column, reason, unless(applies & values.notna(), values.isin(allowed)))


def date_on_or_before(frame: pd.DataFrame, column: str, limit: pd.Series | pd.Timestamp, reason: str) -> Rule:
    """``column`` (when given) is on or before ``limit`` (when known)."""
    values = frame[column]
    limit_series = limit if isinstance(limit, pd.Series) else pd.Series(limit, index=frame.index)
    return Rule(column, reason, unless(values.notna() & limit_series.notna(), values <= limit_series))


def date_in_period(frame: pd.DataFrame, column: str, start: pd.Series, end: pd.Series, reason: str) -> Rule:
    """``column`` (when given) lies in ``[start, end)`` (where both are known)."""
    values = frame[column]
    applies = values.notna() & start.notna() & end.notna()
    return Rule(column, reason, unless(applies, (values >= start) & (values < end)))


def one_year_after(start: pd.Series) -> pd.Series:
    """``start`` + 1 year, same calendar date (29 Feb -> 28 Feb) (CALCULATION.md § Policies)."""
    return (start + pd.DateOffset(years=1)).astype("datetime64[ns]")


# --- cross-table rules (DATA_CONTRACT.md § Validation details) ----------------------------------


def duplicate_id_rule(frame: pd.DataFrame, id_column: str) -> Rule:
    """An id that appears twice in one file: every copy is rejected."""
    ids = frame[id_column]
    return Rule(
        id_column,
        f"{id_column} appears more than once in this file: every copy is rejected (nobody can tell which is right)",
        ~(ids.notna() & ids.duplicated(keep=False)),
    )


def member_of(values: pd.Series, allowed: Iterable[object]) -> pd.Series:
    """``values.isin(allowed)``: looked up with pyarrow (``positions``: the smaller side hashed) when
    both sides are text, else hashed on plain Python objects (pandas' Arrow-backed strings turn every
    allowed value into an Arrow scalar one at a time, which dominated validation when ``allowed`` is
    every policy or claim in force, #17). A missing value is never a member."""
    try:  # text on both sides: no Python object per value
        members = positions(values, allowed) >= 0
    except (arrow.ArrowInvalid, arrow.ArrowTypeError, TypeError):
        wanted = np.asarray(list(allowed), dtype=object)
        members = pd.Index(values.to_numpy(dtype=object), dtype=object).isin(wanted)
    return pd.Series(members & values.notna().to_numpy(), index=values.index, dtype=bool)


def known_id_rules(
    frame: pd.DataFrame, column: str, in_force: pd.Series, rejected_ids: set[str], what: str, month: str
) -> list[Rule]:
    """``column`` must name a ``what`` in force as at ``month`` (``in_force``: per row, whether it
    does, as the caller looked it up); a reference to a rejected one says so."""
    ids = frame[column]
    unknown = ids.notna() & ~in_force.to_numpy(dtype=bool)
    was_rejected = member_of(ids, rejected_ids)
    return [
        Rule(
            column,
            f"{column} refers to a {what} whose row was rejected (not in force as at {month}); send the {what} again",
            ~(unknown & was_rejected),
        ),
        Rule(
            column,
            f"{column} is not a {what} known as at {month} (no valid {what} row in this or an earlier month)",
            ~(unknown & ~was_rejected),
        ),
    ]


def not_in(index: pd.Index, rows: Iterable[object]) -> pd.Series:
    """True for the rows of ``index`` not among ``rows``."""
    return pd.Series(~index.isin(list(rows)), index=index, dtype=bool)  # type: ignore[arg-type]


def pairs(frame: pd.DataFrame, left: str, right: str) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays([frame[left].astype(object), frame[right].astype(object)])


def catalogue(book: ProductBook) -> pd.MultiIndex:
    """Every allowed (product, item): each product's items and the never-paid items."""
    items = book.items()
    pairs = [(p, i) for p, i in zip(items["product"], items["item"], strict=True)]
    pairs += [(code, item) for code in book.products for item in book.never_paid_items]
    return pd.MultiIndex.from_tuples(pairs, names=["product", "item"])


def liability_items(book: ProductBook) -> pd.MultiIndex:
    items = book.items()
    return pairs(items[items["part"] == "liability"], "product", "item")


def exclusion_codes(book: ProductBook) -> pd.MultiIndex:
    pairs = [(code, exclusion) for code, product in book.products.items() for exclusion in product.exclusions]
    return pd.MultiIndex.from_tuples(pairs, names=["product", "exclusion_code"])
