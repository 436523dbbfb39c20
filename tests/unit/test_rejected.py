"""rejected.xlsx in Japanese (issue #16): every reason a parser or a check writes has a Japanese
template in reasons.toml, and the values and expectations of the reason stay in it."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest

from pipeline.parse import PARSERS, UnsavedFormula
from pipeline.products import DEFAULT_PRODUCTS_DIR, load_products
from pipeline.reports.labels import labels_for
from pipeline.reports.rejected import reason_in_japanese, rejected_sheets
from pipeline.stages.rejections import _reason

BOOK = load_products(DEFAULT_PRODUCTS_DIR)
JA = labels_for(BOOK, "ja")
EN = labels_for(BOOK, "en")

#: Cells no parser accepts, for every kind of column: each gives a reason a person must read.
HOSTILE_CELLS = [
    "#N/A",
    "#REF!",
    "ab\x01c",
    "x" * 40_000,
    UnsavedFormula("SUM(A1:A3)"),
    UnsavedFormula("IF(A1>0; 1; 2)"),
    "3,500万",
    "-5",
    "12.5",
    "99999999999999999999999",
    "2026年2月30日",
    "H38.11.1",
    "R0.4.1",
    "1899-01-01",
    46296.0,
    "46296",
    "maybe",
    "2026.11.1",
    dt.datetime(2026, 4, 1, 10, 30),
    "10⁸",
    "⑩",
    "CS0000001\u200b",
    float("nan"),
    float("-inf"),
    True,
]


def _parser_reasons() -> set[str]:
    reasons: set[str] = set()
    cells = pd.Series(HOSTILE_CELLS, dtype=object)
    for kind, parse in PARSERS.items():
        errors = parse(cells).errors
        reasons.update(str(e) for e in errors.dropna())
        assert errors.notna().any(), kind
    return reasons


def _check_reasons() -> set[str]:
    """Reasons of pandera's built-in checks as validation words them."""
    checks = [
        "not_nullable",
        "str_length(1, None)",
        "greater_than_or_equal_to(1)",
        "isin(['a', 'b'])",
        "str_matches('^P')",
        "dtype('int64')",
    ]
    return {_reason("policy_id", check) for check in checks}


@pytest.mark.parametrize("reason", sorted(_parser_reasons() | _check_reasons()))
def test_every_reason_has_a_japanese_template(reason):
    japanese, complete = reason_in_japanese(reason, JA)
    assert complete, f"no template in reasons.toml for a part of: {reason}"
    assert not re.search(r"\b(expected|must|required|is not|contains)\b", japanese), japanese


def test_values_and_expectations_are_kept():
    japanese, complete = reason_in_japanese(
        "2026年2月30日 is not a calendar date; expected a date like 2026-04-01, 2026/4/1 or R8.4.1", JA
    )
    assert complete
    assert japanese == "2026年2月30日 は存在しない日付です。2026-04-01、2026/4/1、R8.4.1 のような日付を入力してください"
    japanese, _ = reason_in_japanese("notice_date must be on or before the end of the bordereau month (2026-06-30)", JA)
    assert japanese == "事故通知受領日は報告月の末日（2026-06-30）以前としてください"
    japanese, _ = reason_in_japanese(
        "claim_id refers to a claim whose row was rejected (not in force as at 2026-05); send the claim again", JA
    )
    assert "事故番号" in japanese and "2026-05" in japanese and "claim" not in japanese


def test_a_reason_without_a_template_stays_in_english_and_says_so():
    japanese, complete = reason_in_japanese("something new happened; expected text", JA)
    assert not complete
    assert japanese == "something new happened。文字列を入力してください"


def test_rejected_sheets_in_both_languages():
    rejected = pd.DataFrame(
        {
            "month": ["2026-04"],
            "file": ["2026-04/policies.xlsx"],
            "sheet": ["policies"],
            "row": [3],
            "column": ["insured_name"],
            "value": [""],
            "reason": ["insured_name is required"],
        }
    )
    table = pd.DataFrame(
        {
            "month": ["2026-04", "total"],
            "file": ["2026-04/policies.xlsx", ""],
            "sheet": ["policies", ""],
            "rows_read": [3, 3],
            "rows_processed": [2, 2],
            "rows_rejected": [1, 1],
        }
    )
    english = rejected_sheets(rejected, table, EN)
    assert english[0].frame.equals(rejected) and english[0].headers["reason"] == "reason"
    japanese, reconciliation = rejected_sheets(rejected, table, JA)
    assert japanese.frame.loc[0, "reason"] == "記名被保険者は必須です"
    assert japanese.frame.loc[0, "column"] == "記名被保険者"
    assert japanese.frame.loc[0, "sheet"] == "policies"  # the sheet as named in the input file
    assert japanese.headers["reason"] == "不備の内容と修正方法"
    assert reconciliation.frame["month"].tolist() == ["2026-04", "合計"]
    assert rejected.loc[0, "reason"] == "insured_name is required"  # the input frame is not changed
