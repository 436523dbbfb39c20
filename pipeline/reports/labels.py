"""Headers and cell names of the output workbooks in English (the default) or Japanese.

English headers are the canonical column names (DATA_CONTRACT.md) and English cells keep the codes,
so a program can read an English workbook back. Japanese headers come from ``pipeline/io/columns.toml``
(input columns) and ``labels.toml`` (computed columns); Japanese names of items and event types
from the product data (``name_ja``), of reasons, adjustments, warnings, exclusions and enumerated
values from ``labels.toml``. Translation maps the distinct values of a column once and then the
column, so a 300,000-row sheet costs a dictionary lookup per row.

The label files are package data read once, like the product data (no output is touched here).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.arrow_text import labels_as_text, take_text
from pipeline.products.load import ProductBook

LABELS_FILE = Path(__file__).with_name("labels.toml")
INPUT_COLUMNS_FILE = Path(__file__).parent.parent / "io" / "columns.toml"
LANGS = ("en", "ja")
THIS_MONTH = "_this_month"


@cache
def _read_toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        return tomllib.load(handle)


def input_columns() -> dict[str, list[str]]:
    """Canonical input columns of each input sheet (``policies``, ``claims``, ``lines``), in order."""
    return {sheet: list(columns) for sheet, columns in _read_toml(INPUT_COLUMNS_FILE).items()}


def _split_codes(value: str) -> list[str]:
    return [part.strip() for part in value.split(";") if part.strip()]


@dataclass(frozen=True)
class Labels:
    """Labels for one language. Build with :func:`labels_for`."""

    lang: str
    data: Mapping[str, Any] = field(repr=False)
    input_ja: Mapping[str, str] = field(repr=False)
    item_names: Mapping[tuple[str, str], str] = field(repr=False)
    item_default: Mapping[str, str] = field(repr=False)
    event_names: Mapping[str, str] = field(repr=False)
    product_names: Mapping[str, str] = field(repr=False)
    evidence_names: Mapping[str, str] = field(repr=False)

    @property
    def ja(self) -> bool:
        return self.lang == "ja"

    # -- headers -----------------------------------------------------------------------------
    def column_ja(self, column: str) -> str | None:
        """The Japanese header of a column, or None when it has none."""
        columns = self.data["columns"]
        if column in columns and "ja" in columns[column]:
            return str(columns[column]["ja"])
        if column in self.input_ja:
            return self.input_ja[column]
        if column.endswith(THIS_MONTH):
            base = self.column_ja(column.removesuffix(THIS_MONTH))
            if base is not None:
                return base + self.data["suffixes"]["this_month"]["ja"]
        return None

    def header(self, column: str) -> str:
        """Display header: the canonical name in English, the Japanese label in Japanese. A
        triangle's development-age column ``"3"`` reads ``month 3`` / ``3か月目``."""
        if column.isdigit():
            return self.data["suffixes"]["age"][self.lang].format(age=column)
        if not self.ja:
            return column
        return self.column_ja(column) or column

    def headers(self, columns: Iterable[Any]) -> dict[str, str]:
        return {str(c): self.header(str(c)) for c in columns}

    def about(self, column: str) -> str:
        """What a column means, in this language (the ``about`` sheet)."""
        if self.ja and column in self.data["about_ja"]["columns"]:
            return str(self.data["about_ja"]["columns"][column])
        entry = self.data["columns"].get(column, {})
        if "about" in entry and not self.ja:
            return str(entry["about"])
        suffixes = self.data["suffixes"]
        base = column.removesuffix(THIS_MONTH)
        if column.endswith(THIS_MONTH) and base in self.data["columns"]:
            return str(suffixes["this_month_about"][self.lang]).format(base=self.header(base))
        if column in self.input_ja:
            return str(suffixes["input_about"][self.lang])
        return str(entry.get("about", ""))

    def code_about(self, section: str, code: str) -> str:
        """What a reason, adjustment, warning or sheet means, in this language."""
        if self.ja and code in self.data["about_ja"].get(section, {}):
            return str(self.data["about_ja"][section][code])
        entry = self.data[section].get(code, {})
        return str(entry.get("en" if section == "sheets" else "about", ""))

    # -- labels of figures, sheets, charts ---------------------------------------------------
    def text(self, section: str, key: str) -> str:
        """``[section].key`` in this language (figures, sheets, charts, bands, missing)."""
        entry = self.data[section].get(key)
        if entry is None:
            return key
        return str(entry.get(self.lang) or entry.get("en") or key)

    def parquet_note(self) -> tuple[list[str], str]:
        """The lines and header of the note on a sheet written as Parquet, in this language."""
        entry = self.data["parquet_note"]
        return [str(line) for line in entry[self.lang]], str(entry["header"][self.lang])

    @property
    def missing(self) -> str:
        return self.text("missing", "value")

    # -- cells -------------------------------------------------------------------------------
    def reason(self, code: str) -> str:
        if not self.ja or not code:
            return code
        head, _, detail = code.partition(":")
        name = self.data["reasons"].get(head, {}).get("ja", head)
        if detail:
            return f"{name}：{self.data['exclusions'].get(detail, detail)}"
        return str(name)

    def _codes(self, section: str) -> Callable[[str], str]:
        table = self.data[section]

        def name(value: str) -> str:
            entry = table.get(value, value)
            return str(entry.get("ja", value)) if isinstance(entry, dict) else str(entry)

        return lambda value: "；".join(name(code) for code in _split_codes(value))

    def localize(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The frame with code cells named in this language (``figure`` in both languages).

        Japanese: items (per product when the frame has ``product``), event types, products,
        reasons, adjustments, warnings, exclusion and evidence codes, enumerated values. Categorical
        columns come out as text (``labels_as_text``).
        """
        out = labels_as_text(frame).copy(deep=False)  # copy-on-write: the given frame's columns are shared, not copied
        if "figure" in out.columns:
            out["figure"] = _map_distinct(out["figure"], lambda code: self.text("figures", code))
        if not self.ja:
            return out
        if "item" in out.columns:
            items = out["item"].astype("string")
            names = items.map(self.item_default)
            if "product" in out.columns:
                keyed = {f"{p}\x1f{i}": n for (p, i), n in self.item_names.items()}
                names = (out["product"].astype("string") + "\x1f" + items).map(keyed).fillna(names)
            out["item"] = names.fillna(items)
        simple: dict[str, Callable[[str], str]] = {
            "event_type": lambda c: self.event_names.get(c, c),
            "reason": self.reason,
            "adjustments": self._codes("adjustments"),
            "warnings": self._codes("warnings"),
            "exclusion_code": lambda c: self.data["exclusions"].get(c, c),
            "evidence": lambda v: "；".join(self.evidence_names.get(c, c) for c in _split_codes(v)),
            "method_note": self._codes("method_notes"),
        }
        for column, table in self.data["values"].items():
            simple.setdefault(column, _lookup(table))
        for column, translate in simple.items():
            if column in out.columns:
                out[column] = _map_distinct(out[column], translate)
        if "product" in out.columns:
            out["product"] = _map_distinct(out["product"], lambda c: self.product_names.get(c, c))
        return out


def _lookup(table: Mapping[str, str]) -> Callable[[str], str]:
    return lambda code: str(table.get(code, code))


def _map_distinct(series: pd.Series, translate: Callable[[str], str]) -> pd.Series:
    """Translate each distinct non-empty string once, then map the column (empty cells stay). A
    ``str`` column is coded (``pd.factorize``) and its translations taken by code as Arrow text
    (``take_text``): ``map`` of the translations on a ``str`` column of 2M lines, seven columns of
    the Japanese annotated lines, took 4.3 s."""
    if series.dtype == "str":
        codes, uniques = pd.factorize(series)
        return take_text([translate(value) if value else value for value in uniques], codes, series.index)
    if not (pd.api.types.is_string_dtype(series.dtype) or series.dtype == object):
        return series
    distinct = [v for v in series.dropna().unique() if isinstance(v, str) and v]
    mapping = {value: translate(value) for value in distinct}
    mapped = series.map(mapping).astype("object")
    return mapped.where(mapped.notna(), series).astype(series.dtype)


def labels_for(book: ProductBook, lang: str = "en") -> Labels:
    """Labels in ``lang`` (``en`` or ``ja``) with item, event and product names from ``book``."""
    if lang not in LANGS:
        raise ValueError(f"unknown language {lang!r} (expected one of {LANGS})")
    data = _read_toml(LABELS_FILE)
    input_ja: dict[str, str] = {}
    for columns in _read_toml(INPUT_COLUMNS_FILE).values():
        for name, spec in columns.items():
            input_ja.setdefault(name, spec["ja"])
    items = book.items()
    item_names = {(p, i): n for p, i, n in zip(items["product"], items["item"], items["name_ja"], strict=True)}
    item_default: dict[str, str] = {}
    for (_, item), name in item_names.items():
        item_default.setdefault(item, name)
    for entry in book.common["never_paid_items"]:
        item_default.setdefault(entry["item"], entry["name_ja"])
    events = {entry["code"]: entry["name_ja"] for entry in book.common["event_types"]}
    evidence = {entry["code"]: entry["name_ja"] for entry in book.common["evidence_codes"]}
    products = {code: str(p.definition.get("name_ja", code)) for code, p in book.products.items()}
    return Labels(
        lang=lang,
        data=data,
        input_ja=input_ja,
        item_names=item_names,
        item_default=item_default,
        event_names=events,
        product_names=products,
        evidence_names=evidence,
    )
