"""The sheets of ``portfolio_summary.xlsx`` that break the portfolio down by cover-holder, with
several cover-holders in one input (LAYOUTS.md): ``by_coverholder`` (premium and claims per
cover-holder) and ``data_quality`` (rows read, processed, rejected and the top reasons per
cover-holder and month)."""

from __future__ import annotations

import pandas as pd

from pipeline.io.workbook import Sheet
from pipeline.products.load import ProductBook
from pipeline.reports import summary
from pipeline.reports.labels import Labels
from pipeline.reports.portfolio import _band_labels, _named


def coverholder_sheets(
    policies: pd.DataFrame,
    claims: pd.DataFrame,
    month: str,
    book: ProductBook,
    quality: pd.DataFrame,
    labels: Labels,
) -> list[Sheet]:
    """``by_coverholder`` and ``data_quality``, named for ``labels``' language."""
    dimensions = summary.dimension_rows(policies, claims, month, book, _band_labels(labels))
    by_coverholder = summary.by_policy_dims(dimensions, ["coverholder"])
    return [
        _named("by_coverholder", by_coverholder, labels),
        _named("data_quality", quality, labels, freeze_columns=2),
    ]
