"""Sheets of the reinsurance programme in ``portfolio_summary.xlsx`` (REINSURANCE.md § Outputs).

Layout only: every figure comes from the reinsurance stage (``pipeline.stages.reinsurance``). The
``treaty`` sheet is one row per treaty year and layer with a bar chart of losses, recoveries and
aggregate left per layer; ``reinsurance_events`` one row per event; ``technical_account`` one row
per treaty year and line. ``reinsurance_policies`` and ``reinsurance_claims`` are laid out by
``portfolio.py`` with the other sheets.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.io.workbook import Chart, Sheet
from pipeline.reports.labels import Labels
from pipeline.stages.reinsurance import Reinsurance
from pipeline.stages.treaty import COUNT_COLUMNS

Named = Callable[..., Sheet]


def treaty_sheet(reinsurance: Reinsurance, labels: Labels, named: Named) -> Sheet:
    """The ``treaty`` sheet: per treaty year and layer, terms, premiums, losses, recoveries, the
    aggregate used and left and the limits reinstated, with a chart per layer."""
    frame = reinsurance.treaty
    kinds: dict[str, Any] = {column: "count" for column in COUNT_COLUMNS}
    kinds.update(reinstatements="integer", limits_reinstated="decimal")
    height = max(300, 24 * len(frame) + 140)
    chart = Chart(
        labels.text("charts", "treaty_layers"),
        ("treaty_year", "layer"),
        ("losses", "recoveries", "aggregate_left"),
        kind="bar",
        value_title=labels.text("charts", "yen"),
        height=height,
    )
    return named("treaty", frame, labels, kinds=kinds, charts=(chart,), freeze_columns=2)


def reinsurance_account_sheets(reinsurance: Reinsurance, labels: Labels, named: Named) -> list[Sheet]:
    """``reinsurance_events`` and ``technical_account``, in that order."""
    events = named(
        "reinsurance_events",
        reinsurance.events,
        labels,
        kinds={"claims": "count", "policies": "count"},
        freeze_columns=2,
    )
    account = named("technical_account", reinsurance.technical_account, labels, freeze_columns=2)
    return [events, account]
