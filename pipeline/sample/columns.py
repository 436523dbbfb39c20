"""Canonical columns and Japanese labels of each input sheet, read from ``pipeline/io/columns.toml``,
and the kind of cell the generator writes in each (how it is stored, formatted and misspelt)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np

from pipeline.sample.dates import MISSING

COLUMNS_FILE = Path(__file__).resolve().parent.parent / "io" / "columns.toml"
SHEETS = ("policies", "claims", "lines")

# kind per canonical column: id, code, text, yen, int, date, bool
KINDS: dict[str, dict[str, str]] = {
    "policies": {
        "policy_id": "id", "product": "code", "insured_name": "text", "industry": "text", "revenue": "yen",
        "premium_basis": "code", "actual_revenue": "yen", "plan": "code", "leak_only": "bool",
        "it_business": "bool", "liability_limit": "yen", "liability_deductible": "yen", "expense_limit": "yen",
        "expense_deductible": "yen", "payment_method": "code", "period_start": "date", "period_end": "date",
        "join_date": "date", "cancel_date": "date",
    },
    "claims": {
        "claim_id": "id", "policy_id": "id", "event_type": "code", "series_id": "id", "known_date": "date",
        "notice_date": "date", "claim_made_date": "date", "claim_jurisdiction": "code", "evidence": "text",
        "exclusion_code": "code", "cat_event_id": "id",
    },
    "lines": {
        "line_id": "id", "claim_id": "id", "item": "code", "amount": "yen", "spent_date": "date",
        "spent_in": "code", "insurer_consent": "bool", "victims": "int", "victim_type": "code",
    },
}  # fmt: skip


def load_labels(path: Path = COLUMNS_FILE) -> dict[str, dict[str, str]]:
    """sheet -> {canonical column: Japanese label}, in the file's column order."""
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    labels = {sheet: {name: spec["ja"] for name, spec in data[sheet].items()} for sheet in SHEETS}
    for sheet in SHEETS:
        unknown = set(labels[sheet]) ^ set(KINDS[sheet])
        if unknown:
            raise ValueError(f"{path}: [{sheet}] columns differ from the generator's: {sorted(unknown)}")
    return labels


def empty(n: int, kind: str) -> np.ndarray:
    """A column of ``n`` empty cells stored the way the generator stores ``kind``."""
    if kind in ("yen", "int", "date"):
        return np.full(n, MISSING, dtype=np.int64)
    if kind == "bool":
        return np.full(n, -1, dtype=np.int8)
    return np.full(n, None, dtype=object)
