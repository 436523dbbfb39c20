"""Assemble the sample book: draw policies, claims and lines, lay each month's rows out as the
cedent would send them, add the intended bad rows, and write the workbooks."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.products.load import load_products
from pipeline.sample import messy as typing_style
from pipeline.sample.bad_catalogue import plan_bad_rows
from pipeline.sample.bad_rows import BadRow
from pipeline.sample.claims import make_claims
from pipeline.sample.columns import KINDS, load_labels
from pipeline.sample.dates import EXCEL_OFFSET, MISSING, Calendar, to_date
from pipeline.sample.lines import make_lines
from pipeline.sample.policies import make_policies
from pipeline.sample.xlsx import SheetCells, write_workbook

FILES = {"policies.xlsx": ("policies",), "claims.xlsx": ("claims", "lines")}
FORMATS = ("xlsx", "parquet")
PARQUET_TYPES = {"yen": pa.int64(), "int": pa.int64(), "date": pa.date32(), "bool": pa.bool_()}
"""A clean book's columns in Parquet by kind (any other kind is text)."""
EXPECTED_REJECTIONS = "expected_rejections.json"


def to_cells(values: np.ndarray, kind: str) -> list[object]:
    """A generator column as cells: ints for yen, Excel serials for dates, bools, str or None."""
    if kind in ("yen", "int"):
        return [None if v == MISSING else v for v in values.tolist()]
    if kind == "date":
        return [None if v == MISSING else v + EXCEL_OFFSET for v in values.tolist()]
    if kind == "bool":
        return [None if v < 0 else v == 1 for v in values.tolist()]
    return [v if isinstance(v, str) else None for v in values.tolist()]


def _sheet(
    rng: np.random.Generator, sheet: str, rows: pd.DataFrame, labels: dict[str, str], style: typing_style.FileStyle,
    bad: list[BadRow],
) -> tuple[SheetCells, list[tuple[BadRow, int]]]:  # fmt: skip
    kinds = KINDS[sheet]
    columns = {
        name: typing_style.respell(rng, to_cells(rows[name].to_numpy(), kind), kind, style)
        for name, kind in kinds.items()
    }
    placed: list[tuple[BadRow, int]] = []
    if bad:
        total = len(rows) + len(bad)
        positions = np.sort(rng.choice(total, len(bad), replace=False)).tolist()
        for position, row in zip(positions, bad, strict=True):
            for name in kinds:
                columns[name].insert(position, row.cells.get(name))
            placed.append((row, position + 2))
    names = list(kinds)
    if style.shuffle:
        names = [names[k] for k in rng.permutation(len(names)).tolist()]
    header_u = rng.random(len(names)).tolist()
    headers = [
        typing_style.header(name, labels[name], style.headers, u) for name, u in zip(names, header_u, strict=True)
    ]
    cell_kinds = [kinds[name] for name in names]
    cell_columns = [columns[name] for name in names]
    if style.memo:
        at = int(rng.integers(0, len(names) + 1))
        headers.insert(at, style.memo)
        cell_kinds.insert(at, "text")
        cell_columns.insert(at, typing_style.memo_column(rng, len(cell_columns[0])))
    return SheetCells(sheet, headers, cell_kinds, cell_columns), placed


def write_parquet_sheet(path: Path, cells: SheetCells) -> None:
    """One sheet of a clean book as a Parquet file (DATA_CONTRACT.md, Parquet input: the headers as
    column names, whole yen as integers, dates as dates, flags as booleans, the rest as text)."""
    columns = {}
    for header, kind, column in zip(cells.headers, cells.kinds, cells.columns, strict=True):
        values = (
            [None if cell is None else to_date(int(cast(int, cell)) - EXCEL_OFFSET) for cell in column]
            if kind == "date"
            else column
        )
        columns[header] = pa.array(values, type=PARQUET_TYPES.get(kind, pa.string()))
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)


def _counts(policies: pd.DataFrame, claims: pd.DataFrame, lines: pd.DataFrame) -> dict[str, Any]:
    pol = policies[policies["restated"] == 0]
    clm = claims[claims["restated"] == 0]
    lns = lines[lines["restated"] == 0]

    def tally(frame: pd.DataFrame, *keys: str) -> dict[str, int]:
        grouped = frame.groupby(list(keys), dropna=False).size()
        return {
            "/".join(str(k) for k in (key if isinstance(key, tuple) else (key,))): int(v) for key, v in grouped.items()
        }

    contract = pol[pol["plan"].notna()]
    return {
        "policies": len(pol),
        "claims": len(clm),
        "lines": len(lns),
        "restated": {
            "policies_cancelled": int((policies["restated"].eq(1) & policies["cancel_date"].ne(MISSING)).sum()),
            "policies_actual_revenue": int((policies["restated"].eq(1) & policies["actual_revenue"].ne(MISSING)).sum()),
            "claims": int(claims["restated"].sum()),
            "lines": int(lines["restated"].sum()),
        },
        "by_product": tally(pol, "product"),
        "by_plan": tally(contract, "plan"),
        "by_rider": {
            "leak_only": int((contract["leak_only"] == 1).sum()),
            "it_business": int((contract["it_business"] == 1).sum()),
            "leak_only+it_business": int(((contract["leak_only"] == 1) & (contract["it_business"] == 1)).sum()),
        },
        "by_payment_method": tally(contract, "payment_method"),
        "by_premium_basis": tally(contract, "premium_basis"),
        "mid_term_joiners": int((pol["join_date"] != MISSING).sum()),
        "no_revenue": int((pol["revenue"] == MISSING).sum()),
        "by_event": tally(clm, "product", "event_type"),
        "series": int(clm["series_id"].notna().sum()),
        "by_item": tally(lns, "product", "item"),
    }


def generate_book(
    output_dir: Path,
    *,
    policies: int = 600,
    seed: int = 2026,
    first_month: str = "2026-04",
    months: int = 12,
    messy: bool = True,
    file_format: str = "xlsx",
) -> dict[str, Any]:
    """Write ``months`` monthly bordereaux from ``first_month`` into ``output_dir`` and return counts.

    The same arguments always give byte-identical workbooks. ``messy=False`` gives canonical headers
    and spellings and no bad rows (for benchmarks). The result lists every intended bad row under
    ``bad_rows`` (also written to ``expected_rejections.json`` when there are any).
    ``file_format="parquet"`` (a clean book only: a Parquet column holds one type) writes each sheet
    as ``policies.parquet``, ``claims.parquet`` and ``lines.parquet`` instead of the workbooks, with
    the same rows: books larger than Excel writes comfortably, for the Parquet input path."""
    if file_format not in FORMATS:
        raise ValueError(f"file_format must be one of {', '.join(FORMATS)}, not {file_format!r}")
    if file_format == "parquet" and messy:
        raise ValueError("a Parquet book is a clean book (messy=False): a Parquet column holds one type")
    output_dir = Path(output_dir)
    book = load_products()
    labels = load_labels()
    cal = Calendar.build(first_month, months)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)]
    policy_rows, notes = make_policies(streams[0], book, cal, policies)
    claim_rows, _ = make_claims(streams[1], book, cal, policy_rows)
    line_rows = make_lines(streams[2], book, cal, claim_rows)
    frames = {"policies": policy_rows, "claims": claim_rows, "lines": line_rows}
    plan = (
        plan_bad_rows(streams[3], book, cal, policy_rows, claim_rows, line_rows)
        if messy
        else [[] for _ in range(cal.count)]
    )
    layout = streams[4]
    rows_written: dict[str, dict[str, int]] = {}
    bad_records: list[dict[str, Any]] = []
    files = []
    month_index = {sheet: frame["month"].to_numpy() for sheet, frame in frames.items()}
    for month, label in enumerate(cal.labels):
        created = dt.datetime.combine(to_date(int(cal.ends[month]) + 1), dt.time(9, 0))
        rows_written[label] = {}
        for file_name, sheets in FILES.items():
            style = typing_style.month_style(layout, month) if messy else typing_style.CLEAN
            cells = []
            for sheet in sheets:
                rows = frames[sheet][month_index[sheet] == month]
                bad = [row for row in plan[month] if row.sheet == sheet]
                sheet_cells, placed = _sheet(layout, sheet, rows, labels[sheet], style, bad)
                cells.append(sheet_cells)
                rows_written[label][sheet] = sheet_cells.rows
                for row, excel_row in placed:
                    bad_records.append(
                        {
                            "month": label,
                            "file": f"{label}/{file_name}",
                            "sheet": sheet,
                            "row": excel_row,
                            "id": row.id,
                            "column": row.column,
                            "problem": row.problem,
                            "template": row.template,
                        }
                    )
            if file_format == "parquet":
                for sheet_cells in cells:
                    write_parquet_sheet(output_dir / label / f"{sheet_cells.name}.parquet", sheet_cells)
                    files.append(f"{label}/{sheet_cells.name}.parquet")
            else:
                write_workbook(output_dir / label / file_name, cells, created)
                files.append(f"{label}/{file_name}")
    if bad_records:
        text = json.dumps(bad_records, ensure_ascii=False, indent=1)
        (output_dir / EXPECTED_REJECTIONS).write_text(text + "\n", encoding="utf-8")
    result = _counts(policy_rows, claim_rows, line_rows)
    result.update(
        months=list(cal.labels),
        files=files,
        rows=rows_written,
        bad_rows=bad_records,
        bad_row_templates=dict(Counter(record["template"] for record in bad_records)),
        notes=notes,
    )
    return result
