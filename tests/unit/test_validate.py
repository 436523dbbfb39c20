"""Validation rules, each with its rejection reason (DATA_CONTRACT.md § policies, § claims, § lines,
§ Validation details)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd
import pandera.pandas as pa
import pytest
from pandera.engines import pandas_engine
from pandera.typing import Series

from pipeline.io.read import read_bordereaux
from pipeline.products import load_products
from pipeline.stages.rejections import REJECTED_COLUMNS
from pipeline.stages.validate import reconciliation, row_checked
from pipeline.stages.versions import as_at
from schemas.claims import ClaimValid
from schemas.common import Text
from schemas.lines import LineValid
from schemas.policies import PolicyValid
from tests.commands import python_prints
from tests.helpers import validate_bordereaux
from tests.workbooks import write_bordereau

BOOK = load_products()
WIDE = {
    "policy_id": "P1",
    "product": "cyber_security",
    "insured_name": "株式会社テスト",
    "revenue": "300,000,000",
    "premium_basis": "fixed",
    "plan": "wide",
    "liability_limit": "100,000,000",
    "liability_deductible": 0,
    "expense_limit": "10,000,000",
    "expense_deductible": 0,
    "payment_method": "lump_sum",
    "period_start": "2026-04-01",
    "period_end": "2027-04-01",
}
LITE = {
    "policy_id": "L1",
    "product": "leak_lite",
    "insured_name": "事業所",
    "revenue": 40_000_000,
    "period_start": "2026-04-01",
    "period_end": "2027-04-01",
}
CLAIM = {
    "claim_id": "C1",
    "policy_id": "P1",
    "event_type": "leak",
    "known_date": "2026-04-10",
    "notice_date": "2026-04-12",
    "claim_made_date": "2026-04-15",
    "claim_jurisdiction": "domestic",
    "evidence": "media",
}
LINE = {"line_id": "X1", "claim_id": "C1", "item": "damages", "amount": "1,000,000", "spent_date": "2026-04-20"}


def validated(tmp_path, months):
    """``months``: {month: dict(policies=..., claims=..., lines=...)} -> Validated."""
    for month, sheets in months.items():
        write_bordereau(tmp_path, month, **sheets)
    return validate_bordereaux(read_bordereaux(tmp_path, max(months)), BOOK)


def reasons(result, sheet=None):
    """{(row, column): reason} of the rejected rows (of one sheet)."""
    rejected = result.rejected if sheet is None else result.rejected[result.rejected["sheet"] == sheet]
    return {
        (int(r), c): reason
        for r, c, reason in zip(rejected["row"], rejected["column"], rejected["reason"], strict=True)
    }


# --- policies ---------------------------------------------------------------------------------


def test_good_policies_are_valid_and_leak_lite_terms_are_filled(tmp_path):
    result = validated(
        tmp_path,
        {
            "2026-04": {
                "policies": [
                    WIDE,
                    LITE,
                    {
                        **WIDE,
                        "policy_id": "P2",
                        "plan": "basic",
                        "leak_only": "○",
                        "it_business": "はい",
                        "liability_limit": 500_000_000,
                    },
                ]
            }
        },
    )
    assert result.rejected.empty
    policies = PolicyValid.validate(result.history.policies)
    lite = policies.set_index("policy_id").loc["L1"]
    assert (
        lite["liability_limit"],
        lite["liability_deductible"],
        lite["expense_limit"],
        lite["expense_deductible"],
        lite["payment_method"],
        lite["premium_basis"],
    ) == (100_000_000, 0, 1_000_000, 0, "lump_sum", "fixed")
    assert pd.isna(lite["plan"]) and not lite["leak_only"] and not lite["it_business"]
    assert policies["leak_only"].tolist() == [False, False, True]


def test_leak_lite_may_give_exactly_its_own_terms(tmp_path):
    row = {
        **LITE,
        "liability_limit": "100,000,000",
        "liability_deductible": 0,
        "expense_limit": "1,000,000",
        "expense_deductible": 0,
        "payment_method": "lump_sum",
        "premium_basis": "FIXED",
        "it_business": "FALSE",
    }
    assert validated(tmp_path, {"2026-04": {"policies": [row]}}).rejected.empty


CYBER_SECURITY_CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"product": "cyber_plus"}, "product", "product must be one of leak_lite, cyber_security"),
    ({"product": None}, "product", "product is required"),
    ({"insured_name": None}, "insured_name", "insured_name is required"),
    ({"plan": None}, "plan", "plan is required for cyber_security"),
    ({"plan": "gold"}, "plan", "plan must be one of basic, wide"),
    ({"payment_method": None}, "payment_method", "payment_method is required for cyber_security"),
    ({"payment_method": "monthly"}, "payment_method", "payment_method must be one of"),
    ({"premium_basis": None}, "premium_basis", "premium_basis is required"),
    ({"liability_limit": 25_000_000}, "liability_limit", "liability_limit must be one of 20,000,000"),
    ({"liability_deductible": None}, "liability_deductible", "liability_deductible is required"),
    ({"liability_deductible": 20_000}, "liability_deductible", "liability_deductible must be one of"),
    ({"expense_deductible": 50_000}, "expense_deductible", "expense_deductible must be one of 0, 100,000"),
    ({"liability_limit": 20_000_000, "expense_limit": 20_000_000}, "expense_limit", "at most 50% of liability"),
    ({"it_business": "Y", "liability_limit": 600_000_000}, "liability_limit", "at most 500,000,000"),
    ({"leak_only": "TRUE"}, "leak_only", "leak_only is a rider of plan basic only"),
    ({"actual_revenue": "1,000"}, "actual_revenue", "actual_revenue only with premium_basis adjustable"),
    ({"period_end": "2027-03-31"}, "period_end", "exactly one year after period_start"),
    ({"period_end": None}, "period_end", "period_end is required"),
    ({"join_date": "2026-05-01"}, "join_date", "join_date only on leak_lite"),
    ({"cancel_date": "2027-04-01"}, "cancel_date", "cancel_date must lie in [cover start"),
    ({"cancel_date": "2026-03-31"}, "cancel_date", "cancel_date must lie in [cover start"),
    ({"revenue": "3億"}, "revenue", "expected yen like 1,234,567"),
    ({"period_start": 46113}, "period_start", "a bare number (46113) is not a date"),
    ({"leak_only": "maybe"}, "leak_only", "expected TRUE/FALSE"),
]
LEAK_LITE_CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"plan": "wide"}, "plan", "leak_lite has no plan"),
    ({"liability_limit": 50_000_000}, "liability_limit", "leak_lite takes liability_limit 100,000,000"),
    ({"expense_limit": 2_000_000}, "expense_limit", "leak_lite takes expense_limit 1,000,000"),
    ({"liability_deductible": 10_000}, "liability_deductible", "leak_lite takes liability_deductible 0"),
    ({"payment_method": "installment"}, "payment_method", "leak_lite takes payment_method lump_sum"),
    ({"premium_basis": "adjustable"}, "premium_basis", "leak_lite takes premium_basis fixed"),
    ({"it_business": "有"}, "it_business", "leak_lite has no riders"),
    ({"leak_only": 1}, "leak_only", "leak_lite has no riders"),
    ({"actual_revenue": 10}, "actual_revenue", "actual_revenue only with premium_basis adjustable"),
    ({"join_date": "2027-04-01"}, "join_date", "join_date must lie in [period_start, period_end)"),
    ({"join_date": "2026-10-15", "cancel_date": "2026-10-01"}, "cancel_date", "cancel_date must lie in"),
]
POLICY_CASES = [({**WIDE, **change}, column, reason) for change, column, reason in CYBER_SECURITY_CASES] + [
    ({**LITE, **change}, column, reason) for change, column, reason in LEAK_LITE_CASES
]


@pytest.fixture(scope="module")
def policy_batch(tmp_path_factory):
    """Every policy case as one row of one workbook (row i + 2 is case i): one validation for all."""
    rows = [{**row, "policy_id": f"Q{i}"} for i, (row, _, _) in enumerate(POLICY_CASES)]
    return validated(tmp_path_factory.mktemp("policies"), {"2026-04": {"policies": rows}})


@pytest.mark.parametrize("case", range(len(POLICY_CASES)), ids=[f"{c}:{r[:30]}" for _, c, r in POLICY_CASES])
def test_policy_rules(policy_batch, case):
    _, column, reason_part = POLICY_CASES[case]
    found = reasons(policy_batch)
    assert reason_part in found.get((case + 2, column), ""), {k: v for k, v in found.items() if k[0] == case + 2}
    assert f"Q{case}" not in set(policy_batch.history.policies["policy_id"])


def test_one_year_period_from_29_february_ends_28_february(tmp_path):
    row = {**WIDE, "period_start": "2028-02-29", "period_end": "2029-02-28"}
    assert validated(tmp_path, {"2026-04": {"policies": [row]}}).rejected.empty


def test_mid_term_joiner_and_cancellation_inside_cover(tmp_path):
    row = {**LITE, "join_date": "2026-10-15", "cancel_date": "2026-10-15"}
    assert validated(tmp_path, {"2026-04": {"policies": [row]}}).rejected.empty


def test_duplicate_ids_reject_every_copy_and_one_row_per_failing_column(tmp_path):
    rows = [WIDE, {**WIDE, "plan": "gold", "revenue": "-1"}, {**WIDE, "policy_id": "P2"}]
    result = validated(tmp_path, {"2026-04": {"policies": rows}})
    found = reasons(result)
    assert "appears more than once" in found[(2, "policy_id")]
    assert "appears more than once" in found[(3, "policy_id")]
    assert "plan must be one of" in found[(3, "plan")]
    assert "expected yen" in found[(3, "revenue")]
    assert result.history.policies["policy_id"].tolist() == ["P2"]
    assert list(result.rejected.columns) == REJECTED_COLUMNS
    row3 = result.rejected[result.rejected["row"] == 3].set_index("column")
    assert row3.loc["revenue", "value"] == "-1"
    assert set(row3["file"]) == {"2026-04/policies.xlsx"} and set(row3["month"]) == {"2026-04"}


# --- claims -----------------------------------------------------------------------------------


def claims_result(tmp_path, claims, policies=(WIDE, LITE), lines=None):
    return validated(tmp_path, {"2026-04": {"policies": list(policies), "claims": claims, "lines": lines or []}})


CLAIM_CASES = [
    ({"policy_id": "P9"}, "policy_id", "policy_id is not a policy known as at 2026-04"),
    ({"event_type": "fire"}, "event_type", "event_type must be one of leak, it_user"),
    ({"known_date": "2026-04-13"}, "known_date", "known_date must be on or before notice_date"),
    ({"known_date": None}, "known_date", "known_date is required"),
    ({"notice_date": "2026-05-01", "known_date": "2026-04-01"}, "notice_date", "end of the bordereau month"),
    ({"claim_jurisdiction": None}, "claim_jurisdiction", "required with claim_made_date"),
    ({"claim_jurisdiction": "abroad"}, "claim_jurisdiction", "must be one of domestic, overseas"),
    ({"evidence": "media;rumour"}, "evidence", "evidence codes must be among"),
    ({"exclusion_code": "not_a_code"}, "exclusion_code", "not an exclusion of the policy's product cyber_security"),
    ({"policy_id": "L1", "exclusion_code": "war"}, "exclusion_code", "product leak_lite"),
    ({"claim_id": None}, "claim_id", "claim_id is required"),
]
LINE_CASES = [
    ({"claim_id": "C9"}, "claim_id", "claim_id is not a claim known as at 2026-04"),
    ({"item": "attack_investigation", "claim_id": "C2"}, "item", "not in the leak_lite catalogue"),
    ({"item": "bribe"}, "item", "not in the cyber_security catalogue"),
    ({"amount": "1.5"}, "amount", "expected yen"),
    ({"amount": None}, "amount", "amount is required"),
    ({"spent_date": "2026-05-01"}, "spent_date", "end of the bordereau month (2026-04-30)"),
    ({"spent_in": "mars"}, "spent_in", "spent_in must be one of domestic, overseas"),
    ({"item": "condolence"}, "victims", "victims (a whole number >= 1) is required on condolence lines"),
    ({"item": "condolence", "victims": 3}, "victim_type", "victim_type (individual / corporate) is required"),
    ({"item": "condolence", "victims": 0, "victim_type": "individual"}, "victims", "victims must be at least 1"),
    ({"item": "condolence", "victims": 2, "victim_type": "alien"}, "victim_type", "must be one of individual"),
    ({"insurer_consent": "perhaps"}, "insurer_consent", "expected TRUE/FALSE"),
    ({"line_id": None}, "line_id", "line_id is required"),
]


@pytest.fixture(scope="module")
def claim_batch(tmp_path_factory):
    """Every claim case and every line case as rows of one workbook: one validation for all."""
    claims = [{**CLAIM, "claim_id": f"K{i}", **change} for i, (change, _, _) in enumerate(CLAIM_CASES)]
    claims += [CLAIM, {**CLAIM, "claim_id": "C2", "policy_id": "L1"}]
    lines = [{**LINE, "line_id": f"Y{i}", **change} for i, (change, _, _) in enumerate(LINE_CASES)]
    sheets = {"policies": [WIDE, LITE], "claims": claims, "lines": lines}
    return validated(tmp_path_factory.mktemp("claims"), {"2026-04": sheets})


@pytest.mark.parametrize("case", range(len(CLAIM_CASES)), ids=[f"{c}:{r[:30]}" for _, c, r in CLAIM_CASES])
def test_claim_rules(claim_batch, case):
    _, column, reason_part = CLAIM_CASES[case]
    found = reasons(claim_batch, "claims")
    assert reason_part in found.get((case + 2, column), ""), {k: v for k, v in found.items() if k[0] == case + 2}


@pytest.mark.parametrize("case", range(len(LINE_CASES)), ids=[f"{c}:{r[:30]}" for _, c, r in LINE_CASES])
def test_line_rules(claim_batch, case):
    _, column, reason_part = LINE_CASES[case]
    found = reasons(claim_batch, "lines")
    assert reason_part in found.get((case + 2, column), ""), {k: v for k, v in found.items() if k[0] == case + 2}


def test_batch_valid_rows_are_kept(claim_batch):
    assert set(claim_batch.history.claims["claim_id"]) == {"C1", "C2"}
    assert claim_batch.history.lines.empty


def test_claim_on_leak_lite_with_a_non_leak_event_is_valid_input(tmp_path):
    result = claims_result(
        tmp_path, [{**CLAIM, "policy_id": "L1", "event_type": "it_user", "exclusion_code": "officer_info"}]
    )
    assert result.rejected.empty
    assert ClaimValid.validate(result.history.claims)["evidence"].tolist() == ["media"]


def test_claim_whose_policy_first_appears_later_is_rejected(tmp_path):
    result = validated(tmp_path, {"2026-04": {"claims": [CLAIM]}, "2026-05": {"policies": [WIDE]}})
    assert "not a policy known as at 2026-04" in reasons(result)[(2, "policy_id")]
    assert result.history.claims.empty


def test_claim_of_a_rejected_policy_says_so(tmp_path):
    result = claims_result(tmp_path, [CLAIM], policies=[{**WIDE, "plan": "gold"}])
    assert "refers to a policy whose row was rejected" in reasons(result, "claims")[(2, "policy_id")]


def test_series_stays_on_one_policy(tmp_path):
    p2 = {**WIDE, "policy_id": "P2"}
    claims = [
        {**CLAIM, "series_id": "S1"},
        {**CLAIM, "claim_id": "C2", "series_id": "S1"},
        {**CLAIM, "claim_id": "C3", "series_id": "S1", "policy_id": "P2"},
    ]
    result = claims_result(tmp_path, claims, policies=[WIDE, p2])
    assert list(reasons(result)) == [(4, "series_id")]
    later = validated(
        tmp_path / "b",
        {
            "2026-04": {"policies": [WIDE, p2], "claims": claims[:1]},
            "2026-05": {
                "claims": [
                    {**CLAIM, "claim_id": "C9", "series_id": "S1", "policy_id": "P2", "notice_date": "2026-05-01"}
                ]
            },
        },
    )
    assert "already belongs to another policy" in reasons(later)[(2, "series_id")]


# --- lines ------------------------------------------------------------------------------------


def test_line_defaults_never_paid_items_and_ignored_victims(tmp_path):
    lines = [
        {**LINE, "victims": "lots", "victim_type": "?"},
        {**LINE, "line_id": "X2", "item": "ransom"},
        {
            **LINE,
            "line_id": "X3",
            "item": "Condolence",
            "victims": "３０,０００",
            "victim_type": "Individual",
            "spent_in": "overseas",
            "insurer_consent": "あり",
        },
    ]
    result = claims_result(tmp_path, [CLAIM], lines=lines)
    assert result.rejected.empty
    valid = LineValid.validate(result.history.lines).set_index("line_id")
    assert pd.isna(valid.loc["X1", "victims"]) and pd.isna(valid.loc["X1", "victim_type"])
    assert valid.loc["X1", "spent_in"] == "domestic" and not valid.loc["X1", "insurer_consent"]
    assert (valid.loc["X3", "victims"], valid.loc["X3", "victim_type"]) == (30_000, "individual")
    assert valid.loc["X3", "insurer_consent"] and valid.loc["X3", "spent_in"] == "overseas"
    assert set(valid["first_month"]) == {"2026-04"}


def test_liability_line_on_claim_without_claim_made_date_rejects_that_line_only(tmp_path):
    claim = {**CLAIM, "claim_made_date": None, "claim_jurisdiction": None}
    lines = [LINE, {**LINE, "line_id": "X2", "item": "response"}]
    result = claims_result(tmp_path, [claim], lines=lines)
    assert list(reasons(result)) == [(2, "item")]
    assert "no claim_made_date" in reasons(result)[(2, "item")]
    assert result.history.claims["claim_id"].tolist() == ["C1"]
    assert result.history.lines["line_id"].tolist() == ["X2"]


def test_line_of_a_rejected_claim_says_so(tmp_path):
    result = claims_result(tmp_path, [{**CLAIM, "event_type": "fire"}], lines=[LINE])
    assert "refers to a claim whose row was rejected" in reasons(result, "lines")[(2, "claim_id")]


# --- restatements that would break rows on file -----------------------------------------------


def test_policy_may_not_change_product_under_its_claims_and_lines(tmp_path):
    result = validated(
        tmp_path,
        {
            "2026-04": {"policies": [WIDE], "claims": [CLAIM], "lines": [{**LINE, "item": "publicity"}]},
            "2026-05": {"policies": [{**WIDE, **LITE, "policy_id": "P1"}]},
        },
    )
    assert "product differs from the version on file" in reasons(result)[(2, "product")]
    assert as_at(result.history, "2026-05").policies["product"].tolist() == ["cyber_security"]


def test_claim_may_not_move_or_drop_claim_made_date_under_its_lines(tmp_path):
    result = validated(
        tmp_path,
        {
            "2026-04": {
                "policies": [WIDE, LITE],
                "claims": [CLAIM],
                "lines": [{**LINE, "item": "publicity"}, {**LINE, "line_id": "X2"}],
            },
            "2026-05": {"claims": [{**CLAIM, "policy_id": "L1"}]},
            "2026-06": {"claims": [{**CLAIM, "claim_made_date": None, "claim_jurisdiction": None}]},
        },
    )
    found = {
        (m, c): r
        for m, c, r in zip(result.rejected["month"], result.rejected["column"], result.rejected["reason"], strict=True)
    }
    assert "does not have the items of the claim's lines" in found[("2026-05", "policy_id")]
    assert "claim_made_date is required" in found[("2026-06", "claim_made_date")]
    assert as_at(result.history, "2026-06").claims["bordereau_month"].tolist() == ["2026-04"]


# --- the per-row part, where a sheet is read ---------------------------------------------------


def test_row_checked_holds_the_failures_of_parsing_the_model_and_the_row_rules_only(tmp_path):
    """``row_checked`` (run where a sheet is read, on a worker with the Dask engine) reports the
    cells that do not parse and the row rules; the rules needing other rows or the policies and
    claims in force (duplicate ids, unknown policy, item not in the policy's product) are left to
    the run's process, which gives the same rejected rows as one check of everything used to."""
    write_bordereau(
        tmp_path,
        "2026-04",
        policies=[
            WIDE,
            {**WIDE, "policy_id": "P2", "revenue": "3億", "plan": "gold", "period_end": "2027-03-31"},
            {**WIDE, "policy_id": "P3"},
            {**WIDE, "policy_id": "P3", "product": "cyber_plus"},
        ],
        claims=[CLAIM, {**CLAIM, "claim_id": "C2", "known_date": "someday", "event_type": "fire"}],
        lines=[
            LINE,
            {**LINE, "line_id": "X2", "amount": "1.5", "victims": "x", "spent_in": "mars", "item": "bribe"},
            {**LINE, "line_id": "X3", "item": "condolence", "victims": 0, "victim_type": "alien", "claim_id": "C9"},
        ],
    )
    read = read_bordereaux(tmp_path, "2026-04")
    checked = {sheet.sheet: row_checked(sheet, BOOK) for sheet in read.sheets}

    def cells(failures: pd.DataFrame) -> list[tuple[int, str, str]]:
        return list(zip(failures["index"].astype(int), failures["column"], failures["reason"], strict=True))

    yen = "expected yen like 1,234,567 (no 万, no fractions, no negatives)"
    date = "expected a date like 2026-04-01, 2026/4/1, 2026年4月1日, 令和8年4月1日 or R8.4.1"
    events = "event_type must be one of leak, it_user, it_business, cyber_injury, cyber_threat, cyber_other"
    one_year = "period_end must be exactly one year after period_start (same date; 29 Feb -> 28 Feb)"
    products = "product must be one of leak_lite, cyber_security"
    jurisdictions = "spent_in must be one of domestic, overseas"
    victim_types = "victim_type must be one of individual, corporate"
    assert cells(checked["policies"].parse_failures) == [(1, "revenue", yen)]
    assert cells(checked["policies"].row_failures) == [
        (3, "product", products),
        (1, "plan", "plan must be one of basic, wide"),
        (1, "period_end", one_year),
    ]
    assert cells(checked["claims"].parse_failures) == [(1, "known_date", date)]
    assert cells(checked["claims"].row_failures) == [(1, "event_type", events)]
    assert cells(checked["lines"].parse_failures) == [(1, "amount", yen)]  # victims "x" ignored: not condolence
    assert cells(checked["lines"].row_failures) == [
        (1, "spent_in", jurisdictions),
        (2, "victims", "victims must be at least 1"),
        (2, "victim_type", victim_types),
    ]
    assert checked["lines"].frame["spent_in"].tolist() == ["domestic", "mars", "domestic"]
    assert checked["lines"].frame["victims"].isna().tolist() == [True, True, False]

    result = validate_bordereaux(read, BOOK)
    twice = "policy_id appears more than once in this file: every copy is rejected (nobody can tell which is right)"
    assert reasons(result, "policies") == {
        (3, "revenue"): yen,
        (3, "plan"): "plan must be one of basic, wide",
        (3, "period_end"): one_year,
        (4, "policy_id"): twice,
        (5, "policy_id"): twice,
        (5, "product"): products,
    }
    assert reasons(result, "claims") == {(3, "event_type"): events, (3, "known_date"): date}
    assert reasons(result, "lines") == {
        (3, "item"): "item is not in the cyber_security catalogue (nor a never-paid item such as ransom)",
        (3, "amount"): yen,
        (3, "spent_in"): jurisdictions,
        (4, "claim_id"): "claim_id is not a claim known as at 2026-04 (no valid claim row in this or an earlier month)",
        (4, "victims"): "victims must be at least 1",
        (4, "victim_type"): victim_types,
    }
    assert result.history.policies["policy_id"].tolist() == ["P1"]
    assert result.history.lines["line_id"].tolist() == ["X1"]


def test_a_cell_failing_a_row_rule_and_a_rule_on_rows_on_file_gives_both_reasons_in_order(tmp_path):
    """The row rule (checked where the sheet is read) comes first, the rule on the rows on file
    (checked in the run's process) second, as when both were one check."""
    result = validated(
        tmp_path,
        {
            "2026-04": {"policies": [WIDE], "claims": [CLAIM], "lines": [LINE]},
            "2026-05": {"policies": [{**WIDE, "product": "bogus"}]},
        },
    )
    rejected = result.rejected.set_index(["month", "column"])
    assert rejected.loc[("2026-05", "product"), "reason"] == (
        "product must be one of leak_lite, cyber_security; product differs from the version on file and its "
        "claims or lines on file do not fit the new product (send a new policy_id instead)"
    )
    assert len(result.rejected) == 1 and result.history.policies["bordereau_month"].tolist() == ["2026-04"]


# --- reconciliation ---------------------------------------------------------------------------


def test_rows_read_equal_processed_plus_rejected(tmp_path):
    result = claims_result(
        tmp_path,
        [CLAIM, {**CLAIM, "claim_id": "C2", "event_type": "x", "known_date": "bad"}],
        policies=[WIDE, {**WIDE, "policy_id": "P2", "plan": "x"}, {}, LITE],
        lines=[LINE, {**LINE, "line_id": "X2", "claim_id": "C2"}],
    )
    table = reconciliation(result.counts, result.rejected)
    body = table[table["month"] != "total"]
    assert (body["rows_read"] == body["rows_processed"] + body["rows_rejected"]).all()
    assert body.set_index("sheet")["rows_read"].to_dict() == {"policies": 3, "claims": 2, "lines": 2}
    total = table.iloc[-1]
    assert (total["rows_read"], total["rows_processed"], total["rows_rejected"]) == (7, 4, 3)


def test_reconciliation_raises_when_a_row_is_lost():
    counts = pd.DataFrame(
        [{"month": "2026-04", "file": "f", "sheet": "s", "rows_read": 3, "rows_processed": 1, "rows_rejected": 1}]
    )
    rejected = pd.DataFrame(
        [{"month": "2026-04", "file": "f", "sheet": "s", "row": 2, "column": "a", "value": "", "reason": "r"}]
    )
    with pytest.raises(RuntimeError, match="reconciliation failed"):
        reconciliation(counts, rejected)


def test_member_of_is_isin_on_ids_with_missing_values() -> None:
    from schemas.common import member_of

    ids = pd.Series(["P1", None, "P3", "p1", "P1", "ＰＳ"], dtype="str")
    cases: list[Iterable[object]] = [pd.Index(["P1", "P3", "ＰＳ"]), {"P3"}, [], pd.Index(["P1", "P9"], dtype="str")]
    for allowed in cases:
        expected = ids.isin(list(allowed)) & ids.notna()
        pd.testing.assert_series_equal(member_of(ids, allowed), expected.astype(bool))


def test_what_a_validated_month_makes_known_is_what_a_cached_month_makes_known(tmp_path):
    """A month validated here and the same month served by the parse cache leave the next month
    the same latest versions and rejected ids (``validate_month``'s own ``Known`` against
    ``known_after``), on months with restatements, rejections and references to rejected rows."""
    from pipeline.stages.validate import known_after, nothing_known, validate_month

    months = {
        "2026-04": dict(
            policies=[WIDE, LITE, {**WIDE, "policy_id": "P2", "plan": "gold"}],
            claims=[CLAIM, {**CLAIM, "claim_id": "C2", "policy_id": "P2"}],
            lines=[LINE, {**LINE, "line_id": "X2", "claim_id": "C2"}, {**LINE, "line_id": "X3", "item": "bribe"}],
        ),
        "2026-05": dict(
            policies=[{**WIDE, "insured_name": "restated"}, {**LITE, "policy_id": "L2"}],
            claims=[{**CLAIM, "claim_id": "C4", "policy_id": "L1"}, {**CLAIM, "claim_made_date": ""}],
            lines=[{**LINE, "amount": "2,000,000"}, {**LINE, "line_id": "X5", "claim_id": "C4"}],
        ),
    }
    for month, sheets in months.items():
        write_bordereau(tmp_path, month, **sheets)
    book = read_bordereaux(tmp_path, "2026-05")
    known = nothing_known()
    for month in book.months:
        sheets = [row_checked(sheet, BOOK) for sheet in book.sheets if sheet.month == month]
        outcome, after = validate_month(month, sheets, known, BOOK)
        assert len(outcome.rejected) and len(outcome.policies) and len(outcome.lines)
        cached = known_after(known, outcome)
        for table in ("policies", "claims", "lines"):
            pd.testing.assert_frame_equal(getattr(after, table), getattr(cached, table), obj=f"{month} {table}")
        assert (after.rejected_policies, after.rejected_claims) == (cached.rejected_policies, cached.rejected_claims)
        known = after
    assert "P2" in known.rejected_policies and "C2" in known.rejected_claims


def test_a_text_column_is_checked_once_not_row_by_row_and_like_pandera_str_otherwise() -> None:
    """``schemas.common.Text``: a column of pandas' ``str`` dtype passes its dtype check with one
    True (pandera's ``str`` answers with a True per row, then builds an empty failure table); a
    column of another dtype fails, and is coerced, exactly as with ``Series[str]``."""
    text = pd.Series(["a", "b", "c"])
    given = pandas_engine.Engine.dtype(text.dtype)
    ours, pandera_str = pandas_engine.Engine.dtype(Text), pandas_engine.Engine.dtype(str)
    assert pandera_str.check(given, text) is not True  # pandera's answer: a True per row
    assert ours.check(given, text) is True
    assert str(ours) == str(pandera_str)

    class AsText(pa.DataFrameModel):
        a: Series[Text]

    class AsStr(pa.DataFrameModel):
        a: Series[str]

    class CoercedAsText(AsText):
        class Config:
            coerce = True

    class CoercedAsStr(AsStr):
        class Config:
            coerce = True

    def checked(model: type[pa.DataFrameModel]) -> pd.DataFrame:
        try:
            return model.validate(pd.DataFrame({"a": [1, 2]}), lazy=True)
        except pa.errors.SchemaErrors as errors:
            return errors.failure_cases

    pd.testing.assert_frame_equal(checked(AsText), checked(AsStr))
    assert checked(AsText)["check"].str.startswith("dtype").all()
    pd.testing.assert_frame_equal(checked(CoercedAsText), checked(CoercedAsStr))
    assert checked(CoercedAsText)["a"].tolist() == ["1", "2"]


def test_building_the_schemas_does_not_import_dask_while_pandera_alone_would() -> None:
    """``schemas.common.without_pandera_dask_typing``: a run's process that imports the pipeline
    and builds and uses every schema has not imported ``dask.dataframe`` (1.1 s of the command's
    start); pandera alone, building a model, imports it through ``pandera.typing.dask``, whose
    ``DASK_INSTALLED`` the stand-in gives. When pandera stops importing dask there, the second
    assertion fails and the stand-in can go."""
    ours = python_prints(
        "import sys, pandas as pd, pipeline.run\n"
        "from schemas.policies import PolicyValid, PolicyPriced\n"
        "from schemas.claims import ClaimValid\n"
        "from schemas.lines import LineValid\n"
        "from tests import factories\n"
        "for model in (PolicyValid, PolicyPriced, ClaimValid, LineValid): model.to_schema()\n"
        "factories.policies({}); factories.claims({}); factories.lines({})\n"
        "print('dask.dataframe' in sys.modules, sys.modules['pandera.typing.dask'].DASK_INSTALLED)"
    )
    assert ours == "False False"
    alone = python_prints(
        "import sys, pandera.pandas as pa\n"
        "from pandera.typing import Series\n"
        "class Model(pa.DataFrameModel):\n"
        "    a: Series[int]\n"
        "Model.to_schema()\n"
        "print('dask.dataframe' in sys.modules, sys.modules['pandera.typing.dask'].DASK_INSTALLED)"
    )
    assert alone == "True True"


def test_the_history_keeps_the_policies_and_claims_codes_as_categoricals_of_their_text(tmp_path):
    """``combined``: the columns of ``CODE_LABELS`` (and provenance) are categoricals whose values
    are the months' text, the categories in code-point order; the lines' codes stay text, as the
    Dask engine's workers keep them (pipeline/bench/MEASUREMENTS.md § Beyond one machine, The
    history's codes as categoricals)."""
    from pipeline.stages.validate import CODE_LABELS

    second = {**WIDE, "policy_id": "P2", "plan": "basic", "payment_method": "installment"}
    result = validated(
        tmp_path,
        {
            "2026-04": dict(policies=[WIDE, LITE], claims=[CLAIM], lines=[LINE]),
            "2026-05": dict(policies=[second], claims=[{**CLAIM, "claim_id": "C2", "event_type": "it_user"}]),
        },
    )
    history = result.history
    assert len(history.policies) == 3 and len(history.claims) == 2
    for table in ("policies", "claims"):
        frame = getattr(history, table)
        for column in CODE_LABELS[table]:
            assert isinstance(frame[column].dtype, pd.CategoricalDtype), (table, column)
            categories = frame[column].cat.categories.tolist()
            assert categories == sorted(categories)
    shown = history.policies[["policy_id", "product", "plan", "payment_method"]].astype("object")
    assert shown.where(shown.notna(), None).values.tolist() == [
        ["P1", "cyber_security", "wide", "lump_sum"],
        ["L1", "leak_lite", None, "lump_sum"],
        ["P2", "cyber_security", "basic", "installment"],
    ]
    assert history.claims["event_type"].astype("object").tolist() == ["leak", "it_user"]
    assert history.lines["item"].dtype == "str" and CODE_LABELS["lines"] == ()
