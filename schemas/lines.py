"""Claim line items: validated, then run through the waterfall. Rules: DATA_CONTRACT.md § lines,
CALCULATION.md § Claims."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.common import (
    JURISDICTIONS,
    MONTH_PATTERN,
    VICTIM_TYPES,
    Provenance,
    Rule,
    Text,
    allowed_where,
    date_on_or_before,
    required_where,
    unless,
)

if TYPE_CHECKING:
    from pipeline.products import ProductBook

# How each input column is parsed (pipeline.parse.PARSERS); DATA_CONTRACT.md § lines.
LINE_KINDS = {
    "line_id": "id",
    "claim_id": "id",
    "item": "code",
    "amount": "yen",
    "spent_date": "date",
    "spent_in": "code",
    "insurer_consent": "bool",
    "victims": "integer",
    "victim_type": "code",
}
# The item whose lines carry victims (CALCULATION.md § Waterfall step 1: the victim cap).
CONDOLENCE_ITEM = "condolence"
VICTIM_COLUMNS = ("victims", "victim_type")
DEFAULT_SPENT_IN = "domestic"


class LineValid(Provenance):
    """A line row that passed validation, with ``first_month``: the first month in which the line
    appeared validly (its place in the queue, CALCULATION.md § Time)."""

    line_id: Series[Text] = pa.Field(str_length={"min_value": 1})
    claim_id: Series[Text]
    item: Series[Text]
    amount: Series[int] = pa.Field(ge=0)
    spent_date: Series[pd.Timestamp]
    spent_in: Series[Text] = pa.Field(isin=["domestic", "overseas"])
    insurer_consent: Series[bool]
    victims: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1)
    victim_type: Series[Text] = pa.Field(nullable=True, isin=["individual", "corporate"])
    first_month: Series[Text] = pa.Field(str_matches=MONTH_PATTERN)


class LineAdjudicated(LineValid):
    """Every waterfall step's result (CALCULATION.md § Waterfall). ``reason`` is empty for eligible
    lines; ``adjustments`` is the ``;``-joined codes of the steps that changed the amount. Both are
    categorical, as are the context columns ``product``, ``plan`` and ``part``: a few labels over
    millions of lines (``pipeline.arrow_text.take_labels``; written out as text)."""

    reason: Series[pd.CategoricalDtype]
    eligible_amount: Series[int] = pa.Field(ge=0)
    after_victim_cap: Series[int] = pa.Field(ge=0)
    after_deductible: Series[int] = pa.Field(ge=0)
    after_reduction: Series[int] = pa.Field(ge=0)
    after_sublimit: Series[int] = pa.Field(ge=0)
    after_limit: Series[int] = pa.Field(ge=0)
    payable: Series[int] = pa.Field(ge=0)
    payable_this_month: Series[int]
    adjustments: Series[pd.CategoricalDtype]


class LineParsed(Provenance):
    """A line row after parsing and defaults (``spent_in`` domestic, ``insurer_consent`` false;
    victims emptied on lines other than condolence), before :func:`line_rules` and :func:`item_rules`."""

    line_id: Series[Text]
    claim_id: Series[Text]
    item: Series[Text]
    amount: Series[pd.Int64Dtype] = pa.Field(ge=0)
    spent_date: Series[pd.Timestamp]
    spent_in: Series[Text]
    insurer_consent: Series[bool]
    victims: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    victim_type: Series[Text] = pa.Field(nullable=True)


def line_rules(lines: pd.DataFrame, *, month_end: pd.Timestamp) -> list[Rule]:
    """Every rule of a parsed lines sheet that needs only the line row (DATA_CONTRACT.md § lines,
    § Validation details): checked where the sheet is read. The rules that need the line's claim
    are :func:`item_rules`."""
    condolence = lines["item"] == CONDOLENCE_ITEM
    return [
        date_on_or_before(
            lines,
            "spent_date",
            month_end,
            f"spent_date must be on or before the end of the bordereau month ({month_end.date()})",
        ),
        allowed_where(
            lines,
            lines["spent_in"].notna(),
            "spent_in",
            list(JURISDICTIONS),
            f"spent_in must be one of {', '.join(JURISDICTIONS)}",
        ),
        required_where(lines, condolence, "victims", "victims (a whole number >= 1) is required on condolence lines"),
        Rule("victims", "victims must be at least 1", unless(lines["victims"].notna(), lines["victims"] >= 1)),
        required_where(
            lines,
            condolence,
            "victim_type",
            f"victim_type ({' / '.join(VICTIM_TYPES)}) is required on condolence lines",
        ),
        allowed_where(
            lines,
            lines["victim_type"].notna(),
            "victim_type",
            list(VICTIM_TYPES),
            f"victim_type must be one of {', '.join(VICTIM_TYPES)}",
        ),
    ]


def item_rules(lines: pd.DataFrame, claim_terms: pd.DataFrame, book: ProductBook) -> list[Rule]:
    """A line's ``item`` is in its claim's policy's product catalogue (one rule per product), and a
    liability item needs a claim with a ``claim_made_date``. ``claim_terms``: per line (``lines``'
    index), its claim's policy's ``product`` in force as at the line's month and whether the claim
    has a ``claim_made_date`` (``has_claim_made_date``; True for an unknown claim: whether the claim
    is known at all is checked by the caller)."""
    product = claim_terms["product"]
    items = book.items()
    never_paid = book.never_paid_items
    rules: list[Rule] = []
    for code in book.products:
        catalogue = [*items.loc[items["product"] == code, "item"], *never_paid]
        rules.append(
            Rule(
                "item",
                f"item is not in the {code} catalogue (nor a never-paid item such as {never_paid[0]})",
                unless((product == code) & lines["item"].notna(), lines["item"].isin(catalogue)),
            )
        )
    liability_items = items.loc[items["part"] == "liability", ["product", "item"]]
    is_liability = pd.Series(
        pd.MultiIndex.from_arrays([product, lines["item"]]).isin(pd.MultiIndex.from_frame(liability_items)),
        index=lines.index,
    )
    has_date = claim_terms["has_claim_made_date"]
    rules.append(
        Rule(
            "item",
            "liability item on a claim with no claim_made_date (give it on the claim)",
            unless(is_liability, has_date),
        )
    )
    return rules
