"""Sheets of ``portfolio_summary.xlsx`` as at month M, named for a language, with charts.

Sheet names are the same in every language (the contract names ``reinsurance_policies`` and
``reinsurance_claims``); headers and code cells follow ``--lang``, except on the sheets meant for
programs (:data:`TOOL_SHEETS`), which keep their canonical column names in every language so that
the same chainladder call reads either workbook. The ``about`` sheet comes first (after the ``run``
sheet every workbook starts with) and lists every sheet, every column used in the workbook (code,
Japanese name, meaning in the workbook's language), every reason, adjustment and warning code, so
a Japanese header can be mapped back to its canonical name.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from pipeline.io.workbook import Chart, Sheet
from pipeline.products.load import ProductBook
from pipeline.reports import reserves, summary, triangle
from pipeline.reports.labels import Labels
from pipeline.reports.reinsurance import reinsurance_account_sheets, treaty_sheet
from pipeline.reports.run_info import RUN_COLUMNS, RUN_SHEET
from pipeline.stages.claims import LineSums
from pipeline.stages.premium import earned_by_month
from pipeline.stages.reinsurance import Reinsurance


@dataclass(frozen=True)
class PortfolioInputs:
    """Everything the summary needs, as at month M.

    ``payable_history``: per-claim ``payable_total`` as at every month from the first bordereau
    month to M (``claim_id, valuation_month, payable_total``), from running the claims stage as at
    each month (``pipeline.stages.claims.payable_history``).
    ``line_sums``: what the figures read of the lines as at M (``pipeline.stages.claims.line_sums``:
    the month's payable by part, the sums by product and item), not the lines themselves.
    ``reconciliation``: ``scope, rows_read, rows_processed, rows_rejected`` per input sheet.
    ``policies_previous`` (PolicyPriced as at M−1) and ``claims_previous`` (claims as at M−1) give
    the KPIs' this-month counts.
    ``reinsurance``: the reinsurance stage's outputs (its ``policies`` and ``claims`` are
    ``reinsurance_policies`` and ``reinsurance_claims``).
    ``by_coverholder``: the input holds several cover-holders (LAYOUTS.md), and the breakdowns by
    product, plan and industry lead with ``coverholder``.
    """

    month: str
    policies: pd.DataFrame
    claims: pd.DataFrame
    line_sums: LineSums
    reinsurance_policies: pd.DataFrame
    reinsurance_claims: pd.DataFrame
    reinsurance: Reinsurance
    payable_history: pd.DataFrame
    reconciliation: pd.DataFrame | None = None
    policies_previous: pd.DataFrame | None = None
    claims_previous: pd.DataFrame | None = None
    by_coverholder: bool = False  # several cover-holders: by_product, by_plan, by_industry per cover-holder


MILLIONS = "#,##0.0,,"  # a chart's value axis in millions of yen

#: Sheets read by programs: canonical column names and codes in every language.
TOOL_SHEETS = frozenset({"triangle_long"})


def _band_labels(labels: Labels) -> dict[str, str]:
    return {key: labels.text("bands", key) for key in ("first", "middle", "above", "missing")}


def _named(name: str, frame: pd.DataFrame, labels: Labels, **options: Any) -> Sheet:
    if name in TOOL_SHEETS:
        return Sheet(name=name, frame=frame, **options)
    shown = labels.localize(frame)
    for column in ("plan", "industry", "product"):
        if column in shown.columns:
            shown[column] = shown[column].replace(summary.MISSING, labels.missing)
    return Sheet(name=name, frame=shown, headers=labels.headers(frame.columns), **options)


def _about(sheets: list[Sheet], labels: Labels) -> Sheet:
    rows: list[dict[str, str]] = []
    keys = ("sheet", "column", "reason", "adjustment", "warning", "method_note")
    names = {key: labels.text("about_sections", key) for key in keys}
    for name in (RUN_SHEET, *(sheet.name for sheet in sheets)):
        rows.append(
            {
                "section": names["sheet"],
                "code": name,
                "label": labels.data["sheets"].get(name, {}).get("ja", ""),
                "meaning": labels.code_about("sheets", name),
            }
        )
    seen: dict[str, None] = dict.fromkeys(RUN_COLUMNS)
    for sheet in sheets:
        for column in sheet.frame.columns:
            if sheet.row_kind != column:
                seen.setdefault(str(column), None)
    for column in seen:
        if column.isdigit():
            continue
        rows.append(
            {
                "section": names["column"],
                "code": column,
                "label": labels.column_ja(column) or "",
                "meaning": labels.about(column),
            }
        )
    codes = (
        ("reasons", "reason"),
        ("adjustments", "adjustment"),
        ("warnings", "warning"),
        ("method_notes", "method_note"),
    )
    for key, section_name in codes:
        for code, entry in labels.data[key].items():
            shown = "excluded:<code>" if code == "excluded" else code
            rows.append(
                {
                    "section": names[section_name],
                    "code": shown,
                    "label": entry["ja"],
                    "meaning": labels.code_about(key, code),
                }
            )
    frame = pd.DataFrame(rows, columns=["section", "code", "label", "meaning"])
    return Sheet(name="about", frame=frame, headers=labels.headers(frame.columns), widths={"meaning": 90})


def _reserve_sheets(long: pd.DataFrame, policies: pd.DataFrame, book: ProductBook, labels: Labels) -> list[Sheet]:
    """The ``reserves`` sheet (with its chart: paid to date and both ultimates by accident month,
    the total row left out) and the ``development`` sheet (issue #13)."""
    assumptions = reserves.ReservingAssumptions.from_data(book.reserving)
    earned = earned_by_month(policies, sorted(long["accident_month"].unique()))
    fit = reserves.development_fit(long, earned, assumptions)
    table = reserves.reserves_by_accident_month(long, earned, fit, assumptions)
    chart = Chart(
        labels.text("charts", "reserves_by_accident_month"),
        "origin",
        ("paid_to_date", "ultimate_chainladder", "ultimate_bf"),
        category_title=labels.text("charts", "accident_month"),
        value_title=labels.text("charts", "yen"),
        rows=(0, max(len(table) - 2, 0)),
    )
    return [
        _named("reserves", table, labels, charts=(chart,) if len(table) > 1 else ()),
        _named("development", reserves.development_factors(fit), labels),
    ]


def portfolio_summary_sheets(inputs: PortfolioInputs, book: ProductBook, labels: Labels) -> list[Sheet]:
    """Every sheet of ``portfolio_summary.xlsx`` in order, ``about`` first."""
    month = inputs.month
    bands = _band_labels(labels)
    yen = labels.text("charts", "million_yen")
    policies, claims, line_sums = inputs.policies, inputs.claims, inputs.line_sums

    long = triangle.triangle_long(inputs.payable_history, claims, month)
    by_month = triangle.payable_by_month(long)
    reserve_sheets = _reserve_sheets(long, policies, book, labels)

    def chart(key: str, categories: str, value: str, rows: int = 0, x: str = "") -> Chart:
        """A bar chart (long category names read horizontally, never rotated) sized to its rows; a
        column chart over months when ``rows`` is 0. Values in millions of yen, so that the value
        axis's labels stay short."""
        title = labels.text("charts", key)
        if rows == 0:
            return Chart(title, categories, (value,), category_title=x, value_title=yen, number_format=MILLIONS)
        height = max(260, 22 * rows + 110)
        return Chart(title, categories, (value,), kind="bar", value_title=yen, height=height, number_format=MILLIONS)

    def per_product(key: str, frame: pd.DataFrame, categories: str, value: str) -> tuple[Chart, ...]:
        """One bar chart per product over its rows (the frame is ordered by product), titled with
        the product's name: one level of short category names instead of a two-level axis."""
        charts = []
        codes = frame["product"].astype(str).tolist()
        for product in dict.fromkeys(codes):
            first, last = codes.index(product), len(codes) - 1 - codes[::-1].index(product)
            base = chart(key, categories, value, last - first + 1)
            name = labels.product_names.get(product, product) if labels.ja else product
            charts.append(
                replace(
                    base, title=f"{base.title}：{name}" if labels.ja else f"{base.title}: {name}", rows=(first, last)
                )
            )
        return tuple(charts)

    lead = ["coverholder"] if inputs.by_coverholder else []
    dimensions = summary.dimension_rows(policies, claims, month, book, bands, labels.lang)
    by_band = summary.by_policy_dims(dimensions, ["product", "revenue_band"])
    by_item = summary.by_item(line_sums.per_item, book)
    by_event = summary.by_event(claims, book)
    sheets = [
        _named(
            "kpi",
            summary.kpi(
                policies,
                claims,
                month,
                inputs.reconciliation,
                policies_previous=inputs.policies_previous,
                claims_previous=inputs.claims_previous,
                line_sums=line_sums,
            ),
            labels,
            row_kind="kind",
        ),
        treaty_sheet(inputs.reinsurance, labels, _named),
        _named("by_product", summary.by_policy_dims(dimensions, [*lead, "product"]), labels),
        _named("by_plan", summary.by_policy_dims(dimensions, [*lead, "product", "plan"]), labels),
        _named(
            "by_revenue_band",
            by_band,
            labels,
            charts=per_product("premium_by_band", by_band, "revenue_band", "written_premium"),
        ),
        _named("by_industry", summary.by_policy_dims(dimensions, [*lead, "industry"]), labels),
        _named(
            "by_event",
            by_event,
            labels,
            charts=(chart("payable_by_event", "event_type", "payable_total", len(by_event)),),
        ),
        _named(
            "by_item",
            by_item,
            labels,
            charts=per_product("payable_by_item", by_item, "item", "payable"),
        ),
        _named(
            "largest_claims",
            summary.largest_claims(claims, inputs.reinsurance_claims, policies),
            labels,
            freeze_columns=2,
        ),
        _named("limits_low", summary.limits_low(policies, book=book), labels, freeze_columns=1),
        _named(
            "payable_by_month",
            by_month,
            labels,
            charts=(
                chart("payable_by_month", "reporting_month", "payable_recognised", x=labels.text("charts", "month")),
            ),
        ),
        _named("triangle_incremental", triangle.triangle_wide(long, "incremental"), labels, freeze_columns=1),
        _named("triangle_cumulative", triangle.triangle_wide(long, "cumulative"), labels, freeze_columns=1),
        _named("triangle_long", long, labels),
        *reserve_sheets,
        _named("reinsurance_policies", inputs.reinsurance_policies, labels, freeze_columns=1),
        _named("reinsurance_claims", inputs.reinsurance_claims, labels, freeze_columns=1),
        *reinsurance_account_sheets(inputs.reinsurance, labels, _named),
    ]
    return [_about(sheets, labels), *sheets]
