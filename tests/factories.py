"""Build small validated frames (PolicyValid, ClaimValid, LineValid) for unit and property tests.

Each builder takes rows as dicts of overrides on a sensible default and returns a frame that passes
its schema, so stage tests do not depend on the Excel reader.
"""

from __future__ import annotations

import functools
from typing import Any

import pandas as pd
from pandera.pandas import DataFrameModel

from schemas.claims import ClaimValid
from schemas.lines import LineValid
from schemas.policies import PolicyValid

LEAK_LITE_TERMS = {
    "liability_limit": 100_000_000,
    "liability_deductible": 0,
    "expense_limit": 1_000_000,
    "expense_deductible": 0,
    "payment_method": "lump_sum",
    "premium_basis": "fixed",
}


def _provenance(index: int, month: str, file: str, sheet: str) -> dict[str, Any]:
    return {"bordereau_month": month, "source_file": f"{month}/{file}", "source_sheet": sheet, "excel_row": index + 2}


def policy_row(index: int = 0, **overrides: Any) -> dict[str, Any]:
    """A wide cyber_security policy starting 2026-04-01, or a leak_lite one with ``product='leak_lite'``."""
    month = overrides.get("bordereau_month", "2026-04")
    row: dict[str, Any] = {
        **_provenance(index, month, "policies.xlsx", "policies"),
        "policy_id": f"P{index + 1:04d}",
        "product": "cyber_security",
        "insured_name": "株式会社テスト",
        "industry": "情報通信業",
        "revenue": 300_000_000,
        "premium_basis": "fixed",
        "actual_revenue": None,
        "plan": "wide",
        "leak_only": False,
        "it_business": False,
        "liability_limit": 100_000_000,
        "liability_deductible": 0,
        "expense_limit": 10_000_000,
        "expense_deductible": 0,
        "payment_method": "lump_sum",
        "period_start": "2026-04-01",
        "period_end": None,
        "join_date": None,
        "cancel_date": None,
    }
    if overrides.get("product") == "leak_lite":
        row.update(LEAK_LITE_TERMS, plan=None)
    row.update(overrides)
    if row["period_end"] is None:
        row["period_end"] = pd.Timestamp(row["period_start"]) + pd.DateOffset(years=1)
    return row


def claim_row(index: int = 0, **overrides: Any) -> dict[str, Any]:
    month = overrides.get("bordereau_month", "2026-04")
    row: dict[str, Any] = {
        **_provenance(index, month, "claims.xlsx", "claims"),
        "claim_id": f"C{index + 1:04d}",
        "policy_id": "P0001",
        "event_type": "leak",
        "series_id": None,
        "known_date": "2026-05-01",
        "notice_date": "2026-05-02",
        "claim_made_date": "2026-05-10",
        "claim_jurisdiction": "domestic",
        "evidence": "media",
        "exclusion_code": None,
        "cat_event_id": None,
    }
    row.update(overrides)
    return row


def line_row(index: int = 0, **overrides: Any) -> dict[str, Any]:
    month = overrides.get("bordereau_month", "2026-04")
    row: dict[str, Any] = {
        **_provenance(index, month, "claims.xlsx", "lines"),
        "line_id": f"L{index + 1:05d}",
        "claim_id": "C0001",
        "item": "damages",
        "amount": 1_000_000,
        "spent_date": "2026-05-15",
        "spent_in": "domestic",
        "insurer_consent": True,
        "victims": None,
        "victim_type": None,
        "first_month": month,
    }
    row.update(overrides)
    return row


def policies(*rows: dict[str, Any], checked: bool = True) -> pd.DataFrame:
    """Frame of policies from override dicts: ``policies({}, {"product": "leak_lite"})``;
    ``checked=False`` see ``typed``."""
    return _built([policy_row(i, **r) for i, r in enumerate(rows)], PolicyValid, checked)


def claims(*rows: dict[str, Any], checked: bool = True) -> pd.DataFrame:
    return _built([claim_row(i, **r) for i, r in enumerate(rows)], ClaimValid, checked)


def lines(*rows: dict[str, Any], checked: bool = True) -> pd.DataFrame:
    return _built([line_row(i, **r) for i, r in enumerate(rows)], LineValid, checked)


def _built(rows: list[dict[str, Any]], schema: type[DataFrameModel], checked: bool) -> pd.DataFrame:
    if checked:
        return schema.validate(pd.DataFrame(rows))
    return typed(rows, schema)


def typed(rows: list[dict[str, Any]], schema: type[DataFrameModel]) -> pd.DataFrame:
    """The rows in the columns and dtypes ``schema`` gives them, without running its checks: for
    property tests that build hundreds of books (validating a small book costs about 56 ms, this
    14 ms; ``tests/property/test_strategies.py`` holds the two equal on generated books). Also
    takes no rows (the columns, empty)."""
    dtypes = validated_dtypes(schema)
    return pd.DataFrame(rows, columns=list(dtypes)).astype(dtypes)


@functools.cache
def validated_dtypes(schema: type[DataFrameModel]) -> dict[str, Any]:
    """The columns and dtypes of a frame ``schema`` validated (its default row, validated once)."""
    row = {PolicyValid: policy_row, ClaimValid: claim_row, LineValid: line_row}[schema]()
    return {str(column): dtype for column, dtype in schema.validate(pd.DataFrame([row])).dtypes.items()}
