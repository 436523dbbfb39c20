"""Exact money arithmetic: integer yen times exact decimal ratios, floored (円未満切捨て).

A ratio such as Decimal("0.70") is split into integer numerator and denominator (70, 100), so
``floor(60_000 × 0.70)`` is ``60_000 * 70 // 100 = 42_000`` exactly — never 41,999 from a binary float.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TypeVar

import numpy as np
import pandas as pd

INT64_MAX = np.iinfo(np.int64).max
Amounts = TypeVar("Amounts", pd.Series, np.ndarray)
Ratios = pd.Series | np.ndarray | int


def ratio_parts(ratio: Decimal | int) -> tuple[int, int]:
    """Exact (numerator, denominator) of a decimal ratio: Decimal("0.90") -> (9, 10)."""
    numerator, denominator = Decimal(ratio).as_integer_ratio()
    return numerator, denominator


def floor_times(amounts: pd.Series, ratio: Decimal | int) -> pd.Series:
    """``floor(amount × ratio)`` for every amount, exactly, as int64 (nullable Int64 stays nullable)."""
    numerator, denominator = ratio_parts(ratio)
    return floor_times_fraction(amounts, numerator, denominator)


def floor_times_fraction(amounts: Amounts, numerators: Ratios, denominators: Ratios) -> Amounts:
    """``floor(amount × numerator / denominator)`` row by row, in integer arithmetic: ``amounts`` a
    Series (nullable Int64 stays nullable) or an int64 array, numerators and denominators integers or
    aligned with the amounts. The one place where money meets a ratio.

    Raises OverflowError if an intermediate product would not fit in int64 (never silently wraps).
    """
    if isinstance(amounts, pd.Series):
        peak_amount = int(amounts.abs().max()) if len(amounts) and amounts.notna().any() else 0
    else:
        peak_amount = int(np.abs(amounts).max()) if len(amounts) else 0
    peak_numerator = int(np.max(np.abs(numerators))) if np.size(numerators) else 0
    if peak_amount and peak_numerator and peak_amount > INT64_MAX // peak_numerator:
        raise OverflowError("amount × ratio numerator exceeds int64; use object arithmetic")
    result: Amounts = (amounts * numerators) // denominators
    return result
