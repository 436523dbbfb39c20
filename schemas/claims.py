"""Claim rows: validated, then totalled from their lines. Rules: DATA_CONTRACT.md § claims."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from pipeline.arrow_text import mapped
from schemas.common import (
    JURISDICTIONS,
    Provenance,
    Rule,
    Text,
    allowed_where,
    catalogue,
    date_on_or_before,
    liability_items,
    member_of,
    not_in,
    pairs,
    required_where,
    unless,
)

if TYPE_CHECKING:
    from pipeline.products import ProductBook

# How each input column is parsed (pipeline.parse.PARSERS); DATA_CONTRACT.md § claims.
CLAIM_KINDS = {
    "claim_id": "id",
    "policy_id": "id",
    "event_type": "code",
    "series_id": "id",
    "known_date": "date",
    "notice_date": "date",
    "claim_made_date": "date",
    "claim_jurisdiction": "code",
    "evidence": "code_list",
    "exclusion_code": "code",
    "cat_event_id": "id",
}


class ClaimValid(Provenance):
    """A claim row that passed validation. ``evidence`` is the ``;``-joined list of evidence codes
    (lower case, trimmed, in the order given), empty when none. ``cat_event_id`` (集積事故番号)
    joins claims of one cyber event across policies (REINSURANCE.md), empty when none."""

    claim_id: Series[Text] = pa.Field(str_length={"min_value": 1})
    policy_id: Series[Text]
    event_type: Series[Text] = pa.Field(
        isin=["leak", "it_user", "it_business", "cyber_injury", "cyber_threat", "cyber_other"]
    )
    series_id: Series[Text] = pa.Field(nullable=True)
    known_date: Series[pd.Timestamp]
    notice_date: Series[pd.Timestamp]
    claim_made_date: Series[pd.Timestamp] = pa.Field(nullable=True)
    claim_jurisdiction: Series[Text] = pa.Field(nullable=True, isin=["domestic", "overseas"])
    evidence: Series[Text]
    exclusion_code: Series[Text] = pa.Field(nullable=True)
    cat_event_id: Series[Text] = pa.Field(nullable=True)


class ClaimTotals(ClaimValid):
    """Per-claim payable by part, to date and this month (CALCULATION.md § Claim totals)."""

    payable_liability: Series[int] = pa.Field(ge=0)
    payable_expense: Series[int] = pa.Field(ge=0)
    payable_total: Series[int] = pa.Field(ge=0)
    payable_this_month: Series[int]


class ClaimParsed(Provenance):
    """A claim row after parsing, before the rules of :func:`claim_rules` and :func:`exclusion_rules`."""

    claim_id: Series[Text]
    policy_id: Series[Text]
    event_type: Series[Text]
    series_id: Series[Text] = pa.Field(nullable=True)
    known_date: Series[pd.Timestamp]
    notice_date: Series[pd.Timestamp]
    claim_made_date: Series[pd.Timestamp] = pa.Field(nullable=True)
    claim_jurisdiction: Series[Text] = pa.Field(nullable=True)
    evidence: Series[Text]
    exclusion_code: Series[Text] = pa.Field(nullable=True)
    cat_event_id: Series[Text] = pa.Field(nullable=True)


def claim_rules(claims: pd.DataFrame, *, month_end: pd.Timestamp, book: ProductBook) -> list[Rule]:
    """Every rule of a parsed claims sheet that needs only the claim row and the product data
    (DATA_CONTRACT.md § claims, § Validation details): checked where the sheet is read. The rule
    that needs its policy's product is :func:`exclusion_rules`."""
    events = book.event_types
    evidence_codes = set(book.evidence_codes)
    rules = [
        allowed_where(
            claims, claims["event_type"].notna(), "event_type", events, f"event_type must be one of {', '.join(events)}"
        ),
        date_on_or_before(claims, "known_date", claims["notice_date"], "known_date must be on or before notice_date"),
        date_on_or_before(
            claims,
            "notice_date",
            month_end,
            f"notice_date must be on or before the end of the bordereau month ({month_end.date()})",
        ),
        required_where(
            claims,
            claims["claim_made_date"].notna(),
            "claim_jurisdiction",
            f"claim_jurisdiction ({' / '.join(JURISDICTIONS)}) is required with claim_made_date",
        ),
        allowed_where(
            claims,
            claims["claim_jurisdiction"].notna(),
            "claim_jurisdiction",
            list(JURISDICTIONS),
            f"claim_jurisdiction must be one of {', '.join(JURISDICTIONS)}",
        ),
    ]
    evidence_known = pd.Series(
        [all(code in evidence_codes for code in text.split(";") if code) for text in claims["evidence"].fillna("")],
        index=claims.index,
        dtype=bool,
    )
    rules.append(
        Rule(
            "evidence",
            f"evidence codes must be among {', '.join(book.evidence_codes)} (separated by ;)",
            evidence_known,
        )
    )
    return rules


def exclusion_rules(claims: pd.DataFrame, product: pd.Series, book: ProductBook) -> list[Rule]:
    """A claim's ``exclusion_code`` (when given) is an exclusion of its policy's product, one rule per
    product. ``product``: per claim, the product of its policy in force as at the claim's month
    (empty when none: whether the policy is known at all is checked by the caller)."""
    return [
        Rule(
            "exclusion_code",
            f"exclusion_code is not an exclusion of the policy's product {code}",
            unless(
                (product == code) & claims["exclusion_code"].notna(),
                claims["exclusion_code"].isin(list(definition.exclusions)),
            ),
        )
        for code, definition in book.products.items()
    ]


def claim_restatement_rules(
    claims: pd.DataFrame, lines_on_file: pd.DataFrame, product: pd.Series, book: ProductBook
) -> list[Rule]:
    """A claim restatement may not move the claim to a policy whose product lacks its lines' items on
    file, nor drop ``claim_made_date`` while liability lines are on file. ``product``: per claim, its
    policy's product in force (empty when none), as :func:`exclusion_rules` takes it."""
    candidates = claims[["claim_id", "policy_id", "claim_made_date"]].reset_index(names="row")
    candidates["product"] = product.to_numpy()
    lines_of_claims = lines_on_file.loc[member_of(lines_on_file["claim_id"], claims["claim_id"])]
    with_lines = candidates.merge(lines_of_claims[["claim_id", "item"]], on="claim_id")
    known_product = with_lines["product"].notna()
    line_items = pairs(with_lines, "product", "item")
    bad_item = known_product & ~line_items.isin(catalogue(book))
    bad_date = known_product & line_items.isin(liability_items(book)) & with_lines["claim_made_date"].isna()
    return [
        Rule(
            "policy_id",
            "this policy's product does not have the items of the claim's lines on file",
            not_in(claims.index, with_lines.loc[bad_item, "row"]),
        ),
        Rule(
            "claim_made_date",
            "the claim has liability lines on file: claim_made_date is required",
            not_in(claims.index, with_lines.loc[bad_date, "row"]),
        ),
    ]


def series_rule(claims: pd.DataFrame, claims_on_file: pd.DataFrame) -> Rule:
    """Every claim of a series belongs to one policy. The series' policy is that of its claims on file
    (other than those restated here), else of its first claim in this file; a claim that puts the
    series on another policy is rejected."""
    restated = member_of(claims_on_file["claim_id"], claims["claim_id"])
    on_file = claims_on_file.loc[~restated & claims_on_file["series_id"].notna(), ["series_id", "policy_id"]]
    here = claims.loc[claims["series_id"].notna(), ["series_id", "policy_id", "excel_row"]]
    anchors = (
        pd.concat([on_file.assign(excel_row=0), here], ignore_index=True)
        .sort_values("excel_row", kind="stable")
        .drop_duplicates("series_id")
        .set_index("series_id")["policy_id"]
    )
    series_policy = mapped(claims["series_id"], anchors)
    return Rule(
        "series_id",
        "series_id already belongs to another policy (every claim of a series belongs to one policy)",
        unless(claims["series_id"].notna(), claims["policy_id"] == series_policy),
    )
