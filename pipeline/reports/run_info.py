"""What every workbook of a run says about itself: the ``run`` sheet (first in every workbook) and
the document properties, page header and footer (:class:`pipeline.io.workbook.Document`).

A workbook that has left its folder still says which run made it: the as-at month, the months
read, the input folder, the product data and treaty (name and the first 12 hex digits of their
SHA-256), the package version and the rows read, processed and rejected. Nothing here depends on
the clock or the parse cache, so reruns and cached runs give the same bytes; the document's
created date is the as-at date (the last day of M).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from pipeline.calendar import month_end
from pipeline.io.outputs import SheetElsewhere
from pipeline.io.workbook import Document, Sheet
from pipeline.reports.labels import Labels

RUN_SHEET = "run"
RUN_COLUMNS = ("entry", "value")
VERSION_DIGITS = 12  # hex digits of a SHA-256 shown as a version: enough to tell two data sets apart
WORKBOOKS = ("policies_annotated", "claims_annotated", "portfolio_summary", "rejected")


@dataclass(frozen=True)
class RunInfo:
    """The facts of one run that every workbook states (see the module docstring)."""

    month: str
    first_month: str
    input_folder: str
    products_folder: str
    products_sha256: str
    treaty_name: str
    treaty_sha256: str
    package: str
    version: str
    lang: str
    rows_read: int
    rows_processed: int
    rows_rejected: int


def run_entries(info: RunInfo, workbook: str, labels: Labels) -> pd.DataFrame:
    """The ``run`` sheet's rows: ``entry`` (named in the language) and ``value`` (text)."""
    stem = workbook.removesuffix(".xlsx")
    values = {
        "workbook": f"{workbook} ({labels.text('workbooks', stem)})",
        "as_at_month": info.month,
        "as_at_date": month_end(info.month).date().isoformat(),
        "months_read": f"{info.first_month} – {info.month}",
        "input_folder": info.input_folder,
        "products_folder": info.products_folder,
        "products_version": info.products_sha256[:VERSION_DIGITS],
        "treaty": info.treaty_name,
        "treaty_version": info.treaty_sha256[:VERSION_DIGITS],
        "package_version": f"{info.package} {info.version}",
        "language": info.lang,
        "rows_read": f"{info.rows_read:,}",
        "rows_processed": f"{info.rows_processed:,}",
        "rows_rejected": f"{info.rows_rejected:,}",
    }
    return pd.DataFrame(
        {
            "entry": pd.Series([labels.text("run", key) for key in values], dtype="str"),
            "value": pd.Series(list(values.values()), dtype="str"),
        }
    )


def run_sheet(info: RunInfo, workbook: str, labels: Labels) -> Sheet:
    """The first sheet of ``workbook``: the run that made it."""
    frame = run_entries(info, workbook, labels)
    return Sheet(RUN_SHEET, frame, headers=labels.headers(frame.columns), kinds={"value": "text"})


def document(info: RunInfo, workbook: str, labels: Labels) -> Document:
    """Document properties and page header/footer of ``workbook`` for this run."""
    stem = workbook.removesuffix(".xlsx")
    as_at = labels.text("document", "as_at").format(month=info.month)
    end = month_end(info.month)
    return Document(
        title=f"{labels.text('workbooks', stem)} {as_at}",
        subject=labels.text("document", f"subject_{stem}").format(month=info.month),
        keywords=", ".join((info.package, stem, info.month, info.lang)),
        author=f"{info.package} {info.version}",
        comments=labels.text("document", "comments").format(
            input=info.input_folder, products=info.products_sha256[:VERSION_DIGITS], month=info.month
        ),
        created=dt.datetime(end.year, end.month, end.day, tzinfo=dt.UTC),
        header=(workbook, "{sheet}", as_at),
        footer=("", labels.text("document", "page"), ""),
    )


def with_run(
    workbooks: Mapping[str, Sequence[Sheet | SheetElsewhere]], info: RunInfo, labels: Labels
) -> tuple[dict[str, list[Sheet | SheetElsewhere]], dict[str, Document]]:
    """Every workbook with its ``run`` sheet first, and its :class:`Document`."""
    sheets = {name: [run_sheet(info, name, labels), *list_] for name, list_ in workbooks.items()}
    documents = {name: document(info, name, labels) for name in workbooks}
    return sheets, documents
