"""Eligibility, CALCULATION.md § Waterfall step 0: each reason, its edges, and the order of precedence.

Defaults (tests/factories.py): a wide cyber_security policy covering [2026-04-01, 2027-04-01); a
``leak`` claim known 2026-05-01, noticed 2026-05-02, made 2026-05-10 in Japan, evidence ``media``;
a ``damages`` line spent 2026-05-15 in Japan with the insurer's consent.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeline.products.load import load_products
from pipeline.stages.codes import narrowest
from pipeline.stages.eligibility import CONTEXT_COLUMNS, REASONS, eligible_lines, line_facts
from tests import factories
from tests.reference import reference_lines

PRODUCTS = load_products()
BASIC = {"plan": "basic", "expense_limit": 10_000_000}
LEAK_LITE = {"product": "leak_lite"}


def reason_of(policy: dict[str, Any], claim: dict[str, Any], line: dict[str, Any]) -> str:
    """The engine's reason for one line, checked against the row-by-row reference."""
    lines, claims, policies = factories.lines(line), factories.claims(claim), factories.policies(policy)
    engine = eligible_lines(lines, claims, policies, PRODUCTS)
    reference = reference_lines(lines, claims, policies, PRODUCTS)
    assert engine["reason"].tolist() == reference["reason"].tolist()
    assert engine["eligible_amount"].tolist() == reference["eligible_amount"].tolist()
    return str(engine["reason"].iloc[0])


CASES = [
    # 1. not_covered_item: items no product pays.
    ({}, {}, {"item": "ransom"}, "not_covered_item"),
    (LEAK_LITE, {}, {"item": "lost_profit"}, "not_covered_item"),
    # 2. event_not_covered: plan, rider required, rider that removes it, leak_lite's leak-only cover.
    (BASIC, {"event_type": "cyber_injury"}, {}, "event_not_covered"),
    (BASIC, {"event_type": "cyber_other"}, {"item": "attack_investigation"}, "event_not_covered"),
    ({}, {"event_type": "it_business"}, {}, "event_not_covered"),
    ({"it_business": True}, {"event_type": "it_business"}, {}, ""),
    ({**BASIC, "leak_only": True}, {"event_type": "it_user"}, {}, "event_not_covered"),
    ({**BASIC, "leak_only": True, "it_business": True}, {"event_type": "it_business"}, {}, "event_not_covered"),
    ({**BASIC, "leak_only": True}, {}, {}, ""),
    (LEAK_LITE, {"event_type": "it_user"}, {}, "event_not_covered"),
    # 3. item_not_covered: plan, event type, liability on expense-only events.
    (BASIC, {}, {"item": "credit_monitoring"}, "item_not_covered"),
    ({}, {}, {"item": "credit_monitoring"}, ""),
    ({}, {"event_type": "cyber_other", "evidence": "soc_report"}, {"item": "response"}, "item_not_covered"),
    ({}, {"event_type": "cyber_other", "evidence": "soc_report"}, {"item": "attack_investigation"}, ""),
    ({}, {"event_type": "cyber_threat"}, {"item": "damages"}, "item_not_covered"),
    ({}, {"event_type": "cyber_threat"}, {"item": "response"}, ""),
    ({}, {}, {"item": "attack_investigation"}, "item_not_covered"),
    # 4. outside_period: claims-made for liability, known date for expense; [cover_start, cover_end).
    ({}, {"claim_made_date": "2027-04-01"}, {}, "outside_period"),
    ({}, {"claim_made_date": "2027-03-31"}, {}, ""),
    ({}, {"claim_made_date": "2026-03-31"}, {}, "outside_period"),
    ({}, {"known_date": "2026-03-31", "claim_made_date": "2026-05-10"}, {}, ""),
    ({}, {"known_date": "2026-03-31"}, {"item": "response"}, "outside_period"),
    ({}, {"known_date": "2026-04-01"}, {"item": "response", "spent_date": "2026-04-01"}, ""),
    ({"cancel_date": "2026-05-10"}, {}, {}, "outside_period"),
    ({"cancel_date": "2026-05-11"}, {}, {}, ""),
    ({**LEAK_LITE, "join_date": "2026-05-11"}, {}, {}, "outside_period"),
    ({**LEAK_LITE, "join_date": "2026-05-10"}, {}, {}, ""),
    # 5. excluded:<code>: the parts each exclusion removes.
    ({}, {"exclusion_code": "war"}, {}, "excluded:war"),
    ({}, {"exclusion_code": "war"}, {"item": "response"}, "excluded:war"),
    (LEAK_LITE, {"exclusion_code": "fraudulent_info"}, {}, ""),
    (LEAK_LITE, {"exclusion_code": "fraudulent_info"}, {"item": "response"}, "excluded:fraudulent_info"),
    (LEAK_LITE, {"exclusion_code": "intentional"}, {}, "excluded:intentional"),
    # 6. overseas_claim: basic, and it_business events on either plan.
    (BASIC, {"claim_jurisdiction": "overseas"}, {}, "overseas_claim"),
    ({}, {"claim_jurisdiction": "overseas"}, {}, ""),
    ({"it_business": True}, {"event_type": "it_business", "claim_jurisdiction": "overseas"}, {}, "overseas_claim"),
    (LEAK_LITE, {"claim_jurisdiction": "overseas"}, {}, ""),
    (BASIC, {"claim_jurisdiction": "overseas"}, {"item": "response"}, ""),
    # 7. overseas_expense: basic, and it_business events on either plan.
    (BASIC, {}, {"item": "response", "spent_in": "overseas"}, "overseas_expense"),
    ({}, {}, {"item": "response", "spent_in": "overseas"}, ""),
    (
        {"it_business": True},
        {"event_type": "it_business"},
        {"item": "response", "spent_in": "overseas"},
        "overseas_expense",
    ),
    (LEAK_LITE, {}, {"item": "response", "spent_in": "overseas"}, ""),
    (BASIC, {}, {"spent_in": "overseas"}, ""),
    # 8. outside_window: from known_date to notice_date + 180 days (basic) / + 1 year (wide), inclusive.
    (BASIC, {}, {"item": "response", "spent_date": "2026-10-29"}, ""),
    (BASIC, {}, {"item": "response", "spent_date": "2026-10-30"}, "outside_window"),
    (BASIC, {}, {"item": "response", "spent_date": "2026-04-30"}, "outside_window"),
    ({}, {}, {"item": "response", "spent_date": "2027-05-02"}, ""),
    ({}, {}, {"item": "response", "spent_date": "2027-05-03"}, "outside_window"),
    (LEAK_LITE, {}, {"item": "response", "spent_date": "2029-01-01"}, ""),
    (BASIC, {}, {"spent_date": "2030-01-01"}, ""),
    # 9. no_evidence: per event and plan; liability lines never need it.
    (BASIC, {"evidence": "authority_notice"}, {"item": "response"}, "no_evidence"),
    ({}, {"evidence": "authority_notice"}, {"item": "response"}, ""),
    ({}, {"evidence": ""}, {"item": "response"}, "no_evidence"),
    ({}, {"evidence": "soc_report;victim_notice"}, {"item": "response"}, ""),
    ({}, {"event_type": "cyber_other", "evidence": "media"}, {"item": "attack_investigation"}, "no_evidence"),
    ({}, {"event_type": "cyber_threat", "evidence": "soc_report"}, {"item": "response"}, "no_evidence"),
    ({}, {"event_type": "it_user", "evidence": ""}, {"item": "response"}, ""),
    ({}, {"evidence": ""}, {}, ""),
    (LEAK_LITE, {"evidence": ""}, {"item": "response"}, ""),
    # 10. no_consent: items that need the insurer's consent.
    ({}, {}, {"item": "defense", "insurer_consent": False}, "no_consent"),
    ({}, {}, {"item": "damages", "insurer_consent": False}, ""),
    (LEAK_LITE, {}, {"item": "defense", "insurer_consent": False}, "no_consent"),
    (LEAK_LITE, {}, {"item": "response", "insurer_consent": False}, ""),
]


@pytest.mark.parametrize(("policy", "claim", "line", "expected"), CASES)
def test_each_reason(policy: dict, claim: dict, line: dict, expected: str) -> None:
    assert reason_of(policy, claim, line) == expected


WINDOW_LEAP = {"period_start": "2027-06-01"}
LEAP_CLAIM = {"known_date": "2028-02-20", "notice_date": "2028-02-29", "claim_made_date": "2028-03-01"}


@pytest.mark.parametrize(("spent", "expected"), [("2029-02-28", ""), ("2029-03-01", "outside_window")])
def test_wide_window_from_29_february_ends_28_february(spent: str, expected: str) -> None:
    """PRODUCTS.md § expense window: notice_date + 1 year keeps the calendar date, 29 Feb → 28 Feb."""
    policy = {**WINDOW_LEAP, "period_end": "2028-06-01"}
    assert reason_of(policy, LEAP_CLAIM, {"item": "response", "spent_date": spent}) == expected


# Each case fails the named reason and every later one; the earlier reason wins.
PRECEDENCE = [
    (BASIC, {"event_type": "cyber_injury"}, {"item": "ransom"}, "not_covered_item"),
    (BASIC, {"event_type": "cyber_injury"}, {"item": "credit_monitoring"}, "event_not_covered"),
    (BASIC, {"claim_made_date": "2028-01-01"}, {"item": "credit_monitoring"}, "item_not_covered"),
    ({}, {"claim_made_date": "2028-01-01", "exclusion_code": "war"}, {}, "outside_period"),
    (BASIC, {"exclusion_code": "war", "claim_jurisdiction": "overseas"}, {}, "excluded:war"),
    (BASIC, {"claim_jurisdiction": "overseas"}, {"item": "defense", "insurer_consent": False}, "overseas_claim"),
    (
        BASIC,
        {"evidence": ""},
        {"item": "consulting", "spent_in": "overseas", "spent_date": "2027-01-01", "insurer_consent": False},
        "overseas_expense",
    ),
    (
        BASIC,
        {"evidence": ""},
        {"item": "consulting", "spent_date": "2027-01-01", "insurer_consent": False},
        "outside_window",
    ),
    (BASIC, {"evidence": ""}, {"item": "consulting", "insurer_consent": False}, "no_evidence"),
    (BASIC, {}, {"item": "consulting", "insurer_consent": False}, "no_consent"),
]


@pytest.mark.parametrize(("policy", "claim", "line", "expected"), PRECEDENCE)
def test_the_first_reason_that_holds_wins(policy: dict, claim: dict, line: dict, expected: str) -> None:
    assert reason_of(policy, claim, line) == expected


def test_eligible_lines_keep_rows_order_index_and_add_context() -> None:
    policies = factories.policies({}, {"product": "leak_lite"})
    claims = factories.claims({}, {"policy_id": "P0002", "series_id": "S1"})
    lines = factories.lines(
        {"claim_id": "C0002", "item": "response", "amount": 5},
        {"item": "ransom", "amount": 7},
        {"item": "defense", "insurer_consent": False, "amount": 9},
    ).set_axis([30, 10, 20])
    before = lines.copy()
    result = eligible_lines(lines, claims, policies, PRODUCTS)
    pd.testing.assert_frame_equal(lines, before)
    assert result.index.tolist() == [30, 10, 20]
    assert result["line_id"].tolist() == lines["line_id"].tolist()
    assert set(CONTEXT_COLUMNS) <= set(result.columns)
    assert result["plan"].tolist() == ["standard", "wide", "wide"]
    assert result["series"].tolist() == ["S1", "C0001", "C0001"]
    assert result["part"].tolist() == ["expense", "", "liability"]
    assert result["item_number"].tolist()[0] == 7 and pd.isna(result["item_number"].iloc[1])
    assert result["reason"].tolist() == ["", "not_covered_item", "no_consent"]
    assert result["eligible_amount"].tolist() == [5, 0, 0]
    assert result["eligible_amount"].dtype == "int64"


def test_unknown_claim_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown"):
        eligible_lines(factories.lines({"claim_id": "C9999"}), factories.claims({}), factories.policies({}), PRODUCTS)


def test_a_line_whose_claims_policy_is_unknown_is_an_error() -> None:
    lines = factories.lines({"line_id": "L0007"})
    with pytest.raises(ValueError, match="unknown: L0007"):
        eligible_lines(lines, factories.claims({"policy_id": "P9999"}), factories.policies({}), PRODUCTS)


def test_repeated_claim_ids_are_an_error_while_lines_are_looked_up_beside() -> None:
    """The claims' checks raise on the engine's own thread; the lines' lookup on the second thread is
    waited for, not left running."""
    claims = pd.concat([factories.claims({}), factories.claims({})], ignore_index=True)
    threads = threading.active_count()
    with pytest.raises(ValueError, match="claim_id repeated"):
        eligible_lines(factories.lines({}), claims, factories.policies({}), PRODUCTS)
    assert threading.active_count() == threads


def test_every_reason_has_one_function_named_for_it() -> None:
    """The ten reasons of step 0 are found by name: one function each, claim-level or line-level."""
    from pipeline.stages import eligibility

    rules = {**eligibility.CLAIM_REASONS, **eligibility.LINE_REASONS}
    assert sorted(rules) == sorted(eligibility.REASONS[1:])
    assert all(function.__name__ == name for name, function in rules.items())


def test_line_facts_keep_each_lines_codes_in_the_fewest_bytes() -> None:
    """A line's claim, policy, product, part and reason codes take a byte each on a small book and
    its catalogue row four (``codes.narrowest``): on ten million lines that is gigabytes of memory
    the kernel need not zero. The values are the reference's (every test above)."""
    lines = factories.lines({}, {"line_id": "L2", "item": "ransom"})
    facts = line_facts(lines, factories.claims({}), factories.policies({}), PRODUCTS)
    widths = {name: getattr(facts, name).dtype for name in ("claim", "policy", "product", "part", "reason", "row")}
    assert widths == {**dict.fromkeys(["claim", "policy", "product", "part", "reason"], np.int8), "row": np.int32}
    assert facts.reason.tolist() == [0, REASONS.index("not_covered_item")]
    assert [narrowest(bound) for bound in (0, 127, 128, 2**15 - 1, 2**15, 2**31 - 1, 2**31)] == [
        np.int8,
        np.int8,
        np.int16,
        np.int16,
        np.int32,
        np.int32,
        np.int64,
    ]
