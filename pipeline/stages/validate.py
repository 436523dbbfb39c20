"""Parse and validate the raw sheets of every month, in month order (DATA_CONTRACT.md § Values people
really type, § Validation details; CALCULATION.md § Time).

For each month: policies, then claims (against the policies in force as at that month), then lines
(against the claims in force as at that month). A row is validated once, as at its own month:

1. parse every cell (pipeline.parse); a bad cell is a failure of its column, and other checks on
   that cell are not reported (the parse reason says what was expected);
2. check the parsed sheet lazily with pandera: the ``*Parsed`` model of ``schemas/`` plus the rules
   of ``schemas`` that read one row and the product data (``row_checked``: steps 1 and 2 need
   nothing but the sheet, so they run where the sheet is read, on a Dask worker with
   ``--engine dask``), then the cross-row and cross-table rules below, and map ``failure_cases``
   back to Excel rows;
3. the rows with no failure are completed (defaults, fixed terms) and checked against the
   ``*Valid`` model; they join the history. Every other row is rejected, one rejected row per
   failing column: ``month, file, sheet, row, column, value, reason``.

Cross-table rules (as at the row's month): a claim's policy and a line's claim must be in force
(a reference to a rejected row says so), a claim's exclusion code and a line's item must fit the
product of the policy in force; an id twice in one file rejects every copy; a series stays
on one policy; and a restatement may not break rows already on file: a policy may not change product
under claims or lines its new product does not allow, and a claim may not move to a policy whose
product lacks its lines' items, nor drop ``claim_made_date`` under liability lines. Those rows on
file were validated once and stay valid in every later as-at view (pipeline.stages.versions).

The rules run through pandera and come back as people's reasons, and failures become rejected rows,
in ``pipeline.stages.rejections``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache, partial

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow.compute as pc

from pipeline.arrow_text import (
    arrow_strings,
    column_taken,
    contiguous_text,
    label_text,
    mapped,
    positions,
    take_text,
    text_as_labels,
)
from pipeline.calendar import month_end
from pipeline.parse import PARSERS, Parsed, carried_columns, parse_date, parsed_arrow
from pipeline.products import ProductBook
from pipeline.stages.rejections import failure_frame, failures_of, rejected_rows, rejected_rows_empty, rule_failures
from pipeline.stages.versions import CLAIM_ID, LINE_ID, POLICY_ID, History
from pipeline.tables import EXCEL_ROW, MonthValidated, RawSheet, RowChecked
from schemas.claims import (
    CLAIM_KINDS,
    ClaimParsed,
    ClaimValid,
    claim_restatement_rules,
    claim_rules,
    exclusion_rules,
    series_rule,
)
from schemas.common import Rule, duplicate_id_rule, known_id_rules
from schemas.lines import (
    CONDOLENCE_ITEM,
    DEFAULT_SPENT_IN,
    LINE_KINDS,
    VICTIM_COLUMNS,
    LineParsed,
    LineValid,
    item_rules,
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

COUNT_COLUMNS = ["month", "file", "sheet", "rows_read", "rows_processed", "rows_rejected"]


@dataclass(frozen=True)
class Validated:
    """The valid history of every month, the rejected rows and the per-sheet counts."""

    history: History
    rejected: pd.DataFrame
    counts: pd.DataFrame


@dataclass(frozen=True)
class Known:
    """What was validly known at the end of a month: the latest valid version of each policy, claim
    and line so far, in the columns the cross-row rules read (``KNOWN_COLUMNS``), and the ids
    rejected so far (a claim of a rejected policy, a line of a rejected claim, says so)."""

    policies: pd.DataFrame
    claims: pd.DataFrame
    lines: pd.DataFrame
    rejected_policies: frozenset[str] = frozenset()
    rejected_claims: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SheetResult:
    """One sheet of one month: its valid rows (as the table's Valid model) and its failures."""

    valid: pd.DataFrame
    failures: pd.DataFrame  # FAILURE_COLUMNS, index = row label in the raw frame
    # lines: each valid row's position among the lines on file (-1 for a new line), looked up once
    # for its first month and for what is known after the month (in_force_after's restated rows)
    on_file_at: np.ndarray | None = None


# --- parsing (pandera's failures and the rejected rows: pipeline.stages.rejections) ---------------


def parsed_sheet(raw: RawSheet, kinds: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sheet with every column parsed to its type, provenance added, unknown columns carried
    (numbers as numbers, anything else as text), and the parse failures."""
    columns: dict[str, pd.Series] = {}
    failures = []
    for column, kind in kinds.items():
        arrow = raw.arrow.get(column)
        plain = parsed_arrow(kind, arrow, raw.index) if arrow is not None else None
        values, errors = plain if plain is not None else _parser(kind, raw)(raw.frame[column])
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
    parsed = pd.DataFrame({**provenance, **columns}, index=index)
    if raw.extra_columns:
        parsed = pd.concat([parsed, carried_columns(raw.frame[list(raw.extra_columns)])], axis=1)
    return parsed, failures_of(failures)


def _parser(kind: str, raw: RawSheet) -> Callable[[pd.Series], Parsed]:
    """The parser of ``kind`` for this sheet: with its cover-holder's extra date spellings and
    thousands separator (LAYOUTS.md [formats]) where its layout gives them."""
    if kind == "date" and raw.date_formats:
        return partial(parse_date, formats=raw.date_formats)
    if kind in ("yen", "integer") and raw.thousands_separator != ",":
        return partial(PARSERS[kind], thousands_separator=raw.thousands_separator)  # type: ignore[call-arg]
    return PARSERS[kind]


def _without_parse_failures(failures: pd.DataFrame, parse_failures: pd.DataFrame) -> pd.DataFrame:
    """Drop rule failures on cells that already failed parsing (the parse reason says it all)."""
    if failures.empty or parse_failures.empty:
        return failures
    parsed_bad = pd.MultiIndex.from_frame(parse_failures[["index", "column"]])
    keep = ~pd.MultiIndex.from_frame(failures[["index", "column"]]).isin(parsed_bad)
    return failures[keep]


def _failed_rows(failures: pd.DataFrame) -> pd.Index:
    return pd.Index(failures["index"].unique())


def _without_failed_rows(frame: pd.DataFrame, failures: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without the rows that have a failure; ``frame`` itself when none has (dropping no
    row still takes every column anew, and a sheet may have 16,000 carried columns)."""
    failed = _failed_rows(failures)
    return frame.drop(index=failed) if len(failed) else frame


def _valid_rows(
    frame: pd.DataFrame,
    failures: pd.DataFrame,
    valid_model: type[pa.DataFrameModel],
    complete: Callable[[pd.DataFrame], pd.DataFrame],
) -> SheetResult:
    """Complete the rows with no failure and check them against the table's Valid model (a row
    that fails it, which the rules should have caught, is rejected like any other)."""
    candidates = complete(_without_failed_rows(frame, failures))
    try:
        return SheetResult(valid=valid_model.validate(candidates, lazy=True), failures=failures)
    except pa.errors.SchemaErrors as errors:
        final = failure_frame(errors)
    valid = valid_model.validate(candidates.drop(index=_failed_rows(final)))
    return SheetResult(valid=valid, failures=failures_of([failures, final]))


@cache
def _empty_valid(model: type[pa.DataFrameModel]) -> pd.DataFrame:
    columns = {}
    for name, column in model.to_schema().columns.items():
        dtype = str(column.dtype)
        columns[name] = pd.Series(dtype="str" if "string" in dtype or dtype == "str" else dtype)
    return model.validate(pd.DataFrame(columns))


def _empty(model: type[pa.DataFrameModel]) -> pd.DataFrame:
    return _empty_valid(model).copy()


# --- one sheet, one row at a time (where the sheet is read) -------------------------------------


def row_checked(raw: RawSheet, book: ProductBook) -> RowChecked:
    """Every check of a policies, claims or lines sheet that reads one row and the product data
    only: parse every cell, apply the line defaults, check the table's ``*Parsed`` model and its row
    rules (failures on cells that failed parsing dropped). Needs nothing known from other sheets or
    months, so the engines run it where the sheet is read (``pipeline.engine``)."""
    model: type[pa.DataFrameModel]
    if raw.sheet == "policies":
        frame, parse_failures = parsed_sheet(raw, POLICY_KINDS)
        model, rules = PolicyParsed, policy_rules(frame, book)
    elif raw.sheet == "claims":
        frame, parse_failures = parsed_sheet(raw, CLAIM_KINDS)
        frame = frame.assign(evidence=frame["evidence"].fillna(""))
        model, rules = ClaimParsed, claim_rules(frame, month_end=month_end(raw.month), book=book)
    elif raw.sheet == "lines":
        frame, parse_failures = _with_line_defaults(*parsed_sheet(raw, LINE_KINDS))
        model, rules = LineParsed, line_rules(frame, month_end=month_end(raw.month))
    else:
        raise ValueError(f"no validation for a sheet named {raw.sheet!r}")
    row_failures = _without_parse_failures(rule_failures(frame, model, rules), parse_failures)
    return RowChecked(raw=raw, frame=frame, parse_failures=parse_failures, row_failures=row_failures)


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


def _all_failures(sheet: RowChecked, cross_row_rules: list[Rule]) -> pd.DataFrame:
    """The sheet's parse and row failures, then those of ``cross_row_rules`` on the cells that parsed.
    pandera reports a column's checks in order (the model's, then the rules as given), so a cell
    failing several checks lists its reasons as one check of the model and every rule would."""
    cross_row = _without_parse_failures(rule_failures(sheet.frame, None, cross_row_rules), sheet.parse_failures)
    return failures_of([sheet.parse_failures, sheet.row_failures, cross_row])


# --- one sheet of one month, against what is known (in the run's process) ------------------------


@dataclass(frozen=True)
class OnFile:
    """The claims and lines already on file when a month's sheets are validated: the latest version
    of each as at that month, before the month's own claims and lines join, with only the columns
    the cross-row rules read (``ON_FILE_COLUMNS``)."""

    claims: pd.DataFrame
    lines: pd.DataFrame


ON_FILE_COLUMNS = {
    "claims": [CLAIM_ID, POLICY_ID, "exclusion_code", "series_id"],
    "lines": [LINE_ID, CLAIM_ID, "item", "first_month"],
}
IN_FORCE_COLUMNS = {"policies": [POLICY_ID, "product"], "claims": [CLAIM_ID, POLICY_ID, "claim_made_date"]}
"""The columns of the policies and claims in force that the claims and lines sheets are checked against."""
KNOWN_COLUMNS = {
    "policies": IN_FORCE_COLUMNS["policies"],
    "claims": [*ON_FILE_COLUMNS["claims"], "claim_made_date"],
    "lines": ON_FILE_COLUMNS["lines"],
}
"""The columns of the latest versions that ``Known`` keeps from month to month."""
KNOWN_LINE_LABELS = ("item", "first_month")
"""The known lines' columns of a few values, kept as categoricals (``text_as_labels``): what is known
holds the latest version of every line of the book, and each month's update copies it (at 5M lines
the item and first month as text were about half of its 349 MB)."""


def in_force_after(
    in_force: pd.DataFrame,
    added: pd.DataFrame,
    id_column: str,
    labels: Sequence[str] = (),
    added_at: np.ndarray | None = None,
) -> pd.DataFrame:
    """The latest version of each id once a month's valid rows ``added`` join the rows ``in_force``
    before it (the latest version of each id so far), in ``in_force``'s columns: an id ``added``
    restates leaves its place for its new row. The rows stay in the order of their latest version
    (month, then Excel row), as ``pipeline.stages.versions.latest_versions`` gives them from the
    whole history: one pass per month instead of the whole history again every month. The columns
    ``labels`` are categoricals (``text_as_labels``), their categories the union of both sides'.
    ``added_at``: each added row's position in ``in_force`` (-1 for a new id), where the caller has
    looked it up already (every id of ``in_force`` is its latest version's: once)."""
    if added.empty:
        return in_force
    new = text_as_labels(added[list(in_force.columns)], labels)
    if in_force.empty:
        return new.reset_index(drop=True)
    if added_at is not None:
        restated = np.zeros(len(in_force), dtype=bool)
        restated[added_at[added_at >= 0]] = True
    else:
        found = pc.is_in(arrow_strings(in_force[id_column]), value_set=arrow_strings(new[id_column]))
        restated = np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)
    kept = text_as_labels(in_force[~restated], labels)  # no-op once categorical
    return pd.concat(_on_shared_categories(kept, new, labels), ignore_index=True)


def _on_shared_categories(first: pd.DataFrame, second: pd.DataFrame, labels: Sequence[str]) -> list[pd.DataFrame]:
    """Both frames with their categoricals among ``labels`` on the union of their categories
    (sorted, as ``text_as_labels`` orders them), so that they concatenate as categoricals."""
    shared = {
        column: first[column].cat.categories.union(second[column].cat.categories)
        for column in labels
        if isinstance(first[column].dtype, pd.CategoricalDtype)
        and isinstance(second[column].dtype, pd.CategoricalDtype)
    }
    return [
        frame.assign(**{c: frame[c].cat.set_categories(on) for c, on in shared.items()}) for frame in (first, second)
    ]


def on_file_of(known: Known) -> OnFile:
    """What is on file when a month's sheets are validated: the claims and lines ``known`` at the
    end of the month before."""
    return OnFile(claims=known.claims[ON_FILE_COLUMNS["claims"]], lines=known.lines[ON_FILE_COLUMNS["lines"]])


def validated_policies(sheet: RowChecked, on_file: OnFile, book: ProductBook) -> SheetResult:
    """The policies sheet of one month (DATA_CONTRACT.md § policies), row-checked."""
    frame = sheet.frame
    rules = [duplicate_id_rule(frame, POLICY_ID), product_change_rule(frame, on_file.claims, on_file.lines, book)]
    failures = _all_failures(sheet, rules)
    return _valid_rows(frame, failures, PolicyValid, lambda rows: effective_terms(rows, book))


def validated_claims(
    sheet: RowChecked, on_file: OnFile, policies: pd.DataFrame, rejected_policies: set[str], book: ProductBook
) -> SheetResult:
    """The claims sheet of one month, row-checked, against the ``policies`` in force as at that month."""
    frame, month = sheet.frame, sheet.raw.month
    # each claim's policy looked up once among those in force: its product (empty when none)
    product = mapped(frame[POLICY_ID], policies.set_index(POLICY_ID)["product"])
    rules = [
        *exclusion_rules(frame, product, book),
        duplicate_id_rule(frame, CLAIM_ID),
        *known_id_rules(frame, POLICY_ID, product.notna(), rejected_policies, "policy", month),
        *claim_restatement_rules(frame, on_file.lines, product, book),
    ]
    failures = _all_failures(sheet, rules)
    passing = _without_failed_rows(frame, failures)
    series = rule_failures(passing, None, [series_rule(passing, on_file.claims)])
    return _valid_rows(frame, failures_of([failures, series]), ClaimValid, lambda rows: rows)


def validated_lines(
    sheet: RowChecked,
    on_file: OnFile,
    claims: pd.DataFrame,
    policies: pd.DataFrame,
    rejected_claims: set[str],
    book: ProductBook,
) -> SheetResult:
    """The lines sheet of one month, row-checked, against the ``claims`` (and their ``policies``) in
    force then."""
    frame, month = sheet.frame, sheet.raw.month
    claim_terms = line_claim_terms(frame, claims, policies)
    rules = [
        *item_rules(frame, claim_terms, book),
        duplicate_id_rule(frame, LINE_ID),
        *known_id_rules(frame, CLAIM_ID, claim_terms["claim_known"], rejected_claims, "claim", month),
    ]
    failures = _all_failures(sheet, rules)
    first_months = on_file.lines["first_month"]  # every version carries its line's first month
    on_file_at = pd.Series(positions(frame[LINE_ID], on_file.lines[LINE_ID]), index=frame.index)

    def with_first_month(rows: pd.DataFrame) -> pd.DataFrame:
        at = on_file_at.loc[rows.index].to_numpy()
        first = label_text(column_taken(first_months, at, rows.index))  # known as a categorical
        return rows.assign(first_month=first.fillna(month).astype("str"))

    result = _valid_rows(frame, failures, LineValid, with_first_month)
    return replace(result, on_file_at=on_file_at.loc[result.valid.index].to_numpy())


def line_claim_terms(lines: pd.DataFrame, claims: pd.DataFrame, policies: pd.DataFrame) -> pd.DataFrame:
    """Per line (``lines``' index), what the rules need of its claim among the ``claims`` in force,
    each line's claim looked up once: ``claim_known``, its policy's ``product`` (among the
    ``policies`` in force; empty when the claim is unknown) and ``has_claim_made_date`` (True when
    the claim is unknown: that is the rule of ``claim_known``)."""
    where = positions(lines[CLAIM_ID], claims[CLAIM_ID])
    policy = take_text(claims[POLICY_ID], where, lines.index)
    has_date = np.append(claims["claim_made_date"].notna().to_numpy(dtype=bool), True)[where]
    return pd.DataFrame(
        {
            "claim_known": where >= 0,
            "product": take_text(policies["product"], positions(policy, policies[POLICY_ID]), lines.index),
            "has_claim_made_date": has_date,
        },
        index=lines.index,
    )


# --- every month -----------------------------------------------------------------------------


def _ids_of(raw: RawSheet, failures: pd.DataFrame, id_column: str) -> set[str]:
    ids = PARSERS["id"](raw.rows_at(raw.index.get_indexer(_failed_rows(failures)))[id_column]).values
    return set(ids.dropna())


def nothing_known() -> Known:
    """The state before the first month: no rows, no rejected ids."""
    return Known(
        _empty(PolicyValid)[KNOWN_COLUMNS["policies"]],
        _empty(ClaimValid)[KNOWN_COLUMNS["claims"]],
        _empty(LineValid)[KNOWN_COLUMNS["lines"]],
    )


def known_after(
    known: Known,
    month: MonthValidated,
    policies: pd.DataFrame | None = None,
    claims: pd.DataFrame | None = None,
    lines_at: np.ndarray | None = None,
) -> Known:
    """What is known at the end of ``month``, given what was ``known`` before it: the latest
    versions updated with its valid rows (:func:`in_force_after`; ``policies`` and ``claims`` where
    the caller has them already, and the month's lines' positions among those known, ``lines_at``,
    where it has looked them up) and its rejected ids added."""
    return Known(
        policies if policies is not None else in_force_after(known.policies, month.policies, POLICY_ID),
        claims if claims is not None else in_force_after(known.claims, month.claims, CLAIM_ID),
        in_force_after(known.lines, month.lines, LINE_ID, KNOWN_LINE_LABELS, lines_at),
        known.rejected_policies | month.rejected_policies,
        known.rejected_claims | month.rejected_claims,
    )


def sheets_by_name(sheets: Iterable[RowChecked]) -> dict[str, RowChecked]:
    """A month's row-checked sheets by name, as ``validate_month`` takes them (a month has one sheet
    of each name: ``pipeline.io.find.find_bordereaux`` stops a run given one twice)."""
    return {sheet.raw.sheet: sheet for sheet in sheets}


def validate_month(
    month: str, sheets: Iterable[RowChecked], known: Known, book: ProductBook
) -> tuple[MonthValidated, Known]:
    """Validate the row-checked sheets of one month (``row_checked``) as at that month, against what
    is ``known`` by then: policies first, then claims against the policies in force, then lines
    against the claims. Returns the month's outcome and what is known at its end (as
    :func:`known_after` would find it: the policies and claims in force are computed once, for the
    month's own checks and for the next month)."""
    by_name = sheets_by_name(sheets)
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

    on_file = on_file_of(known)
    sheet = by_name.get("policies")
    if sheet is not None:
        record(sheet.raw, validated_policies(sheet, on_file, book), POLICY_ID)
    policies_known = in_force_after(known.policies, added["policies"], POLICY_ID)
    policies = policies_known[IN_FORCE_COLUMNS["policies"]]
    sheet = by_name.get("claims")
    if sheet is not None:
        rejected_policies = set(known.rejected_policies | failed_ids["policies"])
        record(sheet.raw, validated_claims(sheet, on_file, policies, rejected_policies, book), CLAIM_ID)
    claims_known = in_force_after(known.claims, added["claims"], CLAIM_ID)
    claims = claims_known[IN_FORCE_COLUMNS["claims"]]
    sheet = by_name.get("lines")
    lines_at = None  # the month's valid lines' positions among those on file
    if sheet is not None:
        rejected_claims = set(known.rejected_claims | failed_ids["claims"])
        lines = validated_lines(sheet, on_file, claims, policies, rejected_claims, book)
        record(sheet.raw, lines, LINE_ID)
        lines_at = lines.on_file_at
    outcome = MonthValidated(
        month=month,
        policies=added["policies"],
        claims=added["claims"],
        lines=added["lines"],
        rejected=pd.concat(rejected, ignore_index=True) if rejected else rejected_rows_empty(),
        counts=counts,
        rejected_policies=frozenset(failed_ids["policies"]),
        rejected_claims=frozenset(failed_ids["claims"]),
    )
    return outcome, known_after(known, outcome, policies_known, claims_known, lines_at)


MonthValidation = Callable[[str, Sequence[RowChecked], Known, ProductBook], tuple[MonthValidated, Known]]
"""``validate_month``, or an engine's way of giving its result (the Dask engine's: in parts)."""


def validate_months(
    months: Sequence[str],
    sheets: Iterable[tuple[str, Sequence[RowChecked]]],
    done: Mapping[str, MonthValidated],
    book: ProductBook,
    validate: MonthValidation = validate_month,
    kept: Callable[[MonthValidated], MonthValidated] | None = None,
) -> list[MonthValidated]:
    """Every month in order: the outcome in ``done`` (from the parse cache) where there is one, else
    the month's row-checked sheets validated against what the earlier months made known
    (``validate``: ``validate_month``, or the engine's). ``sheets`` gives the other months in
    order, each with its sheets (a month it does not give has none), and is taken one month at a
    time: each month is validated as soon as it comes, while the engine still reads the later ones
    (``pipeline.engine.months_as_read``). ``kept`` gives what is kept of each outcome once what it
    makes known is taken (a run: stored in the parse cache, marked with its cover-holder, its lines
    sent where the engine keeps them); by default the outcome itself."""
    results: list[MonthValidated] = []
    known = nothing_known()
    arriving = iter(sheets)
    for month in months:
        result = done.get(month)
        if result is None:
            given, month_sheets = next(arriving, (month, ()))
            if given != month:
                raise ValueError(f"the sheets of {given} came where those of {month} were expected")
            result, known = validate(month, month_sheets, known, book)
        else:
            known = known_after(known, result)
        results.append(kept(result) if kept else result)
    return results


PROVENANCE_LABELS = ("coverholder", "source_file", "source_sheet")
"""The history's text columns of a few values on every row (where each row came from), kept as
categoricals (``text_as_labels``); ``bordereau_month``, compared with months, stays text."""
CODE_LABELS = {
    "policies": ("product", "premium_basis", "plan", "payment_method", "industry"),
    "claims": ("event_type", "claim_jurisdiction", "evidence", "exclusion_code"),
    "lines": (),
}
"""The history's policies' and claims' columns of a few codes (and the industry, free text of a few
values), kept as categoricals too: the run's process holds every version of every policy and claim,
and the views as at M and M−1 taken from them, to its end (at 1.7M policies their codes as text were
170 MB of the history's 709 MB, as categoricals 9 MB). The lines' codes stay text: the Dask engine
keeps the lines on its workers as each month was validated, and both engines' lines have the same
dtypes."""


def _stacked(frames: list[pd.DataFrame], model: type[pa.DataFrameModel], table: str) -> pd.DataFrame:
    """The frames one under the other (the months' valid rows in month order: the history), the
    columns that say where each row came from and the ``table``'s codes as categoricals
    (``PROVENANCE_LABELS``, ``CODE_LABELS``) and each other text column one contiguous array
    (``contiguous_text``: every view of every month is taken from the history by position)."""
    given = [frame for frame in frames if not frame.empty]
    if not given:
        return _empty(model)
    stacked = pd.concat(given, ignore_index=True) if len(given) > 1 else given[0].reset_index(drop=True)
    return contiguous_text(text_as_labels(stacked, (*PROVENANCE_LABELS, *CODE_LABELS[table])))


def combined(months: Sequence[MonthValidated]) -> Validated:
    """The history, rejected rows and counts of every month, in month order."""
    history = History(
        _stacked([month.policies for month in months], PolicyValid, "policies"),
        _stacked([month.claims for month in months], ClaimValid, "claims"),
        _stacked([month.lines for month in months], LineValid, "lines"),
    )
    rejected = [month.rejected for month in months]
    return Validated(
        history=history,
        rejected=pd.concat(rejected, ignore_index=True) if rejected else rejected_rows_empty(),
        counts=pd.DataFrame([row for month in months for row in month.counts], columns=COUNT_COLUMNS),
    )


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
