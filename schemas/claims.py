"""Claim rows: validated, then totalled from their lines. Rules: DATA_CONTRACT.md § claims."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.common import Provenance


class ClaimValid(Provenance):
    """A claim row that passed validation. ``evidence`` is the ``;``-joined list of evidence codes
    (lower case, trimmed, in the order given), empty when none."""

    claim_id: Series[str] = pa.Field(str_length={"min_value": 1})
    policy_id: Series[str]
    event_type: Series[str] = pa.Field(
        isin=["leak", "it_user", "it_business", "cyber_injury", "cyber_threat", "cyber_other"]
    )
    series_id: Series[str] = pa.Field(nullable=True)
    known_date: Series[pd.Timestamp]
    notice_date: Series[pd.Timestamp]
    claim_made_date: Series[pd.Timestamp] = pa.Field(nullable=True)
    claim_jurisdiction: Series[str] = pa.Field(nullable=True, isin=["domestic", "overseas"])
    evidence: Series[str]
    exclusion_code: Series[str] = pa.Field(nullable=True)


class ClaimTotals(ClaimValid):
    """Per-claim payable by part, to date and this month (CALCULATION.md § Claim totals)."""

    payable_liability: Series[int] = pa.Field(ge=0)
    payable_expense: Series[int] = pa.Field(ge=0)
    payable_total: Series[int] = pa.Field(ge=0)
    payable_this_month: Series[int]
