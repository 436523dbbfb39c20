"""A small book in the contract's layout and the same book in a foreign cover-holder's layout
(LAYOUTS.md): Japanese file and sheet names, a title row, their own headers and codes, dd/mm/yyyy
dates, thousands separated by dots. For the layout tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import openpyxl

from tests.golden.make_cases import claim, cyber, leak_lite, line
from tests.workbooks import write_bordereau

Row = dict[str, Any]

LAYOUT_TOML = """\
coverholder = "osaka-mga"
name = "大阪MGA"
ignore = ["備考"]

[files.policies]
file = "契約明細_*.xlsx"
sheet = "契約"
header_row = 2
[files.policies.columns]
policy_id = "証券No."
product = "商品コード"
insured_name = "契約者名"
revenue = "売上高（円）"
plan = "プランコード"
liability_limit = "賠償限度額"
expense_limit = "費用限度額"
liability_deductible = "賠償免責"
expense_deductible = "費用免責"
premium_basis = "料率方式"
period_start = "始期日"
period_end = "満期日"
[files.policies.values.product]
"CY" = "cyber_security"
"LL" = "leak_lite"
[files.policies.values.plan]
"W" = "wide"
"B" = "basic"
[files.policies.constants]
payment_method = "lump_sum"

[files.claims]
file = "事故明細_*.xlsx"
sheet = "事故"
header_row = 2
[files.claims.columns]
claim_id = "事故No."
policy_id = "証券No."
event_type = "事故区分"
known_date = "認知日"
notice_date = "受付日"
claim_made_date = "請求日"
claim_jurisdiction = "請求地域"
evidence = "証明"

[files.lines]
file = "事故明細_*.xlsx"
sheet = 2
header_row = 2
[files.lines.columns]
line_id = "明細No."
claim_id = "事故No."
item = "費目コード"
amount = "支払額"
spent_date = "支出日"
spent_in = "支出地域"
insurer_consent = "同意"

[formats]
dates = ["%d/%m/%Y"]
thousands_separator = "."
"""

# contract -> their code, the inverse of the layout's value maps
PRODUCT_CODES = {"cyber_security": "CY", "leak_lite": "LL"}
PLAN_CODES = {"wide": "W", "basic": "B"}
FOREIGN_HEADERS = {
    "policies": {
        "policy_id": "証券No.",
        "product": "商品コード",
        "insured_name": "契約者名",
        "revenue": "売上高（円）",
        "plan": "プランコード",
        "liability_limit": "賠償限度額",
        "expense_limit": "費用限度額",
        "liability_deductible": "賠償免責",
        "expense_deductible": "費用免責",
        "premium_basis": "料率方式",
        "period_start": "始期日",
        "period_end": "満期日",
    },
    "claims": {
        "claim_id": "事故No.",
        "policy_id": "証券No.",
        "event_type": "事故区分",
        "known_date": "認知日",
        "notice_date": "受付日",
        "claim_made_date": "請求日",
        "claim_jurisdiction": "請求地域",
        "evidence": "証明",
    },
    "lines": {
        "line_id": "明細No.",
        "claim_id": "事故No.",
        "item": "費目コード",
        "amount": "支払額",
        "spent_date": "支出日",
        "spent_in": "支出地域",
        "insurer_consent": "同意",
    },
}
DATE_COLUMNS = {"period_start", "period_end", "known_date", "notice_date", "claim_made_date", "spent_date"}
YEN_COLUMNS = {"revenue", "liability_limit", "expense_limit", "liability_deductible", "expense_deductible", "amount"}


def book() -> dict[str, list[Row]]:
    """A month of two policies, two claims and four lines (contract spellings)."""
    return {
        "policies": [
            cyber("P001", liability_deductible=100_000, expense_deductible=100_000) | {"payment_method": "lump_sum"},
            leak_lite("P002") | {"payment_method": "lump_sum"},
        ],
        "claims": [claim("C001", "P001"), claim("C002", "P002")],
        "lines": [
            line("L001", "C001", "damages", 2_500_000),
            line("L002", "C001", "defense", 1_200_000),
            line("L003", "C002", "response", 800_000),
            line("L004", "C002", "damages", 300_000),
        ],
    }


def _foreign_cell(column: str, value: Any) -> Any:
    if column == "product":
        return PRODUCT_CODES[value]
    if column == "plan":
        return PLAN_CODES.get(value, value)
    if column in DATE_COLUMNS and isinstance(value, str):
        return dt.date.fromisoformat(value).strftime("%d/%m/%Y")
    if column in YEN_COLUMNS and isinstance(value, int):
        return f"{value:,}".replace(",", ".")
    return value


def _write(path: Path, sheets: list[tuple[str, str, list[Row]]], title: str) -> None:
    workbook = openpyxl.Workbook()
    workbook.remove(workbook.active)
    for name, contract_sheet, rows in sheets:
        worksheet = workbook.create_sheet(name)
        headers = FOREIGN_HEADERS[contract_sheet]
        worksheet.append([title])
        worksheet.append([*headers.values(), "備考"])
        for row in rows:
            cells = [_foreign_cell(column, row.get(column)) for column in headers]
            worksheet.append([*cells, "メモ"])
            for cell in worksheet[worksheet.max_row]:
                if isinstance(cell.value, str):
                    cell.data_type = "s"
    workbook.save(path)


def write_contract(folder: Path, month: str, rows: dict[str, list[Row]]) -> Path:
    """``rows`` (see :func:`book`) in the contract's own layout under ``folder/month``."""
    return write_bordereau(folder, month, policies=rows["policies"], claims=rows["claims"], lines=rows["lines"])


def write_foreign(folder: Path, month: str, rows: dict[str, list[Row]], layout: str = LAYOUT_TOML) -> Path:
    """``rows`` (contract spellings) written in the foreign layout under ``folder/month``, with the
    layout file in ``folder``; returns the month folder."""
    month_folder = Path(folder) / month
    month_folder.mkdir(parents=True, exist_ok=True)
    (Path(folder) / "layout.toml").write_text(layout, encoding="utf-8")
    stamp = month.replace("-", "")
    _write(month_folder / f"契約明細_{stamp}.xlsx", [("契約", "policies", rows["policies"])], "契約明細 大阪MGA")
    _write(
        month_folder / f"事故明細_{stamp}.xlsx",
        [("事故", "claims", rows["claims"]), ("明細", "lines", rows["lines"])],
        "事故明細 大阪MGA",
    )
    return month_folder
