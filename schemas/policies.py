"""Policy rows: validated (one version per policy as at a month), then priced and accounted.

Rules: DATA_CONTRACT.md § policies, CALCULATION.md § Policies.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.common import Provenance


class PolicyValid(Provenance):
    """A policy row that passed validation. ``leak_lite`` rows have their fixed terms filled in
    (limits, deductibles, ``payment_method``, ``premium_basis``) from the product data; ``plan`` stays
    empty for ``leak_lite``. Riders default to False."""

    policy_id: Series[str] = pa.Field(str_length={"min_value": 1})
    product: Series[str] = pa.Field(isin=["leak_lite", "cyber_security"])
    insured_name: Series[str]
    industry: Series[str] = pa.Field(nullable=True)
    revenue: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)
    premium_basis: Series[str] = pa.Field(isin=["fixed", "adjustable"])
    actual_revenue: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)
    plan: Series[str] = pa.Field(nullable=True, isin=["basic", "wide"])
    leak_only: Series[bool]
    it_business: Series[bool]
    liability_limit: Series[int] = pa.Field(ge=0)
    liability_deductible: Series[int] = pa.Field(ge=0)
    expense_limit: Series[int] = pa.Field(ge=0)
    expense_deductible: Series[int] = pa.Field(ge=0)
    payment_method: Series[str] = pa.Field(isin=["lump_sum", "installment", "large_installment"])
    period_start: Series[pd.Timestamp]
    period_end: Series[pd.Timestamp]
    join_date: Series[pd.Timestamp] = pa.Field(nullable=True)
    cancel_date: Series[pd.Timestamp] = pa.Field(nullable=True)


class PolicyPriced(PolicyValid):
    """Annual premium and status as at a month (CALCULATION.md § Premium). Premium figures are empty
    for referrals; ``warnings`` is a ``;``-joined list of codes, empty when none."""

    status: Series[str] = pa.Field(isin=["ok", "refer"])
    warnings: Series[str]
    annual_premium: Series[pd.Int64Dtype] = pa.Field(nullable=True, ge=0)
    cover_months: Series[int] = pa.Field(ge=0, le=12)
    written_premium: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    adjustment_premium: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    earned_to_date: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    upr: Series[pd.Int64Dtype] = pa.Field(nullable=True)


class PolicyAccounted(PolicyPriced):
    """Priced policy with the month's movements and the limits left after claims."""

    written_this_month: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    earned_this_month: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    remaining_liability_limit: Series[pd.Int64Dtype] = pa.Field(nullable=True)
    remaining_expense_limit: Series[pd.Int64Dtype] = pa.Field(nullable=True)
