"""The cross-row part of validation, one month in parts (the Dask engine): the same
``pipeline.stages.validate.validate_month`` on each part, the parts' outcomes put back together into
the outcome of the whole month. Nothing here knows a rule; it only decides which rows go together.

A month is validated against what is known by then (``Known``: the latest version of each policy,
claim and line) and every cross-row rule looks at rows of one policy, with a few exceptions that
join policies: a claim id on two policies (twice in the file, or restated onto another policy), a
series on claims of several policies, a line id under claims of two policies (twice in the file, or
restated under a claim of another policy). So the rows are put into parts by policy, and policies
that such ids join are put into the same part: each policy is a node of a graph, each of those ids
an edge between the policies it names, and every connected component goes to the part of its
first policy (``pipeline.engine.components``). A policy alone, the usual case, goes to its own part.
Then every rule sees, in its part, every row it would see in the whole month:

- a policy row, a claim row and the claims and lines on file are in the part of their policy (a
  line's policy is its claim's: the month's claim of that id, else the one on file; a row with no
  policy, an orphan line, goes with the rows of no policy);
- duplicate ids, restatements, a series' claims, a line's claim and a claim's policy are in one
  component, so in one part;
- the ids rejected in earlier months go to every part whole (a reference to one says so).

The parts are decided from the sheets' id columns alone (``ID_COLUMNS``; ``sheet_ids`` is all the
Dask engine brings to the run's process of a sheet left on the workers) and from the rows on file
the month's rules can look at (``known_looked_at``), not the whole book on file (``part_rows``);
``sheet_rows`` then takes a part's rows of a sheet where the sheet is. ``month_from_parts`` puts
the parts' valid rows back in the sheet's order, their rejected rows in the order of their Excel
rows, and sums their counts; the result equals ``validate_month`` on the whole month (tested on the
sample, on a month that joins policies in every way and on generated months).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.arrow_text import among, positions
from pipeline.engine import rows_by_part
from pipeline.engine.components import component_parts, joined, linked, numbered, policy_text, taken
from pipeline.products.load import ProductBook
from pipeline.stages.rejections import rejected_rows_empty
from pipeline.stages.validate import Known, sheets_by_name, validate_month
from pipeline.stages.versions import CLAIM_ID, LINE_ID, POLICY_ID
from pipeline.tables import MonthValidated, RowChecked

SHEET_ORDER = ("policies", "claims", "lines")
"""The order in which ``validate_month`` validates and records a month's sheets (and the tables of
``Known``)."""


ID_COLUMNS = {"policies": [POLICY_ID], "claims": [CLAIM_ID, POLICY_ID, "series_id"], "lines": [LINE_ID, CLAIM_ID]}
"""The columns of each sheet that decide the parts: all ``row_parts`` and ``known_looked_at`` read."""


@dataclass(frozen=True)
class MonthPart:
    """One part of a month: its rows of each sheet and what is known of its policies by then."""

    sheets: list[RowChecked]
    known: Known


@dataclass(frozen=True)
class PartRows:
    """One part of a month as decided from the ids alone: the positions of its rows in each of the
    month's sheets (in the order of ``sheets_by_name``) and what is known of its policies by then."""

    rows: list[np.ndarray]
    known: Known


def _frame(sheets: dict[str, RowChecked], name: str) -> pd.DataFrame:
    """The id columns of the month's sheet ``name`` (none of its rows when the month has no such sheet)."""
    sheet = sheets.get(name)
    if sheet is None:
        return pd.DataFrame({column: pd.Series(dtype="str") for column in ID_COLUMNS[name]})
    return sheet.frame[ID_COLUMNS[name]]


def known_looked_at(sheets: Sequence[RowChecked], known: Known) -> Known:
    """The rows of ``known`` that the cross-row rules can look at when they validate ``sheets`` (a
    month's): the claims on file that the month restates, that its lines name, that share a series
    with its claims, belong to a policy it restates or hold a line it restates; their lines; the
    policies it restates or its claims name, and those claims' policies (so every row on file it
    looks at is with its own policy, not with the rows of none). The others (most of a
    large book, which grows month by month) are neither split nor sent to the workers; what the
    month makes known is still added to the whole (``known_after``)."""
    by_name = sheets_by_name(sheets)
    policies, claims, lines = (_frame(by_name, name) for name in SHEET_ORDER)
    on_file = known.claims
    restated_lines = among(known.lines[LINE_ID], lines[LINE_ID])
    claim_rows = (
        among(on_file[CLAIM_ID], claims[CLAIM_ID], lines[CLAIM_ID], known.lines[CLAIM_ID][restated_lines])
        | among(on_file["series_id"], claims["series_id"])
        | among(on_file[POLICY_ID], policies[POLICY_ID])
    )
    looked_at = on_file[claim_rows]
    line_rows = among(known.lines[CLAIM_ID], looked_at[CLAIM_ID]) | restated_lines
    policy_rows = among(known.policies[POLICY_ID], policies[POLICY_ID], claims[POLICY_ID], looked_at[POLICY_ID])
    return dataclasses.replace(
        known,
        policies=known.policies[policy_rows].reset_index(drop=True),
        claims=looked_at.reset_index(drop=True),
        lines=known.lines[line_rows].reset_index(drop=True),
    )


def row_parts(sheets: Sequence[RowChecked], known: Known, parts: int) -> tuple[dict[str, np.ndarray], Known]:
    """The part of every row of the month's ``sheets`` (by sheet name, in the sheet's order) and of
    ``known``'s policies, claims and lines (a ``Known`` of part numbers, one column ``part``): see
    the module docstring."""
    by_name = sheets_by_name(sheets)
    policies, claims, lines = (_frame(by_name, name) for name in SHEET_ORDER)
    claim_policy, known_claim_policy = policy_text(claims[POLICY_ID]), policy_text(known.claims[POLICY_ID])
    in_sheet = positions(lines[CLAIM_ID], claims[CLAIM_ID])
    on_file = positions(lines[CLAIM_ID], known.claims[CLAIM_ID])
    line_policy = np.where(in_sheet >= 0, taken(claim_policy, in_sheet), taken(known_claim_policy, on_file))
    known_line_policy = taken(known_claim_policy, positions(known.lines[CLAIM_ID], known.claims[CLAIM_ID]))
    nodes, ids = numbered(
        [
            policy_text(policies[POLICY_ID]),
            claim_policy,
            line_policy,
            policy_text(known.policies[POLICY_ID]),
            known_claim_policy,
            known_line_policy,
        ]
    )
    (policy_node, claim_node, line_node, known_policy_node, known_claim_node, known_line_node) = nodes
    series_on_file = positions(known.claims["series_id"], claims["series_id"])  # the month's first claim of it
    edges = [
        linked(claims[CLAIM_ID], claim_node),  # a claim id twice in the file
        joined(claim_node, known_claim_node, positions(claims[CLAIM_ID], known.claims[CLAIM_ID])),  # restated
        linked(claims["series_id"], claim_node),  # a series in the file
        joined(known_claim_node, claim_node, series_on_file),  # a series on file and in the file
        linked(lines[LINE_ID], line_node),  # a line id twice in the file
        joined(line_node, known_line_node, positions(lines[LINE_ID], known.lines[LINE_ID])),  # restated
    ]
    node_part = component_parts(ids, edges, parts)
    sheet_nodes = {"policies": policy_node, "claims": claim_node, "lines": line_node}
    sheet_parts = {name: node_part[sheet_nodes[name]] for name in by_name if name in sheet_nodes}

    def parts_of(nodes: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame({"part": node_part[nodes]})

    known_parts = Known(parts_of(known_policy_node), parts_of(known_claim_node), parts_of(known_line_node))
    return sheet_parts, known_parts


def sheet_rows(sheet: RowChecked, rows: np.ndarray) -> RowChecked:
    """The rows at ``rows`` (positions, in order) of a row-checked sheet, with their failures (on the
    Dask engine's workers, where the sheet is: only a part's rows go to its task)."""
    raw = sheet.raw
    labels = raw.index[rows]

    def failures(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["index"].isin(labels)]

    return RowChecked(
        raw=dataclasses.replace(
            raw, cells=raw.rows_at(rows), typed={column: cells.iloc[rows] for column, cells in raw.typed.items()}
        ),
        frame=sheet.frame.iloc[rows],
        parse_failures=failures(sheet.parse_failures),
        row_failures=failures(sheet.row_failures),
    )


def part_rows(sheets: Sequence[RowChecked], known: Known, parts: int) -> list[PartRows]:
    """The month's rows and what is ``known`` before it that its rules can look at
    (``known_looked_at``), in ``parts`` parts (``row_parts``), decided from the sheets' id columns
    alone: each part has rows of every sheet (perhaps none) and the rejected ids whole."""
    known = known_looked_at(sheets, known)
    sheet_parts, known_parts = row_parts(sheets, known, parts)
    rows_of_sheets = [rows_by_part(sheet_parts[name], parts) for name in sheets_by_name(sheets)]
    known_rows = [rows_by_part(getattr(known_parts, table)["part"].to_numpy(), parts) for table in SHEET_ORDER]
    return [
        PartRows(
            rows=[rows[number] for rows in rows_of_sheets],
            known=dataclasses.replace(
                known,
                **{
                    table: getattr(known, table).iloc[rows[number]].reset_index(drop=True)
                    for table, rows in zip(SHEET_ORDER, known_rows, strict=True)
                },
            ),
        )
        for number in range(parts)
    ]


def month_parts(sheets: Sequence[RowChecked], known: Known, parts: int) -> list[MonthPart]:
    """The month's row-checked ``sheets`` and what is ``known`` before it, in ``parts`` parts
    (``part_rows``)."""
    whole = sheets_by_name(sheets).values()
    return [
        MonthPart([sheet_rows(sheet, rows) for sheet, rows in zip(whole, part.rows, strict=True)], part.known)
        for part in part_rows(sheets, known, parts)
    ]


def sheet_ids(sheets: Sequence[RowChecked]) -> list[RowChecked]:
    """What the run's process needs of row-checked sheets left on the workers where they were read,
    to decide a month's parts and put their outcomes together: each sheet's id columns
    (``ID_COLUMNS``) and row labels (its ``raw`` without a column), without its cells or failures."""
    return [
        RowChecked(
            raw=dataclasses.replace(sheet.raw, cells=pd.DataFrame(index=sheet.raw.index), extra_columns=(), typed={}),
            frame=sheet.frame[ID_COLUMNS[sheet.raw.sheet]],
            parse_failures=sheet.parse_failures.iloc[:0],
            row_failures=sheet.row_failures.iloc[:0],
        )
        for sheet in sheets
    ]


def part_outcome(part: MonthPart, month: str, book: ProductBook) -> MonthValidated:
    """``validate_month``'s outcome of one part (the task each part is, on a worker)."""
    outcome, _ = validate_month(month, part.sheets, part.known, book)
    return outcome


def _in_sheet_order(frames: Sequence[pd.DataFrame], sheet: RowChecked | None) -> pd.DataFrame:
    """The parts' valid rows of one sheet as one frame in the sheet's order (their index is their row
    label in the sheet)."""
    given = [frame for frame in frames if not frame.empty]
    if not given or sheet is None:
        return frames[0]
    rows = pd.concat(given) if len(given) > 1 else given[0]
    return rows.iloc[np.argsort(sheet.raw.index.get_indexer(rows.index), kind="stable")]


def month_from_parts(month: str, sheets: Sequence[RowChecked], outcomes: Sequence[MonthValidated]) -> MonthValidated:
    """The outcome of the whole month from its parts' (``month_parts``, ``part_outcome``), as
    ``validate_month`` gives it: valid rows in the sheet's order, rejected rows sheet by sheet in the
    order of their Excel rows, the counts of each sheet summed, the rejected ids together."""
    by_name = sheets_by_name(sheets)
    validated = [name for name in SHEET_ORDER if name in by_name]
    rejected = []
    for name in validated:
        of_sheet = [outcome.rejected[outcome.rejected["sheet"] == name] for outcome in outcomes]
        rejected.append(pd.concat(of_sheet, ignore_index=True).sort_values("row", kind="stable"))
    counts = []
    for number, name in enumerate(validated):
        of_parts = [outcome.counts[number] for outcome in outcomes]
        counts.append(
            {
                **of_parts[0],
                "rows_read": by_name[name].raw.rows_read,
                "rows_processed": sum(int(str(count["rows_processed"])) for count in of_parts),
                "rows_rejected": sum(int(str(count["rows_rejected"])) for count in of_parts),
            }
        )
    return MonthValidated(
        month=month,
        policies=_in_sheet_order([outcome.policies for outcome in outcomes], by_name.get("policies")),
        claims=_in_sheet_order([outcome.claims for outcome in outcomes], by_name.get("claims")),
        lines=_in_sheet_order([outcome.lines for outcome in outcomes], by_name.get("lines")),
        rejected=pd.concat(rejected, ignore_index=True) if rejected else rejected_rows_empty(),
        counts=counts,
        rejected_policies=frozenset().union(*(outcome.rejected_policies for outcome in outcomes)),
        rejected_claims=frozenset().union(*(outcome.rejected_claims for outcome in outcomes)),
    )
