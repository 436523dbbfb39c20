"""The sample book's second cover-holder (LAYOUTS.md): ``osaka-mga`` (大阪MGA), drawn by the same
generator as the first, then written the way its own policy system exports it: Japanese file names
per month (``契約明細_YYYYMM.xlsx``, ``事故明細_YYYYMM.xlsx``), Japanese sheet names (契約, 事故, 明細),
a title row above the headers, its own header wording, its own codes for products, plans, premium
bases, payment methods, event types and jurisdictions, dates typed as ``dd/mm/yyyy`` text, and no
``spent_in`` column (it only ever pays in Japan). ``layout.toml`` beside its month folders maps it
onto DATA_CONTRACT.md; ``sample_data/README.md`` explains it line by line.

Two intended bad rows show how its rejections read: a product code its layout does not know and a
dd/mm/yyyy date that is not a calendar date (see :data:`BAD_CELLS`)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pipeline.products.load import load_products
from pipeline.sample.book import to_cells
from pipeline.sample.claims import make_claims
from pipeline.sample.columns import KINDS
from pipeline.sample.dates import MISSING, Calendar, to_date
from pipeline.sample.lines import make_lines
from pipeline.sample.policies import make_policies
from pipeline.sample.xlsx import SheetCells, write_workbook

CODE = "osaka-mga"
NAME = "大阪MGA"
# contract sheet -> (file name stem, sheet name in the workbook, title of the export)
FILES = {
    "policies": ("契約明細", "契約", "契約明細"),
    "claims": ("事故明細", "事故", "事故明細"),
    "lines": ("事故明細", "明細", "支払明細"),
}
# contract column -> the header as the cover-holder's system writes it (spent_in is never sent)
HEADERS: dict[str, dict[str, str]] = {
    "policies": {
        "policy_id": "証券No.", "product": "商品コード", "insured_name": "契約者名", "industry": "業種区分",
        "revenue": "年間売上高（円）", "premium_basis": "保険料算出方式", "actual_revenue": "確定売上高（円）",
        "plan": "プランコード", "leak_only": "漏えい限定", "it_business": "IT業務", "liability_limit": "賠償限度額",
        "liability_deductible": "賠償免責額", "expense_limit": "費用限度額", "expense_deductible": "費用免責額",
        "payment_method": "払込区分", "period_start": "始期日", "period_end": "満期日", "join_date": "加入日",
        "cancel_date": "解約日",
    },
    "claims": {
        "claim_id": "事故No.", "policy_id": "証券No.", "event_type": "事故区分", "series_id": "一連No.",
        "known_date": "認知日", "notice_date": "受付日", "claim_made_date": "請求日", "claim_jurisdiction": "請求地域",
        "evidence": "証明書類", "exclusion_code": "免責コード", "cat_event_id": "集積事故No.",
    },
    "lines": {
        "line_id": "明細No.", "claim_id": "事故No.", "item": "費目", "amount": "支払額（円）", "spent_date": "支出日",
        "insurer_consent": "同意有無", "victims": "被害者数", "victim_type": "被害者区分",
    },
}  # fmt: skip
# (sheet, column) -> contract code -> the cover-holder's code
CODES: dict[tuple[str, str], dict[str, str]] = {
    ("policies", "product"): {"cyber_security": "CYB-W", "leak_lite": "LEAK-S"},
    ("policies", "plan"): {"basic": "B", "wide": "W"},
    ("policies", "premium_basis"): {"fixed": "確定", "adjustable": "精算"},
    ("policies", "payment_method"): {"lump_sum": "一括", "installment": "分割", "large_installment": "大口分割"},
    ("claims", "event_type"): {
        "leak": "01", "it_user": "02", "it_business": "03", "cyber_injury": "04", "cyber_threat": "05",
        "cyber_other": "06",
    },
    ("claims", "claim_jurisdiction"): {"domestic": "国内", "overseas": "海外"},
}  # fmt: skip
CONSTANTS = {"lines": {"spent_in": "domestic"}}
DATE_FORMAT = "%d/%m/%Y"
TITLE_ROWS = 1
# Intended bad rows: (sheet, month index, column, cell as typed, why)
BAD_CELLS = (
    ("policies", 0, "product", "CYB-X", "a product code the layout does not map"),
    ("policies", 1, "period_start", "31/02/2026", "a dd/mm/yyyy date that is not a calendar date"),
)


def layout_toml() -> str:
    """The cover-holder's layout file: every mapping above, as an analyst would write it."""
    lines = [
        f'coverholder = "{CODE}"',
        f'name = "{NAME}"',
        'ignore = ["備考"]                     # a free-text column of theirs, kept out of the outputs',
    ]
    for sheet, (stem, sheet_name, _) in FILES.items():
        lines += ["", f"[files.{sheet}]", f'file = "{stem}_*.xlsx"', f'sheet = "{sheet_name}"', "header_row = 2"]
        lines += [f"[files.{sheet}.columns]"]
        lines += [f'{column} = "{header}"' for column, header in HEADERS[sheet].items()]
        for (code_sheet, column), codes in CODES.items():
            if code_sheet == sheet:
                lines += [f"[files.{sheet}.values.{column}]"]
                lines += [f'"{theirs}" = "{ours}"' for ours, theirs in codes.items()]
        if sheet in CONSTANTS:
            lines += [f"[files.{sheet}.constants]"]
            lines += [f'{column} = "{value}"' for column, value in CONSTANTS[sheet].items()]
    lines += ["", "[formats]", f'dates = ["{DATE_FORMAT}"]', 'thousands_separator = ","']
    return "\n".join(lines) + "\n"


def _cells(rows: pd.DataFrame, sheet: str) -> dict[str, list[object]]:
    columns: dict[str, list[object]] = {}
    for column in HEADERS[sheet]:
        kind = KINDS[sheet][column]
        values = rows[column].to_numpy()
        if kind == "date":
            cells: list[object] = [None if v == MISSING else to_date(int(v)).strftime(DATE_FORMAT) for v in values]
        else:
            cells = to_cells(values, "text" if kind in ("code", "id", "text") else kind)
        codes = CODES.get((sheet, column))
        if codes:
            cells = [codes.get(c, c) if isinstance(c, str) else c for c in cells]
        columns[column] = cells
    return columns


def generate_foreign_book(
    output_dir: Path, *, policies: int = 150, seed: int = 4649, first_month: str = "2026-04", months: int = 12
) -> dict[str, Any]:
    """Write the second cover-holder's months and ``layout.toml`` into ``output_dir``; the same
    arguments always give the same bytes. Returns the files written and the intended bad rows."""
    output_dir = Path(output_dir)
    book = load_products()
    cal = Calendar.build(first_month, months)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)]
    policy_rows, _ = make_policies(streams[0], book, cal, policies)
    claim_rows, _ = make_claims(streams[1], book, cal, policy_rows)
    line_rows = make_lines(streams[2], book, cal, claim_rows)
    frames = {"policies": policy_rows, "claims": claim_rows, "lines": line_rows}
    claimed = set(claim_rows["policy_id"])
    files: list[str] = []
    bad: list[dict[str, Any]] = []
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "layout.toml").write_text(layout_toml(), encoding="utf-8")
    for month, label in enumerate(cal.labels):
        created = dt.datetime.combine(to_date(int(cal.ends[month]) + 1), dt.time(9, 0))
        stamp = label.replace("-", "")
        by_file: dict[str, list[SheetCells]] = {}
        for sheet, (stem, sheet_name, title) in FILES.items():
            rows = frames[sheet][frames[sheet]["month"].to_numpy() == month]
            columns = _cells(rows, sheet)
            for bad_sheet, bad_month, column, cell, why in BAD_CELLS:
                if bad_sheet == sheet and bad_month == month:
                    ids = columns["policy_id"]
                    at = next(i for i, policy in enumerate(ids) if policy not in claimed)
                    columns[column][at] = cell
                    file = f"{CODE}/{label}/{stem}_{stamp}.xlsx"
                    bad.append({"file": file, "sheet": sheet, "row": at + TITLE_ROWS + 2, "column": column, "why": why})
            memo = ["" if i % 7 else "要確認" for i in range(len(rows))]
            cells = SheetCells(
                sheet_name,
                [*HEADERS[sheet].values(), "備考"],
                [KINDS[sheet][c] if KINDS[sheet][c] in ("yen", "int", "bool") else "text" for c in HEADERS[sheet]]
                + ["text"],
                [*columns.values(), [m or None for m in memo]],
                title=f"{NAME} {title} {label[:4]}年{int(label[5:])}月分",
            )
            by_file.setdefault(f"{stem}_{stamp}.xlsx", []).append(cells)
        for name, sheets in by_file.items():
            write_workbook(output_dir / label / name, sheets, created)
            files.append(f"{label}/{name}")
    return {"months": list(cal.labels), "files": files, "bad_rows": bad}
