"""Intended bad rows: each breaks one rule of DATA_CONTRACT.md so that the validator must reject it,
and each is recorded (month, file, sheet, Excel row, id, column, problem) so tests can check that it
was. Two of them restate a good row invalidly: the earlier version must stay in force."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipeline.products.load import ProductBook
from pipeline.sample.columns import KINDS
from pipeline.sample.dates import EXCEL_OFFSET, MISSING, Calendar, to_date
from pipeline.sample.policies import scheme_and_contract_products

Cells = dict[str, Any]


@dataclass
class BadRow:
    sheet: str
    cells: Cells
    id: str
    column: str
    problem: str
    template: str = ""


@dataclass
class Context:
    """What a template may use to build its rows for bordereau month ``month``."""

    rng: np.random.Generator
    book: ProductBook
    cal: Calendar
    month: int
    policies: pd.DataFrame
    claims: pd.DataFrame
    lines: pd.DataFrame
    used: set[str] = field(default_factory=set)  # ids already given a bad restatement
    serial: int = 0

    def fresh(self, prefix: str, width: int) -> str:
        self.serial += 1
        return f"{prefix}{self.month:02d}{self.serial:0{width}d}"

    def pick(self, frame: pd.DataFrame) -> pd.Series | None:
        if frame.empty:
            return None
        return frame.iloc[int(self.rng.integers(0, len(frame)))]


def row_cells(row: pd.Series, sheet: str) -> Cells:
    """One generator row as the cells a clean file would hold."""
    cells: Cells = {}
    for name, kind in KINDS[sheet].items():
        value = row[name]
        if kind in ("yen", "int"):
            cells[name] = None if value == MISSING else int(value)
        elif kind == "date":
            cells[name] = None if value == MISSING else int(value) + EXCEL_OFFSET
        elif kind == "bool":
            cells[name] = None if value < 0 else bool(value == 1)
        else:
            cells[name] = value if isinstance(value, str) else None
    return cells


def date_text(serial: object, fmt: str) -> str:
    d = to_date(int(serial) - EXCEL_OFFSET)  # type: ignore[call-overload]
    return fmt.format(y=d.year, m=d.month, d=d.day, h=d.year - 1988)


def base_policy(ctx: Context, scheme: bool) -> Cells | None:
    product = scheme_and_contract_products(ctx.book)[0 if scheme else 1]
    pol = ctx.policies
    frame = pol[(pol["restated"] == 0) & (pol["product"] == product.code) & (pol["join_date"] == MISSING)]
    this_month = frame[frame["month"] == ctx.month]
    row = ctx.pick(this_month if not this_month.empty else frame)
    if row is None:
        return None
    cells = row_cells(row, "policies")
    digits = cells["policy_id"].isdigit()  # type: ignore[union-attr]
    cells["policy_id"] = ctx.fresh("79", 5) if digits else ctx.fresh("CS9", 4)
    return cells


def base_claim(ctx: Context) -> Cells | None:
    clm = ctx.claims
    row = ctx.pick(clm[(clm["restated"] == 0) & (clm["month"] <= ctx.month)])
    if row is None:
        return None
    cells = row_cells(row, "claims")
    cells["claim_id"] = ctx.fresh("C9", 5)
    cells["series_id"] = None
    return cells


def base_line(ctx: Context) -> Cells | None:
    lns = ctx.lines
    row = ctx.pick(lns[(lns["restated"] == 0) & (lns["month"] <= ctx.month) & (lns["victims"] == MISSING)])
    if row is None:
        return None
    cells = row_cells(row, "lines")
    cells["line_id"] = ctx.fresh("L9", 6)
    return cells


def policy_template(scheme: bool, column: str, problem: str, change: Callable[[Context, Cells], Any]) -> Callable:
    def template(ctx: Context) -> list[BadRow] | None:
        cells = base_policy(ctx, scheme)
        if cells is None or change(ctx, cells) is False:
            return None
        return [BadRow("policies", cells, str(cells["policy_id"]), column, problem)]

    return template


def claim_template(column: str, problem: str, change: Callable[[Context, Cells], Any]) -> Callable:
    def template(ctx: Context) -> list[BadRow] | None:
        cells = base_claim(ctx)
        if cells is None or change(ctx, cells) is False:
            return None
        return [BadRow("claims", cells, str(cells["claim_id"]), column, problem)]

    return template


def line_template(column: str, problem: str, change: Callable[[Context, Cells], Any]) -> Callable:
    def template(ctx: Context) -> list[BadRow] | None:
        cells = base_line(ctx)
        if cells is None or change(ctx, cells) is False:
            return None
        return [BadRow("lines", cells, str(cells["line_id"]), column, problem)]

    return template
