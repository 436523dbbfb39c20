"""Spellings people type -> typed values (DATA_CONTRACT.md § Values people really type,
§ Validation details).

Every parser takes a Series of raw cells as python-calamine returns them (``str``, ``float``,
``int``, ``bool``, ``datetime.date``, ``datetime.datetime``; ``''`` for an empty cell) and returns a
:class:`Parsed` pair: the values in the target dtype (missing where the cell is empty or bad) and,
per cell, ``None`` or a reason a person can act on that says what was expected. A parser never
raises on a cell: Excel error values (``#N/A``), control characters, time-only cells and anything
else unexpected become reasons.

Text is normalised for width only (:func:`half_width`: full-width letters, digits and signs and the
ideographic space become their ASCII forms, half-width katakana full-width), never by NFKC: NFKC
also turns ``10⁸`` into ``108`` and ``⑩`` into ``10``, which would accept a wrong amount. Digits
other than ASCII 0-9 (superscripts, circled, Arabic-Indic, …) are rejected with a reason naming the
character, and so are invisible characters (zero-width space, BOM, direction marks, …) in anything
but free text. A NaN or infinite number (no Excel can hold one; a program wrote it) is a bad value,
never an empty cell.

Parsing works cell by cell on the distinct cells of a column (each distinct cell is parsed once),
which keeps 100k rows × 21 columns to a couple of seconds; the calculation path is elsewhere.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import math
import re
import unicodedata
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.cell_columns import object_array

Outcome = tuple[object, str | None]

YEN_REASON = "expected yen like 1,234,567 (no 万, no fractions, no negatives)"
INTEGER_REASON = "expected a whole number like 3"
DATE_REASON = "expected a date like 2026-04-01, 2026/4/1, 2026年4月1日, 令和8年4月1日 or R8.4.1"
BOOL_REASON = "expected TRUE/FALSE, 1/0, yes/no, Y/N, 有/無, あり/なし, ○/× or はい/いいえ (empty = false)"
TEXT_REASON = "expected text"
ID_REASON = "expected an id (text or a whole number)"

MAX_CELL_CHARS = 32_767  # Excel's limit for one cell; longer text cannot have been typed in Excel
MAX_YEN = 10**15  # far above any limit or premium; keeps every amount exact in int64 and float
# Plausible dates: from the first day of 平成 (1989-01-08; the earliest date the era spellings can
# write, and long before any cyber policy) to 2199-12-31 (inside datetime64[ns]). The floor rejects
# what Excel's 1900 date system produces from a stray small number: serial 60 shows as 1900-02-29,
# a day that never was, and is read as 1900-02-28; such a date also stretched the development
# triangle over a century of empty months.
EARLIEST_DATE, LATEST_DATE = dt.date(1989, 1, 8), dt.date(2199, 12, 31)

EXCEL_ERRORS = frozenset(
    {
        "#N/A",
        "#DIV/0!",
        "#VALUE!",
        "#REF!",
        "#NAME?",
        "#NUM!",
        "#NULL!",
        "#SPILL!",
        "#CALC!",
        "#FIELD!",
        "#BLOCKED!",
        "#CONNECT!",
        "#BUSY!",
        "#UNKNOWN!",
        "#GETTING_DATA",
    }
)

TRUE_WORDS = frozenset({"true", "1", "yes", "y", "有", "あり", "○", "はい"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "無", "なし", "×", "いいえ"})


class Era(NamedTuple):
    """A Japanese era: its name, one-letter abbreviation, first and last day (None: ongoing)."""

    name: str
    letter: str
    english: str
    first_day: dt.date
    last_day: dt.date | None


ERAS = (
    Era("令和", "R", "Reiwa", dt.date(2019, 5, 1), None),
    Era("平成", "H", "Heisei", dt.date(1989, 1, 8), dt.date(2019, 4, 30)),
)
_ERA_BY_KEY = {era.name: era for era in ERAS} | {era.letter: era for era in ERAS}

_GROUPED_DIGITS = r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)"
_YEN = re.compile(rf"¥?\s*({_GROUPED_DIGITS})\s*円?")
_INTEGER = re.compile(rf"({_GROUPED_DIGITS})")
_WESTERN_DATES = (
    re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})"),
    re.compile(r"(\d{4})/(\d{1,2})/(\d{1,2})"),
    re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日"),
)
_ERA_NAMES = "|".join(era.name for era in ERAS)
_ERA_LETTERS = "".join(era.letter for era in ERAS)
_ERA_KANJI = re.compile(rf"({_ERA_NAMES})\s*(\d{{1,2}}|元)\s*年\s*(\d{{1,2}})\s*月\s*(\d{{1,2}})\s*日")
_ERA_SHORT = re.compile(rf"([{_ERA_LETTERS}])\s*(\d{{1,2}})\.(\d{{1,2}})\.(\d{{1,2}})", re.IGNORECASE)
_CONTROL_STRICT = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_EDGE_SPACE = " \t\n\r\u3000\xa0"  # surrounding white space that is trimmed, not reported
_CONTROL_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # line breaks allowed in free text
# Width-only normalisation: the characters whose compatibility form differs in width alone
# (<wide>: full-width ASCII and the ideographic space; <narrow>: half-width katakana and signs).
_HALF_WIDTH = {
    code: unicodedata.normalize("NFKC", chr(code))
    for code in [0x3000, *range(0xFF00, 0xFFF0)]
    if unicodedata.decomposition(chr(code)).startswith(("<wide>", "<narrow>"))
}
# Characters that cannot be seen or that a value never holds: format characters (zero-width space
# and joiners, BOM, direction marks, soft hyphen), private use, unassigned, line/paragraph separators.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Co", "Cn", "Cs", "Zl", "Zp"})


class UnsavedFormula:
    """A formula cell with no saved result (written by a program that does not calculate, e.g.
    openpyxl): its value is unknown, so every parser reports it (pipeline.io.read finds them)."""

    __slots__ = ("formula",)

    def __init__(self, formula: str) -> None:
        self.formula = formula

    def __str__(self) -> str:
        return f"={self.formula}"

    def __repr__(self) -> str:
        return f"UnsavedFormula({self.formula!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UnsavedFormula) and other.formula == self.formula

    def __hash__(self) -> int:
        return hash(("UnsavedFormula", self.formula))

    def reason(self) -> str:
        shown = _CONTROL_STRICT.sub(lambda match: f"\\x{ord(match.group()):02x}", str(self))
        shown = shown if len(shown) <= 60 else f"{shown[:57]}..."
        return f"formula {shown} has no saved value: open and save the file in Excel, or paste the values"


class Parsed(NamedTuple):
    """A parsed column: typed ``values`` and per-cell ``errors`` (None or a reason), same index."""

    values: pd.Series
    errors: pd.Series


# --- cell helpers ----------------------------------------------------------------------------


def is_empty_cell(cell: object) -> bool:
    """An empty cell: None, or a string of whitespace only. A NaN number is not empty: it is a bad
    value (pipeline.io.read turns a Parquet NaN, pandas' missing value, into None)."""
    if cell is None:
        return True
    if isinstance(cell, str):
        return not cell.strip()
    return cell is pd.NA or cell is pd.NaT


def _number_text(number: float | int) -> str:
    """1001.0 -> '1001'; 1001.5 -> '1001.5'; NaN -> 'NaN', inf -> 'Infinity'."""
    if isinstance(number, float) and not math.isfinite(number):
        return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return str(number)


def cell_text(cell: object) -> str:
    """The text a cell shows, as typed: numbers without a spurious '.0', dates in ISO form."""
    if is_empty_cell(cell):
        return ""
    if isinstance(cell, str):
        return cell
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    if isinstance(cell, int | float):
        return _number_text(cell)
    if isinstance(cell, dt.datetime):
        return cell.date().isoformat() if cell.time() == dt.time() else cell.isoformat(sep=" ")
    if isinstance(cell, dt.date):
        return cell.isoformat()
    return str(cell)


_EXCEL_EPOCH = dt.date(1899, 12, 30)  # serial 0 in Excel's 1900 date system (from 1900-03-01 on)


def shown_cell(cell: object) -> str:
    """What a rejected cell held, for ``rejected.xlsx``: the text it shows (:func:`cell_text`) and,
    for a cell whose date or time format hides the number (a time-only value, a duration, a date
    before the earliest accepted), the Excel serial number it holds. python-calamine gives serials
    below 1 as a time of day (serial 0 as ``00:00:00``) and serials 59 and 60 both as 1900-02-28."""
    text = cell_text(cell)
    if isinstance(cell, dt.timedelta):
        return f"{text} (a duration format, serial {_number_text(cell.total_seconds() / 86_400)})"
    if isinstance(cell, dt.time):
        seconds = cell.hour * 3600 + cell.minute * 60 + cell.second + cell.microsecond / 1e6
        return f"{text} (a date or time format, serial {_number_text(seconds / 86_400)} or that less a whole number)"
    if isinstance(cell, dt.date) and (cell.date() if isinstance(cell, dt.datetime) else cell) < EARLIEST_DATE:
        day = cell.date() if isinstance(cell, dt.datetime) else cell
        if day == dt.date(1900, 2, 28):
            return f"{text} (a date format, serial 59 or 60: Excel shows 60 as 1900-02-29, a day that never was)"
        serial = (day - _EXCEL_EPOCH).days + (1 if day < dt.date(1900, 3, 1) else 0)
        return f"{text} (a date format, serial {serial})"
    return text


def _too_long(text: str, expected: str) -> str | None:
    if len(text) > MAX_CELL_CHARS:
        return f"{len(text):,} characters, more than an Excel cell holds ({MAX_CELL_CHARS:,}); {expected}"
    return None


def half_width(text: str) -> str:
    """Width-only normalisation: full-width ASCII (``１，２３４``, ``ＣＳ０１``) and the ideographic
    space as ASCII, half-width katakana as full-width; nothing else changes (``10⁸`` stays)."""
    if text.isascii():
        return text
    return unicodedata.normalize("NFC", text.translate(_HALF_WIDTH))


def _character(char: str) -> str:
    return f"'{char}' (U+{ord(char):04X} {unicodedata.name(char, 'unnamed character')})"


def _foreign(text: str, expected: str) -> str | None:
    """A reason when ``text`` holds a digit other than 0-9 (a superscript, circled or Arabic-Indic
    digit: NFKC would have read ``10⁸`` as 108) or an invisible character."""
    if text.isascii():
        return None
    for char in text:
        if char.isascii():
            continue
        category = unicodedata.category(char)
        if category in _INVISIBLE_CATEGORIES:
            name = unicodedata.name(char, "unnamed")
            return f"contains an invisible character (U+{ord(char):04X} {name}); {expected}"
        if category[0] == "N":  # a number character other than 0-9
            return f"contains {_character(char)}, not one of the digits 0-9; {expected}"
    return None


def _clean(cell: str, expected: str, *, allow_breaks: bool = False) -> tuple[str, str | None]:
    """Trim and width-normalise a text cell (:func:`half_width`); a reason if it holds control or
    invisible characters, digits other than 0-9 or an error value, or is longer than an Excel
    cell can be."""
    text = cell.strip()
    long = _too_long(text, expected)
    if long:
        return "", long
    # str.strip() also removes U+001C-U+001F and U+0085: look for control characters before it
    control = (_CONTROL_TEXT if allow_breaks else _CONTROL_STRICT).search(cell.strip(_EDGE_SPACE))
    if control:
        return "", f"contains a control character (U+{ord(control.group()):04X}); {expected}"
    text = half_width(text).strip()
    if text.upper() in EXCEL_ERRORS:
        return "", f"Excel error value {text.upper()}; {expected}"
    foreign = _foreign(text, expected)
    if foreign:
        return "", foreign
    return text, None


def _not_finite(cell: object) -> str | None:
    """A reason for a NaN or infinite number: no Excel can hold one (a program wrote the file)."""
    if isinstance(cell, float) and not math.isfinite(cell):
        return f"{_number_text(cell)} is not a value (written by a program, no Excel holds it): give the value"
    return None


# An id as most bordereaux write it: ASCII letters and digits with - _ . / : inside, nothing else. Such
# a text cell is its own id (no spaces, control, invisible or foreign characters, no error value,
# far shorter than a cell can be), so :func:`parse_id` takes it as it is, a whole column at a time.
PLAIN_ID = "^[0-9A-Za-z][0-9A-Za-z_./:-]{0,199}$"

PlainCells = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray] | None]
"""Given a column's cells, where a parser's answer needs no cell-by-cell work (a boolean mask) and
its values there, in order (an object array); None when there is no such cell. Every other cell is
parsed one by one."""


def plain_ids(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Text cells matching :data:`PLAIN_ID` (RE2, in pyarrow), which are their own ids; only for a
    column of text and empty cells."""
    if pd.api.types.infer_dtype(cells, skipna=True) != "string":
        return None
    matches = pc.match_substring_regex(pa.array(cells, type=pa.string(), from_pandas=True), PLAIN_ID)
    mask = np.asarray(pc.fill_null(matches, False).to_numpy(zero_copy_only=False), dtype=bool)
    return mask, cells[mask]


def plain_whole_numbers(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Number cells (int or float, never a boolean) holding a whole number from 0 to below
    :data:`MAX_YEN`, which are that number; text, negative, fractional or huge cells are not plain."""
    numeric = np.fromiter((type(cell) is float or type(cell) is int for cell in cells), dtype=bool, count=len(cells))
    if not numeric.any():
        return None
    numbers = cells[numeric].astype(np.float64)
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(numbers) & (numbers >= 0) & (numbers < MAX_YEN) & (np.floor(numbers) == numbers)
    mask = numeric.copy()
    mask[numeric] = whole
    return mask, numbers[whole].astype(np.int64).astype(object)


def _parsed_cells(
    cells: np.ndarray, parse_cell: Callable[[object], Outcome], plain: PlainCells | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``parse_cell`` applied to every cell (an object array), never raising: each cell's value and
    reason (object arrays). ``plain`` finds the cells whose answer is known without ``parse_cell``
    (no problem, the value it gives): those are taken a whole column at a time; the empty
    (``None``) cells are parsed once for all of them, and the others by :func:`_parsed_distinct`,
    each distinct (type, cell) once."""
    found = plain(cells) if plain is not None and len(cells) else None
    if found is not None and not found[0].any():
        found = None
    empty = _none_cells(cells)
    if found is None and not empty.any():
        return _parsed_distinct(cells, parse_cell)
    values, errors = np.full(len(cells), None, dtype=object), np.full(len(cells), None, dtype=object)
    rest = ~empty
    if found is not None:
        mask, plain_values = found
        values[mask] = plain_values
        rest &= ~mask
    if empty.any():
        values[empty], errors[empty] = (_repeated(outcome, int(empty.sum())) for outcome in _outcome(None, parse_cell))
    at = np.flatnonzero(rest)
    if len(at):
        values[at], errors[at] = _parsed_distinct(cells[at], parse_cell)
    return values, errors


def _none_cells(cells: np.ndarray) -> np.ndarray:
    """Which cells are ``None`` (not NaN, NaT or ``pd.NA``, which parse otherwise): pandas' missing
    values found at C speed, then each of those looked at."""
    empty = pd.isna(cells)
    if empty.any():
        empty[empty] = [cell is None for cell in cells[empty].tolist()]
    return empty


def _parsed_distinct(cells: np.ndarray, parse_cell: Callable[[object], Outcome]) -> tuple[np.ndarray, np.ndarray]:
    """Every cell parsed, each distinct (type, cell) once: a column of one Python type and no
    missing value by its distinct values, any other cell by cell with a cache."""
    codes, distinct = (
        pd.factorize(cells)
        if len(cells) and pd.api.types.infer_dtype(cells, skipna=False) in _ONE_TYPE
        else (np.array([-1]), np.array([], dtype=object))
    )
    if codes.min() >= 0:
        # one Python type and no missing value (NaT counts as one: code -1): parse each distinct
        # cell once, then take by code
        outcomes = [_outcome(cell, parse_cell) for cell in distinct.tolist()]
        distinct_values = object_array([outcome[0] for outcome in outcomes])
        distinct_errors = object_array([outcome[1] for outcome in outcomes])
        return distinct_values.take(codes), distinct_errors.take(codes)
    cache: dict[tuple[type, object], Outcome] = {}
    values: list[object] = []
    errors: list[str | None] = []
    for cell in cells.tolist():
        key = (type(cell), cell)
        try:
            outcome = cache.get(key)
        except TypeError:  # an unhashable cell: parse it without the cache
            outcome = None
        if outcome is None:
            outcome = _outcome(cell, parse_cell)
            with contextlib.suppress(TypeError):
                cache[key] = outcome
        values.append(outcome[0])
        errors.append(outcome[1])
    return object_array(values), object_array(errors)


# Columns whose cells all have one of these types (pandas' inference, no missing value) are parsed
# distinct value by distinct value: equal cells of one type are the same cell.
_ONE_TYPE = frozenset({"string", "date", "datetime", "boolean"})


def _repeated(item: object, count: int) -> np.ndarray:
    """``item`` ``count`` times in an object array (the very object, never broadcast)."""
    array = np.empty(count, dtype=object)
    array.fill(item)
    return array


def _outcome(cell: object, parse_cell: Callable[[object], Outcome]) -> Outcome:
    """``parse_cell(cell)``, with the reasons every parser shares (a formula without a result, a NaN
    or an infinity) and never raising: a parser bug is reported on the cell, not a crash."""
    try:
        if isinstance(cell, UnsavedFormula):
            return None, cell.reason()
        not_finite = _not_finite(cell)
        return (None, not_finite) if not_finite else parse_cell(cell)
    except Exception as error:  # a parser bug must not stop the run: the cell is reported
        return None, f"could not read the cell ({type(error).__name__})"


def _errors(errors: np.ndarray, index: pd.Index) -> pd.Series:
    return pd.Series(errors, index=index, dtype=object)


def _cells(raw: pd.Series) -> np.ndarray:
    return raw.to_numpy(dtype=object)


def _whole_numbers(values: np.ndarray, index: pd.Index) -> pd.Series:
    """Parsed whole numbers (``int`` or ``None``) as a nullable ``Int64`` column, made from numpy."""
    missing = _none_cells(values)
    data = np.zeros(len(values), dtype=np.int64)
    data[~missing] = values[~missing].astype(np.int64)
    return pd.Series(pd.arrays.IntegerArray(data, missing), index=index)


# --- yen and whole numbers -------------------------------------------------------------------


def _whole_number(cell: object, pattern: re.Pattern[str], reason: str) -> Outcome:
    if is_empty_cell(cell):
        return None, None
    if isinstance(cell, bool):
        return None, reason
    if isinstance(cell, int | float):
        if (isinstance(cell, float) and not cell.is_integer()) or cell < 0:  # inf is not an integer
            return None, reason
        number = int(cell)
    elif isinstance(cell, str):
        text, problem = _clean(cell, reason)
        if problem:
            return None, problem
        match = pattern.fullmatch(text)
        if not match:
            return None, reason
        number = int(match.group(1).replace(",", ""))
    else:
        return None, reason
    if number >= MAX_YEN:
        return None, f"{reason}; {number:,} is implausibly large"
    return number, None


def _yen_cell(cell: object) -> Outcome:
    return _whole_number(cell, _YEN, YEN_REASON)


def _integer_cell(cell: object) -> Outcome:
    return _whole_number(cell, _INTEGER, INTEGER_REASON)


@functools.cache
def _grouped_by(separator: str) -> re.Pattern[str]:
    return re.compile(rf"(.*?)(\d{{1,3}}(?:{re.escape(separator)}\d{{3}})+)(.*)")


def _with_separator(parse_cell: Callable[[object], Outcome], separator: str) -> Callable[[object], Outcome]:
    """``parse_cell`` also accepting digits grouped by ``separator`` (a cover-holder's habit,
    LAYOUTS.md ``[formats]``): ``1.234.567`` is read as ``1,234,567`` would be."""
    if separator == ",":
        return parse_cell

    def parse(cell: object) -> Outcome:
        if isinstance(cell, str):
            match = _grouped_by(separator).fullmatch(half_width(cell).strip())
            if match:
                before, digits, after = match.groups()
                value, problem = parse_cell(before + digits.replace(separator, ",") + after)
                if problem is None:
                    return value, None
        return parse_cell(cell)

    return parse


def parse_yen(raw: pd.Series, thousands_separator: str = ",") -> Parsed:
    """Whole yen >= 0 as nullable ``Int64``: ``1234567``, ``1,234,567`` (strict 3-digit groups),
    ``¥1,234,567``, ``1,234,567円``, full-width digits; a numeric cell with no fractional part. A
    cover-holder's ``thousands_separator`` (e.g. ``.``) is accepted as well as ``,``."""
    values, errors = _parsed_cells(_cells(raw), _with_separator(_yen_cell, thousands_separator), plain_whole_numbers)
    return Parsed(_whole_numbers(values, raw.index), _errors(errors, raw.index))


def parse_integer(raw: pd.Series, thousands_separator: str = ",") -> Parsed:
    """A whole number >= 0 (e.g. ``victims``) as nullable ``Int64``; same digits as yen, no ¥/円."""
    values, errors = _parsed_cells(
        _cells(raw), _with_separator(_integer_cell, thousands_separator), plain_whole_numbers
    )
    return Parsed(_whole_numbers(values, raw.index), _errors(errors, raw.index))


# --- dates -----------------------------------------------------------------------------------


def _calendar_date(year: int, month: int, day: int, text: str) -> Outcome:
    try:
        date = dt.date(year, month, day)
    except ValueError:
        return None, f"{text} is not a calendar date; {DATE_REASON}"
    return _plausible(date)


def _plausible(date: dt.date) -> Outcome:
    if date < EARLIEST_DATE:
        return (
            None,
            f"{date.isoformat()} is before {EARLIEST_DATE.isoformat()}, the earliest date accepted; {DATE_REASON}",
        )
    if date > LATEST_DATE:
        return None, f"{date.isoformat()} is after {LATEST_DATE.isoformat()}, the latest date accepted; {DATE_REASON}"
    return date, None


def _era_date(key: str, era_year: str, month: str, day: str, text: str) -> Outcome:
    era = _ERA_BY_KEY[key if key in _ERA_BY_KEY else key.upper()]
    year_in_era = 1 if era_year == "元" else int(era_year)
    if year_in_era < 1:
        return None, f"{text}: there is no year 0 of an era; {DATE_REASON}"
    try:
        date = dt.date(era.first_day.year + year_in_era - 1, int(month), int(day))
    except ValueError:
        return None, f"{text} is not a calendar date; {DATE_REASON}"
    if date < era.first_day or (era.last_day is not None and date > era.last_day):
        span = f"{era.first_day.isoformat()} to {era.last_day.isoformat() if era.last_day else 'today'}"
        return None, f"{text} is outside the {era.english} era ({era.name}: {span})"
    return _plausible(date)


def _date_cell(cell: object) -> Outcome:
    if is_empty_cell(cell):
        return None, None
    if isinstance(cell, dt.datetime):
        return _plausible(cell.date())
    if isinstance(cell, dt.date):
        return _plausible(cell)
    if isinstance(cell, bool):
        return None, DATE_REASON
    if isinstance(cell, int | float):
        return None, f"a bare number ({_number_text(cell)}) is not a date (a date typed as General?); {DATE_REASON}"
    if not isinstance(cell, str):
        return None, DATE_REASON
    text, problem = _clean(cell, DATE_REASON)
    if problem:
        return None, problem
    for pattern in _WESTERN_DATES:
        match = pattern.fullmatch(text)
        if match:
            year, month, day = (int(part) for part in match.groups())
            return _calendar_date(year, month, day, text)
    for pattern in (_ERA_KANJI, _ERA_SHORT):
        match = pattern.fullmatch(text)
        if match:
            key, era_year, era_month, era_day = match.groups()
            return _era_date(key, era_year, era_month, era_day, text)
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return None, f"a bare number ({text}) is not a date; {DATE_REASON}"
    return None, DATE_REASON


def _with_date_formats(formats: tuple[str, ...]) -> Callable[[object], Outcome]:
    """:func:`_date_cell` also accepting a cover-holder's extra spellings (strptime formats such as
    ``%d/%m/%Y``, LAYOUTS.md ``[formats] dates``), tried after the contract's own."""
    if not formats:
        return _date_cell
    reason = f"{DATE_REASON}, or as this cover-holder writes dates: {', '.join(formats)}"

    def parse(cell: object) -> Outcome:
        value, problem = _date_cell(cell)
        if problem is None or not isinstance(cell, str):
            return value, problem
        text = half_width(cell).strip()
        for spelling in formats:
            try:
                return _plausible(dt.datetime.strptime(text, spelling).date())
            except ValueError:
                continue
        return None, problem.replace(DATE_REASON, reason)

    return parse


def parse_date(raw: pd.Series, formats: tuple[str, ...] = ()) -> Parsed:
    """Dates as ``datetime64[ns]`` at midnight: Excel date cells (a date-time keeps its date),
    ``2026-04-01``, ``2026/4/1``, ``2026年4月1日``, ``令和8年4月1日`` / ``R8.4.1`` and 平成 / ``H``
    (an era date outside its era is bad). Bare numbers and ``2026.4.1`` are bad input. ``formats``:
    a cover-holder's extra spellings (strptime), accepted on top of these."""
    values, errors = _parsed_cells(_cells(raw), _with_date_formats(tuple(formats)))
    dates = pd.to_datetime(pd.Series(values, index=raw.index, dtype=object)).astype("datetime64[ns]")
    return Parsed(dates, _errors(errors, raw.index))


# --- booleans --------------------------------------------------------------------------------


def _bool_cell(cell: object) -> Outcome:
    if is_empty_cell(cell):
        return False, None
    if isinstance(cell, bool):
        return cell, None
    if isinstance(cell, int | float):
        if cell in (0, 1):
            return bool(cell), None
        return None, BOOL_REASON
    if not isinstance(cell, str):
        return None, BOOL_REASON
    text, problem = _clean(cell, BOOL_REASON)
    if problem:
        return None, problem
    word = text.lower()
    if word in TRUE_WORDS:
        return True, None
    if word in FALSE_WORDS:
        return False, None
    return None, BOOL_REASON


def parse_bool(raw: pd.Series) -> Parsed:
    """Booleans: TRUE/FALSE, 1/0, yes/no, Y/N, 有/無, あり/なし, ○/×, はい/いいえ; empty = false.
    Values are ``bool``; a bad cell reads as False and carries a reason."""
    values, errors = _parsed_cells(_cells(raw), _bool_cell)
    flags = pd.Series(values.astype(bool), index=raw.index, dtype=bool)  # bool() of each value
    return Parsed(flags, _errors(errors, raw.index))


# --- codes, ids and text ---------------------------------------------------------------------


def _code_cell(cell: object) -> Outcome:
    if is_empty_cell(cell):
        return None, None
    text, problem = _clean(cell_text(cell), "expected a code")
    if problem:
        return None, problem
    return text.lower() or None, None


def _code_list_cell(cell: object) -> Outcome:
    code, problem = _code_cell(cell)
    if problem or not isinstance(code, str):
        return "", problem
    return ";".join(part.strip() for part in code.split(";") if part.strip()), None


def _id_cell(cell: object) -> Outcome:
    if is_empty_cell(cell):
        return None, None
    if isinstance(cell, bool):
        return None, f"a {cell_text(cell)} (boolean) cell is not an id; {ID_REASON}"
    text, problem = _clean(cell_text(cell), ID_REASON)
    if problem:
        return None, problem
    return text or None, None


def _text_cell(cell: object) -> Outcome:
    if is_empty_cell(cell):
        return None, None
    if isinstance(cell, bool):
        return None, f"a {cell_text(cell)} (boolean) cell is not text; {TEXT_REASON}"
    shown = cell_text(cell)
    text = shown.strip()
    long = _too_long(text, TEXT_REASON)
    if long:
        return None, long
    control = _CONTROL_TEXT.search(shown.strip(_EDGE_SPACE))
    if control:
        return None, f"contains a control character (U+{ord(control.group()):04X}); {TEXT_REASON}"
    if half_width(text).upper() in EXCEL_ERRORS:
        return None, f"Excel error value {text}; {TEXT_REASON}"
    return text, None


def _strings(values: np.ndarray, index: pd.Index) -> pd.Series:
    return pd.Series(values, index=index, dtype="str")


def parse_code(raw: pd.Series) -> Parsed:
    """Codes (``product``, ``plan``, ``item``, …): width-normalised, trimmed, lower case; missing when empty.
    Whether a code is allowed is a validation rule, not parsing."""
    values, errors = _parsed_cells(_cells(raw), _code_cell)
    return Parsed(_strings(values, raw.index), _errors(errors, raw.index))


def parse_code_list(raw: pd.Series) -> Parsed:
    """Codes separated by ``;`` (``evidence``): each code as :func:`parse_code`, joined by ``;``
    in the order given; ``''`` when none."""
    values, errors = _parsed_cells(_cells(raw), _code_list_cell)
    return Parsed(_strings(values, raw.index), _errors(errors, raw.index))


def parse_id(raw: pd.Series) -> Parsed:
    """Ids are text: width-normalised, trimmed, case kept; a numeric cell ``1001`` is the id ``"1001"``;
    a boolean cell, an invisible character or a digit other than 0-9 is bad."""
    values, errors = _parsed_cells(_cells(raw), _id_cell, plain=plain_ids)
    return Parsed(_strings(values, raw.index), _errors(errors, raw.index))


def parse_text(raw: pd.Series) -> Parsed:
    """Free text (``insured_name``, ``industry``): trimmed, otherwise as typed; missing when empty."""
    values, errors = _parsed_cells(_cells(raw), _text_cell)
    return Parsed(_strings(values, raw.index), _errors(errors, raw.index))


_TEXT = pd.StringDtype("pyarrow", na_value=np.nan)  # pandas' "str": Arrow-backed, NaN for missing


def _shown_text(cells: list[Any]) -> pd.api.extensions.ExtensionArray:
    """The text each of ``cells`` shows (:func:`cell_text`), as a ``str`` array made from Arrow
    directly, as pandas makes it."""
    texts = pa.array([cell_text(cell) for cell in cells], type=pa.large_string())
    return _TEXT.__from_arrow__(texts)  # type: ignore[attr-defined]  # the dtypes' Arrow protocol, not in the stubs


def carried(raw: pd.Series) -> pd.Series:
    """An unknown column as carried through, never rejected: a column whose every given cell is a
    finite number stays numeric (``Int64`` when every number is whole, else ``float64``; empty cells
    missing), any other column is the text each cell shows (:func:`cell_text`)."""
    return pd.Series(_carried_values(raw.tolist()), index=raw.index)


def carried_columns(raw: pd.DataFrame) -> pd.DataFrame:
    """Every column of ``raw`` as :func:`carried` carries it, one frame (same index and column
    order): the cells taken out of the frame once, each column's values made as an array, the
    frame put together once (a sheet may have 16,000 unknown columns)."""
    cells = raw.to_numpy(dtype=object).T.tolist()
    values = dict(zip(raw.columns, map(_carried_values, cells), strict=True))
    return pd.DataFrame(values, index=raw.index, columns=raw.columns, copy=False)


def _carried_values(cells: list[Any]) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """The values of :func:`carried` for one column's ``cells``: an ``Int64`` or ``float64`` array,
    or the text each cell shows (``_shown_text``)."""
    empty = [is_empty_cell(cell) for cell in cells]
    given = [cell for cell, missing in zip(cells, empty, strict=True) if not missing]
    numeric = bool(given) and all(
        isinstance(cell, int | float) and not isinstance(cell, bool) and math.isfinite(cell) for cell in given
    )
    if not numeric:
        return _shown_text(cells)
    numbers = [None if missing else cell for cell, missing in zip(cells, empty, strict=True)]
    if all(float(cell).is_integer() and abs(cell) < 2**53 for cell in given):
        # 1 under a missing value, as pandas fills it (its _internal_fill_value)
        whole = np.array([1 if number is None else int(number) for number in numbers], dtype=np.int64)
        return pd.arrays.IntegerArray(whole, np.array(empty, dtype=bool))
    return np.array([np.nan if number is None else number for number in numbers], dtype=np.float64)


PARSERS: dict[str, Callable[[pd.Series], Parsed]] = {
    "yen": parse_yen,
    "integer": parse_integer,
    "date": parse_date,
    "bool": parse_bool,
    "code": parse_code,
    "code_list": parse_code_list,
    "id": parse_id,
    "text": parse_text,
}


# --- whole columns of a Parquet sheet, straight from Arrow --------------------------------------

PLAIN_CODE = "^[0-9A-Za-z][0-9A-Za-z_.-]*$"
"""A code as the product data writes them (ASCII letters, digits, ``_ . -``; an Excel error value
starts with ``#``), at most :data:`PLAIN_LENGTH` characters: :func:`parse_code` gives it in lower case."""
PLAIN_CODE_LIST = "^[0-9A-Za-z][0-9A-Za-z_.-]*(;[0-9A-Za-z][0-9A-Za-z_.-]*)*$"
"""Plain codes separated by ``;`` with nothing around them: :func:`parse_code_list` gives them in
lower case, as they are."""
PLAIN_LENGTH = 200

_CELL_PARSERS: dict[str, Callable[[object], Outcome]] = {
    "yen": _yen_cell,
    "integer": _integer_cell,
    "date": _date_cell,
    "bool": _bool_cell,
    "code": _code_cell,
    "code_list": _code_list_cell,
    "id": _id_cell,
}
"""The cell parser of each kind :func:`parsed_arrow` may take a whole column of."""


def parsed_arrow(kind: str, column: pa.ChunkedArray, index: pd.Index) -> Parsed | None:
    """A Parquet column (its cells as Arrow holds them, ``index`` the sheet's row labels) parsed as
    ``kind`` without a Python object per cell, when every cell is null or plain for ``kind``:
    text ids matching :data:`PLAIN_ID`, codes matching :data:`PLAIN_CODE` and lists of them
    :data:`PLAIN_CODE_LIST` (at most :data:`PLAIN_LENGTH` characters), whole numbers from 0
    to below :data:`MAX_YEN` in an integer column, dates in the accepted range in a date column,
    booleans in a boolean column. The values, dtypes and reasons (none) are those the kind's parser
    gives the same cells as Python values; None when a cell is not plain (the caller parses the
    Python values, which says what is wrong where)."""
    parse_cell = _CELL_PARSERS.get(kind)
    if parse_cell is None or len(column) != len(index):
        return None
    empty_value, empty_problem = _outcome(None, parse_cell)
    if empty_problem is not None:
        return None
    values = _plain_arrow_values(kind, column, empty_value)
    if values is None:
        return None
    return Parsed(values.set_axis(index), pd.Series(np.full(len(index), None, dtype=object), index=index))


def _plain_arrow_values(kind: str, column: pa.ChunkedArray, empty_value: object) -> pd.Series | None:
    text = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
    if kind in ("id", "code", "code_list") and text:
        pattern = {"id": PLAIN_ID, "code": PLAIN_CODE, "code_list": PLAIN_CODE_LIST}[kind]
        plain = pc.and_(pc.match_substring_regex(column, pattern), pc.less_equal(pc.utf8_length(column), PLAIN_LENGTH))
        if not pc.all(pc.or_kleene(plain, column.is_null()), min_count=0).as_py():
            return None
        values = column if kind == "id" else pc.utf8_lower(column)
        if empty_value is not None:
            values = values.fill_null(empty_value)
        return pd.Series(_TEXT.__from_arrow__(values.cast(pa.large_string()).combine_chunks()))  # type: ignore[attr-defined]
    if kind == "bool" and pa.types.is_boolean(column.type):
        return pd.Series(np.asarray(column.fill_null(bool(empty_value)).to_numpy(zero_copy_only=False), dtype=bool))
    if empty_value is not None:  # a null is a missing number or date only where an empty cell is one
        return None
    if kind in ("yen", "integer") and pa.types.is_integer(column.type):
        data = np.asarray(column.fill_null(0).to_numpy(zero_copy_only=False))
        if len(data) and (data.min() < 0 or data.max() >= MAX_YEN):
            return None
        missing = np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        return pd.Series(pd.arrays.IntegerArray(data.astype(np.int64), missing))
    if kind == "date" and pa.types.is_date32(column.type):
        days = np.asarray(column.to_numpy(zero_copy_only=False)).astype("datetime64[D]")
        given = days[~np.isnat(days)]
        if len(given) and (given.min() < np.datetime64(EARLIEST_DATE) or given.max() > np.datetime64(LATEST_DATE)):
            return None
        return pd.Series(days.astype("datetime64[ns]"))
    return None
