"""Parse and validate the raw sheets of every month, in month order (DATA_CONTRACT.md § Values people
really type, § Validation details; CALCULATION.md § Time).

For each month: policies, then claims (against the policies in force as at that month), then lines
(against the claims in force as at that month). A row is validated once, as at its own month:

1. parse every cell (pipeline.parse); a bad cell is a failure of its column, and other checks on
   that cell are not reported (the parse reason says what was expected);
2. check the parsed sheet lazily with pandera: the ``*Parsed`` model of ``schemas/`` plus the rules
   of ``schemas`` built from the product data, plus the cross-table rules below, and map
   ``failure_cases`` back to Excel rows;
3. the rows with no failure are completed (defaults, fixed terms) and checked against the
   ``*Valid`` model; they join the history. Every other row is rejected, one rejected row per
   failing column: ``month, file, sheet, row, column, value, reason``.

Cross-table rules (as at the row's month): a claim's policy and a line's claim must be in force
(a reference to a rejected row says so); an id twice in one file rejects every copy; a series stays
on one policy; and a restatement may not break rows already on file: a policy may not change product
under claims or lines its new product does not allow, and a claim may not move to a policy whose
product lacks its lines' items, nor drop ``claim_made_date`` under liability lines. Those rows on
file were validated once and stay valid in every later as-at view (pipeline.stages.versions).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import pandas as pd
import pandera.pandas as pa

from pipeline.calendar import month_end
from pipeline.io.read import EXCEL_ROW, Bordereaux, RawSheet
from pipeline.parse import PARSERS, Parsed, cell_text, parse_date, raw_text
from pipeline.products import ProductBook
from pipeline.stages.versions import CLAIM_ID, LINE_ID, POLICY_ID, History, latest_versions
from schemas.claims import CLAIM_KINDS, ClaimParsed, ClaimValid, claim_restatement_rules, claim_rules, series_rule
from schemas.common import Rule, duplicate_id_rule, known_id_rules
from schemas.lines import (
    CONDOLENCE_ITEM,
    DEFAULT_SPENT_IN,
    LINE_KINDS,
    VICTIM_COLUMNS,
    LineParsed,
    LineValid,
    line_rules,
)
from schemas.policies import (
    POLICY_KINDS,
    PolicyParsed,
    PolicyValid,
    effective_terms,
    policy_rules,
    product_change_rule,
)

REJECTED_COLUMNS = ["month", "file", "sheet", "row", "column", "column_as_written", "value", "reason"]
COUNT_COLUMNS = ["month", "file", "sheet", "rows_read", "rows_processed", "rows_rejected"]
FAILURE_COLUMNS = ["index", "column", "reason"]


@dataclass(frozen=True)
class Validated:
    """The valid history of every month, the rejected rows and the per-sheet counts."""

    history: History
    rejected: pd.DataFrame
    counts: pd.DataFrame


@dataclass(frozen=True)
class MonthValidated:
    """One month's outcome, all that later months and the run need of it (and what the parse cache
    stores): the valid rows it added (PolicyValid, ClaimValid, LineValid), its rejected rows, its
    counts per sheet (records of COUNT_COLUMNS) and the policy and claim ids it rejected."""

    month: str
    policies: pd.DataFrame
    claims: pd.DataFrame
    lines: pd.DataFrame
    rejected: pd.DataFrame
    counts: list[dict[str, object]]
    rejected_policies: frozenset[str]
    rejected_claims: frozenset[str]


@dataclass(frozen=True)
class Known:
    """What was validly known at the end of a month: the history so far and the ids rejected so far
    (a claim of a rejected policy, a line of a rejected claim, says so)."""

    history: History
    rejected_policies: frozenset[str] = frozenset()
    rejected_claims: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SheetResult:
    """One sheet of one month: its valid rows (as the table's Valid model) and its failures."""

    valid: pd.DataFrame
    failures: pd.DataFrame  # FAILURE_COLUMNS, index = row label in the raw frame


# --- parsing and pandera plumbing -----------------------------------------------------------


def parsed_sheet(raw: RawSheet, kinds: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sheet with every column parsed to its type, provenance added, unknown columns as text,
    and the parse failures."""
    columns: dict[str, pd.Series] = {}
    failures = []
    for column, kind in kinds.items():
        values, errors = _parser(kind, raw)(raw.frame[column])
        columns[column] = values
        bad = errors[errors.notna()]
        failures.append(pd.DataFrame({"index": bad.index, "column": column, "reason": bad.to_numpy()}))
    index = raw.frame.index
    provenance = {
        "bordereau_month": pd.Series(raw.month, index=index, dtype="str"),
        "source_file": pd.Series(raw.file, index=index, dtype="str"),
        "source_sheet": pd.Series(raw.sheet, index=index, dtype="str"),
        EXCEL_ROW: raw.frame[EXCEL_ROW].astype("int64"),
    }
    extra = {column: raw_text(raw.frame[column]) for column in raw.extra_columns}
    frame = pd.DataFrame({**provenance, **columns, **extra}, index=index)
    return frame, _failures(failures)


def _parser(kind: str, raw: RawSheet) -> Callable[[pd.Series], Parsed]:
    """The parser of ``kind`` for this sheet: with its cover-holder's extra date spellings and
    thousands separator (LAYOUTS.md [formats]) where its layout gives them."""
    if kind == "date" and raw.date_formats:
        return functools.partial(parse_date, formats=raw.date_formats)
    if kind in ("yen", "integer") and raw.thousands_separator != ",":
        return functools.partial(PARSERS[kind], thousands_separator=raw.thousands_separator)  # type: ignore[call-arg]
    return PARSERS[kind]


def _failures(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [part for part in parts if len(part)]
    if not parts:
        return pd.DataFrame({"index": pd.Series(dtype="int64"), "column": [], "reason": []}, dtype=object)
    return pd.concat(parts, ignore_index=True)


_BUILTIN_REASONS: list[tuple[re.Pattern[str], Callable[[str, re.Match[str]], str]]] = [
    (re.compile(r"not_nullable"), lambda column, m: f"{column} is required"),
    (re.compile(r"str_length\("), lambda column, m: f"{column} is required"),
    (re.compile(r"greater_than_or_equal_to\((.*)\)"), lambda column, m: f"{column} must be at least {m.group(1)}"),
    (re.compile(r"isin\((.*)\)"), lambda column, m: f"{column} must be one of {m.group(1)}"),
    (re.compile(r"str_matches\((.*)\)"), lambda column, m: f"{column} must match {m.group(1)}"),
    (re.compile(r"(coerce_)?dtype\((.*)\)"), lambda column, m: f"{column} could not be read as {m.group(2)}"),
]


def _reason(column: str, check: str) -> str:
    """A person's reason for a pandera failure: our rules carry it; built-in checks are translated."""
    for pattern, reason in _BUILTIN_REASONS:
        match = pattern.match(check)
        if match:
            return reason(column, match)
    return check


def _holds(rule: Rule) -> Callable[[pd.Series], pd.Series]:
    return lambda values: rule.holds.reindex(values.index, fill_value=True)


def _schema_with_rules(model: type[pa.DataFrameModel] | None, rules: list[Rule]) -> pa.DataFrameSchema:
    schema = model.to_schema() if model is not None else pa.DataFrameSchema({}, strict=False)
    added: dict[str, list[pa.Check]] = {}
    for rule in rules:
        added.setdefault(rule.column, []).append(pa.Check(_holds(rule), error=rule.reason, ignore_na=False))
    updates = {
        column: {"checks": [*schema.columns[column].checks, *checks]}
        for column, checks in added.items()
        if column in schema.columns
    }
    if updates:
        schema = schema.update_columns(updates)
    new = {
        column: pa.Column(checks=checks, nullable=True)
        for column, checks in added.items()
        if column not in schema.columns
    }
    return schema.add_columns(new) if new else schema


def _failure_frame(errors: pa.errors.SchemaErrors) -> pd.DataFrame:
    cases = errors.failure_cases
    located = cases[cases["index"].notna() & cases["column"].notna()]
    if len(located) < len(cases):
        unlocated = cases[cases["index"].isna() | cases["column"].isna()].iloc[0]
        raise RuntimeError(f"validation failure without a row: {unlocated.to_dict()}") from None
    reasons = [_reason(str(c), str(k)) for c, k in zip(located["column"], located["check"], strict=True)]
    return pd.DataFrame(
        {
            "index": located["index"].astype("int64").to_numpy(),
            "column": located["column"].astype(str).to_numpy(),
            "reason": reasons,
        }
    ).drop_duplicates()


def rule_failures(frame: pd.DataFrame, model: type[pa.DataFrameModel] | None, rules: list[Rule]) -> pd.DataFrame:
    """Validate ``frame`` lazily against ``model`` plus ``rules``; one failure per (row, column, reason)."""
    try:
        _schema_with_rules(model, rules).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        return _failure_frame(errors)
    return _failures([])


def _without_parse_failures(failures: pd.DataFrame, parse_failures: pd.DataFrame) -> pd.DataFrame:
    """Drop rule failures on cells that already failed parsing (the parse reason says it all)."""
    if failures.empty or parse_failures.empty:
        return failures
    parsed_bad = pd.MultiIndex.from_frame(parse_failures[["index", "column"]])
    keep = ~pd.MultiIndex.from_frame(failures[["index", "column"]]).isin(parsed_bad)
    return failures[keep]


def _failed_rows(failures: pd.DataFrame) -> pd.Index:
    return pd.Index(failures["index"].unique())


def _valid_rows(
    frame: pd.DataFrame,
    failures: pd.DataFrame,
    valid_model: type[pa.DataFrameModel],
    complete: Callable[[pd.DataFrame], pd.DataFrame],
) -> SheetResult:
    """Complete the rows with no failure and check them against the table's Valid model (a row
    that fails it, which the rules should have caught, is rejected like any other)."""
    candidates = complete(frame.drop(index=_failed_rows(failures)))
    try:
        return SheetResult(valid=valid_model.validate(candidates, lazy=True), failures=failures)
    except pa.errors.SchemaErrors as errors:
        final = _failure_frame(errors)
    valid = valid_model.validate(candidates.drop(index=_failed_rows(final)))
    return SheetResult(valid=valid, failures=_failures([failures, final]))


@cache
def _empty_valid(model: type[pa.DataFrameModel]) -> pd.DataFrame:
    columns = {}
    for name, column in model.to_schema().columns.items():
        dtype = str(column.dtype)
        columns[name] = pd.Series(dtype="str" if "string" in dtype or dtype == "str" else dtype)
    return model.validate(pd.DataFrame(columns))


def _empty(model: type[pa.DataFrameModel]) -> pd.DataFrame:
    return _empty_valid(model).copy()


# --- one sheet of one month --------------------------------------------------------------------


def validated_policies(raw: RawSheet, on_file: History, book: ProductBook) -> SheetResult:
    """The policies sheet of one month (DATA_CONTRACT.md § policies)."""
    frame, parse_failures = parsed_sheet(raw, POLICY_KINDS)
    claims_on_file = latest_versions(on_file.claims, CLAIM_ID, raw.month)
    lines_on_file = latest_versions(on_file.lines, LINE_ID, raw.month)
    rules = [
        *policy_rules(frame, book),
        duplicate_id_rule(frame, POLICY_ID),
        product_change_rule(frame, claims_on_file, lines_on_file, book),
    ]
    failures = _without_parse_failures(rule_failures(frame, PolicyParsed, rules), parse_failures)
    return _valid_rows(
        frame, _failures([parse_failures, failures]), PolicyValid, lambda rows: effective_terms(rows, book)
    )


def validated_claims(
    raw: RawSheet, on_file: History, policies: pd.DataFrame, rejected_policies: set[str], book: ProductBook
) -> SheetResult:
    """The claims sheet of one month, against the ``policies`` in force as at that month."""
    frame, parse_failures = parsed_sheet(raw, CLAIM_KINDS)
    frame = frame.assign(evidence=frame["evidence"].fillna(""))
    policy_products = policies.set_index(POLICY_ID)["product"]
    claims_on_file = latest_versions(on_file.claims, CLAIM_ID, raw.month)
    lines_on_file = latest_versions(on_file.lines, LINE_ID, raw.month)
    rules = [
        *claim_rules(frame, month_end=month_end(raw.month), policy_products=policy_products, book=book),
        duplicate_id_rule(frame, CLAIM_ID),
        *known_id_rules(frame, POLICY_ID, policy_products.index, rejected_policies, "policy", raw.month),
        *claim_restatement_rules(frame, lines_on_file, policy_products, book),
    ]
    failures = _without_parse_failures(rule_failures(frame, ClaimParsed, rules), parse_failures)
    failures = _failures([parse_failures, failures])
    passing = frame.drop(index=_failed_rows(failures))
    series = rule_failures(passing, None, [series_rule(passing, claims_on_file)])
    return _valid_rows(frame, _failures([failures, series]), ClaimValid, lambda rows: rows)


def _with_line_defaults(frame: pd.DataFrame, parse_failures: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``spent_in`` defaults to domestic; victims are ignored (emptied) on lines other than condolence,
    and so are their parse failures."""
    condolence = frame["item"] == CONDOLENCE_ITEM
    ignored = frame.index[~condolence.fillna(False).astype(bool)]
    frame = frame.assign(
        spent_in=frame["spent_in"].fillna(DEFAULT_SPENT_IN),
        victims=frame["victims"].mask(~condolence.fillna(False).astype(bool)),
        victim_type=frame["victim_type"].mask(~condolence.fillna(False).astype(bool)),
    )
    keep = ~(parse_failures["column"].isin(VICTIM_COLUMNS) & parse_failures["index"].isin(ignored))
    return frame, parse_failures[keep]


def validated_lines(
    raw: RawSheet,
    on_file: History,
    claims: pd.DataFrame,
    policies: pd.DataFrame,
    rejected_claims: set[str],
    book: ProductBook,
) -> SheetResult:
    """The lines sheet of one month, against the ``claims`` (and their ``policies``) in force then."""
    frame, parse_failures = parsed_sheet(raw, LINE_KINDS)
    frame, parse_failures = _with_line_defaults(frame, parse_failures)
    claim_terms = pd.DataFrame(
        {
            "product": claims["policy_id"].map(policies.set_index(POLICY_ID)["product"]).to_numpy(),
            "has_claim_made_date": claims["claim_made_date"].notna().to_numpy(),
        },
        index=pd.Index(claims[CLAIM_ID]),
    )
    rules = [
        *line_rules(frame, month_end=month_end(raw.month), claim_terms=claim_terms, book=book),
        duplicate_id_rule(frame, LINE_ID),
        *known_id_rules(frame, CLAIM_ID, claim_terms.index, rejected_claims, "claim", raw.month),
    ]
    failures = _without_parse_failures(rule_failures(frame, LineParsed, rules), parse_failures)
    first_seen = on_file.lines.groupby(LINE_ID)["first_month"].min() if len(on_file.lines) else pd.Series()

    def with_first_month(rows: pd.DataFrame) -> pd.DataFrame:
        return rows.assign(first_month=rows[LINE_ID].map(first_seen).astype(object).fillna(raw.month).astype("str"))

    return _valid_rows(frame, _failures([parse_failures, failures]), LineValid, with_first_month)


# --- every month -----------------------------------------------------------------------------


MAX_SHOWN_VALUE = 1_000  # characters of a rejected cell shown in rejected.xlsx


def shown_value(text: str) -> str:
    """A rejected cell as shown: as typed, or its start and its length when it is very long."""
    if len(text) <= MAX_SHOWN_VALUE:
        return text
    return f"{text[:MAX_SHOWN_VALUE]}… ({len(text):,} characters)"


def rejected_rows(raw: RawSheet, failures: pd.DataFrame) -> pd.DataFrame:
    """One rejected row per failing (row, column): the cell as typed and every reason, joined."""
    if failures.empty:
        return rejected_rows_empty()
    unique = failures.drop_duplicates()
    grouped = unique.groupby(["index", "column"], sort=False)["reason"]
    joined = grouped.ngroups < len(unique)  # a cell failing several rules: one row, reasons joined
    cells = grouped.agg("; ".join).reset_index() if joined else unique.reset_index(drop=True)
    positions = raw.frame.index.get_indexer(pd.Index(cells["index"]))
    written = dict(raw.headers)
    values = [""] * len(cells)
    for column, rows in cells.groupby("column", sort=False).indices.items():
        if column in raw.frame.columns:
            typed = raw.typed.get(str(column), raw.frame[column])  # as typed, before a layout's value map
            for row, cell in zip(rows, typed.to_numpy()[positions[rows]], strict=True):
                values[row] = shown_value(cell_text(cell))
    rejected = pd.DataFrame(
        {
            "month": raw.month,
            "file": raw.file,
            "sheet": raw.sheet,
            "row": raw.frame[EXCEL_ROW].to_numpy(dtype="int64")[positions],
            "column": cells["column"].astype(str).to_numpy(),
            "column_as_written": cells["column"].astype(str).map(lambda c: written.get(c, "")).to_numpy(),
            "value": pd.Series(values, dtype="str").to_numpy(),
            "reason": cells["reason"].to_numpy(),
        }
    )
    column_order = {name: order for order, name in enumerate(raw.frame.columns)}
    return (
        rejected.assign(_order=rejected["column"].map(column_order).fillna(len(column_order)))
        .sort_values(["row", "_order"], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )


def _ids_of(raw: RawSheet, failures: pd.DataFrame, id_column: str) -> set[str]:
    ids = PARSERS["id"](raw.frame.loc[_failed_rows(failures), id_column]).values
    return set(ids.dropna())


def nothing_known() -> Known:
    """The state before the first month: no rows, no rejected ids."""
    return Known(History(_empty(PolicyValid), _empty(ClaimValid), _empty(LineValid)))


def known_after(months: Sequence[MonthValidated]) -> Known:
    """What is known at the end of the last of ``months`` (every month so far, in order)."""
    return Known(
        combined(months).history,
        frozenset().union(*(month.rejected_policies for month in months)),
        frozenset().union(*(month.rejected_claims for month in months)),
    )


def validate_month(month: str, sheets: Iterable[RawSheet], known: Known, book: ProductBook) -> MonthValidated:
    """Validate the sheets of one month as at that month, against what is ``known`` by then:
    policies first, then claims against the policies in force, then lines against the claims."""
    by_name = {raw.sheet: raw for raw in sheets}
    history = known.history
    rejected: list[pd.DataFrame] = []
    counts: list[dict[str, object]] = []
    failed_ids: dict[str, set[str]] = {"policies": set(), "claims": set()}
    added = {"policies": _empty(PolicyValid), "claims": _empty(ClaimValid), "lines": _empty(LineValid)}

    def record(raw: RawSheet, result: SheetResult, id_column: str) -> pd.DataFrame:
        rejected.append(rejected_rows(raw, result.failures))
        counts.append(
            {
                "month": raw.month,
                "file": raw.file,
                "sheet": raw.sheet,
                "rows_read": raw.rows_read,
                "rows_processed": len(result.valid),
                "rows_rejected": len(_failed_rows(result.failures)),
            }
        )
        if raw.sheet in failed_ids:
            failed_ids[raw.sheet] |= _ids_of(raw, result.failures, id_column)
        added[raw.sheet] = result.valid
        return result.valid

    raw = by_name.get("policies")
    if raw is not None:
        valid = record(raw, validated_policies(raw, history, book), POLICY_ID)
        history = History(_appended(history.policies, valid), history.claims, history.lines)
    policies = latest_versions(history.policies, POLICY_ID, month)
    raw = by_name.get("claims")
    if raw is not None:
        result = validated_claims(raw, history, policies, set(known.rejected_policies | failed_ids["policies"]), book)
        history = History(history.policies, _appended(history.claims, record(raw, result, CLAIM_ID)), history.lines)
    claims = latest_versions(history.claims, CLAIM_ID, month)
    raw = by_name.get("lines")
    if raw is not None:
        rejected_claims = set(known.rejected_claims | failed_ids["claims"])
        record(raw, validated_lines(raw, history, claims, policies, rejected_claims, book), LINE_ID)
    return MonthValidated(
        month=month,
        policies=added["policies"],
        claims=added["claims"],
        lines=added["lines"],
        rejected=pd.concat(rejected, ignore_index=True) if rejected else rejected_rows_empty(),
        counts=counts,
        rejected_policies=frozenset(failed_ids["policies"]),
        rejected_claims=frozenset(failed_ids["claims"]),
    )


def validate_months(
    months: Sequence[str],
    sheets: Mapping[str, Sequence[RawSheet]],
    done: Mapping[str, MonthValidated],
    book: ProductBook,
) -> list[MonthValidated]:
    """Every month in order: the outcome in ``done`` (from the parse cache) where there is one, else
    the month's ``sheets`` validated against what the earlier months made known."""
    results: list[MonthValidated] = []
    for month in months:
        result = done.get(month)
        if result is None:
            result = validate_month(month, sheets.get(month, ()), known_after(results), book)
        results.append(result)
    return results


def _stacked(frames: list[pd.DataFrame], model: type[pa.DataFrameModel]) -> pd.DataFrame:
    """The frames one under the other, as :func:`_appended` month by month would give them."""
    given = [frame for frame in frames if not frame.empty]
    if not given:
        return _empty(model)
    return pd.concat(given, ignore_index=True) if len(given) > 1 else given[0].reset_index(drop=True)


def combined(months: Sequence[MonthValidated]) -> Validated:
    """The history, rejected rows and counts of every month, in month order."""
    history = History(
        _stacked([month.policies for month in months], PolicyValid),
        _stacked([month.claims for month in months], ClaimValid),
        _stacked([month.lines for month in months], LineValid),
    )
    rejected = [month.rejected for month in months]
    return Validated(
        history=history,
        rejected=pd.concat(rejected, ignore_index=True) if rejected else rejected_rows_empty(),
        counts=pd.DataFrame([row for month in months for row in month.counts], columns=COUNT_COLUMNS),
    )


def validate_bordereaux(bordereaux: Bordereaux, book: ProductBook) -> Validated:
    """Validate every month in order; each row once, as at its own month, against what is known by
    then. Returns the history of valid rows, the rejected rows and the counts per sheet."""
    sheets = {month: [s for s in bordereaux.sheets if s.month == month] for month in bordereaux.months}
    return combined(validate_months(bordereaux.months, sheets, {}, book))


def rejected_rows_empty() -> pd.DataFrame:
    return pd.DataFrame({column: pd.Series(dtype="str") for column in REJECTED_COLUMNS}).astype({"row": "int64"})


def _appended(history: pd.DataFrame, valid: pd.DataFrame) -> pd.DataFrame:
    if valid.empty:
        return history
    if history.empty:
        return valid.reset_index(drop=True)
    return pd.concat([history, valid], ignore_index=True)


def reconciliation(counts: pd.DataFrame, rejected: pd.DataFrame) -> pd.DataFrame:
    """Rows read = rows processed + rows rejected, per sheet of every month, with a total row
    (DATA_CONTRACT.md § Values people really type). Raises if the invariant does not hold: a row
    was lost or counted twice, which is a bug, never bad input."""
    table = counts[COUNT_COLUMNS].reset_index(drop=True)
    unbalanced = table[table["rows_read"] != table["rows_processed"] + table["rows_rejected"]]
    rejected_per_sheet = rejected.drop_duplicates(["month", "file", "sheet", "row"]).groupby(["file", "sheet"]).size()
    counted = table.set_index(["file", "sheet"])["rows_rejected"]
    mismatch = counted[counted != rejected_per_sheet.reindex(counted.index, fill_value=0)]
    if len(unbalanced) or len(mismatch) or rejected_per_sheet.sum() != counted.sum():
        raise RuntimeError(
            f"reconciliation failed: rows read != processed + rejected for {unbalanced.to_dict('records')}, "
            f"rejected counts differ from rejected rows for {list(mismatch.index)}"
        )
    total = {"month": "total", "file": "", "sheet": "", **table[COUNT_COLUMNS[3:]].sum().astype("int64").to_dict()}
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)
