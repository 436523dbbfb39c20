"""Claim line items: validated, then run through the waterfall. Rules: DATA_CONTRACT.md § lines,
CALCULATION.md § Claims."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.common import MONTH_PATTERN, Provenance


class LineValid(Provenance):
    """A line row that passed validation, with ``first_month``: the first month in which the line
    appeared validly (its place in the queue, CALCULATION.md § Time)."""

    line_id: Series[str] = pa.Field(str_length={"min_value": 1})
    claim_id: Series[str]
    item: Series[str]
    amount: Series[int] = pa.Field(ge=0)
    spent_date: Series[pd.Timestamp]
    spent_in: Series[str] = pa.Field(isin=["domestic", "overseas"])
    insurer_consent: Series[bool]
    victims: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=1)
    victim_type: Series[str] = pa.Field(nullable=True, isin=["individual", "corporate"])
    first_month: Series[str] = pa.Field(str_matches=MONTH_PATTERN)


class LineAdjudicated(LineValid):
    """Every waterfall step's result (CALCULATION.md § Waterfall). ``reason`` is empty for eligible
    lines; ``adjustments`` is the ``;``-joined codes of the steps that changed the amount."""

    reason: Series[str]
    eligible_amount: Series[int] = pa.Field(ge=0)
    after_victim_cap: Series[int] = pa.Field(ge=0)
    after_deductible: Series[int] = pa.Field(ge=0)
    after_reduction: Series[int] = pa.Field(ge=0)
    after_sublimit: Series[int] = pa.Field(ge=0)
    after_limit: Series[int] = pa.Field(ge=0)
    payable: Series[int] = pa.Field(ge=0)
    payable_this_month: Series[int]
    adjustments: Series[str]
