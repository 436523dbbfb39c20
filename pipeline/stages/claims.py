"""Claim totals, this-month movements and the limits left: CALCULATION.md § Claim totals and § Time.

Inputs are adjudicated lines (``pipeline.stages.waterfall.adjudicated_lines``), which carry ``part``
(``liability``, ``expense``, or empty for never-paid items: those count in no total) and ``payable``.
The claims stage runs as at every bordereau month up to M: as at M and M−1 for the month's movements
(``month_movements`` of the lines as at both: ``lines_adjudicated`` here, or per part on the workers
through the engine's ``ValuedHistory.movements``), as at every earlier month
summed per claim (``each_claim_payables_as_at``, or the engine's ``ValuedHistory.earlier``), all of
them the exact payable history of the development triangle (``payable_history``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.arrow_text import among, looked_up, positions
from pipeline.products.load import ProductBook
from pipeline.stages import coverage
from pipeline.stages.codes import mapped_once_each
from pipeline.stages.versions import InForce, MadeWhenAsked, Versions
from pipeline.stages.waterfall import LINE_COLUMNS_READ, adjudicated_lines, line_payables

PARTS_PAYABLE = {"liability": "payable_liability", "expense": "payable_expense"}
MISSING = "(none)"
"""An empty dimension in sums and breakdowns (a line of no known product in ``LineSums.per_item``;
the summary's breakdowns by policy dimensions)."""


def lines_with_movements(lines_now: pd.DataFrame, lines_before: pd.DataFrame | None) -> pd.DataFrame:
    """``lines_now`` with ``payable_this_month`` = payable as at M − payable as at M−1 of the same
    ``line_id`` (a line absent at M−1, or no run at M−1, counts 0). Rows, order and index kept."""
    if lines_before is None:
        return lines_now.assign(payable_this_month=lines_now["payable"].astype("int64"))
    payable_before = looked_up(lines_now["line_id"], _payable_by(lines_before, "line_id"), 0)
    return lines_now.assign(payable_this_month=(lines_now["payable"] - payable_before).astype("int64"))


def _payable_by(lines: pd.DataFrame, key: str) -> pd.Series:
    """``payable`` of ``lines`` (int64) indexed by ``key`` (summed if a key repeats), summed on the
    keys' integer codes (``np.add.at``), not grouped on their text."""
    keys, uniques = pd.factorize(lines[key])
    total = _summed(keys, len(uniques), lines["payable"].to_numpy(dtype=np.int64), keys >= 0)
    return pd.Series(total, index=pd.Index(uniques, name=key), dtype="int64")


def _summed(keys: np.ndarray, size: int, payable: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``payable`` of the ``rows`` (a mask) summed per key code, ``size`` codes (``np.add.at``:
    exact int64)."""
    total = np.zeros(size, dtype=np.int64)
    np.add.at(total, keys[rows], payable[rows])
    return total


def payable_by_part(lines: pd.DataFrame, key: str) -> pd.DataFrame:
    """Per value of ``key`` (``claim_id`` or ``policy_id``) of ``lines``: ``payable_liability``,
    ``payable_expense`` and ``payable_total`` (never-paid items, in neither part, count in none; a
    key with only such lines gets 0s). Summed on integer codes of the keys (``np.add.at``: exact
    int64), not grouped on their text."""
    keys, uniques = pd.factorize(lines[key])
    known = keys >= 0
    payable = lines["payable"].to_numpy(dtype=np.int64)
    sums = {}
    for part, column in PARTS_PAYABLE.items():
        rows = known & lines["part"].eq(part).to_numpy(dtype=bool, na_value=False)
        sums[column] = _summed(keys, len(uniques), payable, rows)
    by_part = pd.DataFrame(sums, index=pd.Index(uniques, name=key))
    return by_part.assign(payable_total=by_part[list(PARTS_PAYABLE.values())].sum(axis=1).astype("int64"))


def _on(keys: pd.Series, totals: pd.DataFrame, columns: Sequence[str]) -> dict[str, pd.Series]:
    """``totals[column]`` of each of ``keys`` for each of ``columns`` (0 where a key has no total),
    aligned with ``keys``: the keys looked up in ``totals`` once for all the columns."""
    at = positions(keys, totals.index)
    found = at >= 0
    taken = {}
    for column in columns:
        values = np.zeros(len(keys), dtype=np.int64)
        values[found] = totals[column].to_numpy(dtype=np.int64)[at[found]]
        taken[column] = pd.Series(values, index=keys.index, dtype="int64")
    return taken


def claim_totals(
    claims_now: pd.DataFrame,
    lines_now: pd.DataFrame,
    claims_before: pd.DataFrame | None = None,
    lines_before: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``claims_now`` with payable liability, expense and total to date, and ``payable_this_month`` =
    payable total as at M − as at M−1 (a claim absent at M−1 counts 0; a claim without lines gets
    0s). ``claims_before`` limits the M−1 totals to the claims known then. A ``ClaimTotals`` frame:
    ``claim_totals_of`` the lines' sums per claim."""
    before = None if lines_before is None else payable_by_part(lines_before, "claim_id")
    return claim_totals_of(claims_now, payable_by_part(lines_now, "claim_id"), claims_before, before)


def claim_totals_of(
    claims_now: pd.DataFrame,
    totals_now: pd.DataFrame,
    claims_before: pd.DataFrame | None = None,
    totals_before: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``claim_totals`` from the lines' sums per claim as at M and M−1 (``payable_by_part`` by
    ``claim_id``): what a run has of M−1 (``Movements.before``), not the lines themselves."""
    ids = claims_now["claim_id"]
    totals = _on(ids, totals_now, [*PARTS_PAYABLE.values(), "payable_total"])
    before = pd.Series(0, index=ids.index, dtype="int64")
    if totals_before is not None:
        earlier = totals_before
        if claims_before is not None:
            earlier = earlier[among(earlier.index, claims_before["claim_id"])]
        before = _on(ids, earlier, ["payable_total"])["payable_total"]
    return claims_now.assign(**totals, payable_this_month=(totals["payable_total"] - before).astype("int64"))


LINE_MEASURES = ("amount", "eligible_amount", "payable", "payable_this_month")
"""What the summary's ``by_item`` sums of the lines as at M per product and item (``LineSums.per_item``)."""
PARTS = tuple(PARTS_PAYABLE)


@dataclass(frozen=True)
class LineSums:
    """What a run's figures read of its lines as at M (``line_sums``), beside the annotated sheet:
    ``per_claim`` and ``per_policy``, the lines' payables per part (``payable_by_part`` by
    ``claim_id``, the claims in the order of their first lines, and by ``policy_id``: the claim
    totals and the limits left); ``per_item``, per product and item the lines and their
    ``LINE_MEASURES`` (the summary's ``by_item``); ``this_month_by_part``, the month's payable of
    each part (``payable_this_month`` of ``PARTS``: the KPIs' split); ``lines``, how many lines."""

    per_claim: pd.DataFrame
    per_policy: pd.DataFrame
    per_item: pd.DataFrame
    this_month_by_part: pd.Series
    lines: int


def line_sums(lines: pd.DataFrame) -> LineSums:
    """The ``LineSums`` of ``lines`` (adjudicated as at M, with ``payable_this_month``). Every sum is
    exact int64; each is a sum of the lines' own, so the sums of parts of the lines put together
    (``line_sums_together``) are the whole lines'."""
    per_item = (
        lines.assign(product=lines["product"].astype("object").fillna(MISSING))
        .groupby(["product", "item"], sort=False)
        .agg(lines=("line_id", "size"), **{measure: (measure, "sum") for measure in LINE_MEASURES})
        .reset_index()
    )
    this_month = lines["payable_this_month"].to_numpy(dtype=np.int64)
    by_part = [int(this_month[lines["part"].eq(part).to_numpy(dtype=bool, na_value=False)].sum()) for part in PARTS]
    return LineSums(
        per_claim=payable_by_part(lines, "claim_id"),
        per_policy=payable_by_part(lines, "policy_id"),
        per_item=per_item.astype({"lines": "int64", **dict.fromkeys(LINE_MEASURES, "int64")}),
        this_month_by_part=pd.Series(by_part, index=pd.Index(PARTS, name="part"), dtype="int64"),
        lines=len(lines),
    )


def line_sums_together(parts: Sequence[LineSums]) -> LineSums:
    """The ``LineSums`` of lines split into ``parts`` that each hold whole policies with every line of
    their claims (the Dask engine's parts of the history), from each part's ``line_sums``: the
    claims' and policies' rows of the parts one after another (each claim and policy in one part),
    in the parts' order; the sums per item and per part added up."""
    items = pd.concat([part.per_item for part in parts if part.lines] or [parts[0].per_item], ignore_index=True)
    per_item = items.groupby(["product", "item"], sort=False).sum().reset_index()
    return LineSums(
        per_claim=pd.concat([part.per_claim for part in parts]),
        per_policy=pd.concat([part.per_policy for part in parts]),
        per_item=per_item.astype({"lines": "int64", **dict.fromkeys(LINE_MEASURES, "int64")}),
        this_month_by_part=sum((part.this_month_by_part for part in parts[1:]), parts[0].this_month_by_part),
        lines=sum(part.lines for part in parts),
    )


@dataclass(frozen=True)
class Movements:
    """What a run keeps of its lines as at M and M−1 (``month_movements``): ``lines``, the lines as
    at M (``adjudicated_lines``) with ``payable_this_month`` (None when the engine keeps them whole
    elsewhere and writes them from there: the Dask engine's ``ValuedHistory.lines_elsewhere``);
    ``sums``, what the run's figures read of them (``line_sums``); and ``before``, the lines as at
    M−1 summed per claim (``payable_by_part`` by ``claim_id``, in the order of each claim's first
    line), or None when M−1 is not a month of the book. The lines as at M−1 themselves are read no
    more."""

    lines: pd.DataFrame | None
    sums: LineSums
    before: pd.DataFrame | None


def month_movements(lines_now: pd.DataFrame, lines_before: pd.DataFrame | None) -> Movements:
    """The lines as at M (``adjudicated_lines``) and M−1 (``line_payables``, or None) as a run keeps
    them: each line's movement (``lines_with_movements``), their sums (``line_sums``) and M−1's sums
    per claim. Every line's versions are with its claim's, so this gives on a part of the book
    holding whole policies with every version of their claims and lines the part's rows of what it
    gives on the whole book (the Dask engine runs it per part:
    ``pipeline.engine.partitioned.movements_part``)."""
    before = None if lines_before is None else payable_by_part(lines_before, "claim_id")
    lines = lines_with_movements(lines_now, lines_before)
    return Movements(lines, line_sums(lines), before)


def remaining_limits(policies: pd.DataFrame, by_policy: pd.DataFrame, products: ProductBook) -> pd.DataFrame:
    """Per policy: ``remaining_liability_limit`` = liability limit − payable liability and
    ``remaining_expense_limit`` = expense limit − payable expense (CALCULATION.md § Claim totals),
    from the lines' payables per policy as at M (``payable_by_part`` by ``policy_id``:
    ``LineSums.per_policy``; a policy without lines has paid nothing).

    A part whose limit is not per policy (``parts.<part>.limit_per`` lacks ``policy``: leak_lite's
    expense, per incident only) has an empty remaining limit. Where the product has a combined cap
    (leak_lite), the remaining liability limit is the cap − everything payable (liability + expense):
    ``100,000,000 − everything payable``. Nullable Int64.
    """
    paid_by_column = _on(policies["policy_id"], by_policy, list(PARTS_PAYABLE.values()))
    paid = {part: paid_by_column[column] for part, column in PARTS_PAYABLE.items()}
    per_policy = {
        part: mapped_once_each(
            policies["product"],
            {code: "policy" in p.definition["parts"][part]["limit_per"] for code, p in products.products.items()},
        ).eq(True)
        for part in PARTS_PAYABLE
    }
    liability = (policies["liability_limit"] - paid["liability"]).astype("Int64").where(per_policy["liability"])
    expense = (policies["expense_limit"] - paid["expense"]).astype("Int64").where(per_policy["expense"])
    cap = mapped_once_each(policies["product"], coverage.combined_caps(products)).astype("Int64")
    liability = liability.mask(cap.notna(), cap - paid["liability"] - paid["expense"])
    return pd.DataFrame(
        {
            "policy_id": policies["policy_id"],
            "remaining_liability_limit": liability.astype("Int64"),
            "remaining_expense_limit": expense.astype("Int64"),
        },
        index=policies.index,
    )


Valuations = Mapping[str, tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]]
"""Per valuation month, the lines, claims and policies in force as at that month."""
ClaimsStage = Callable[[pd.DataFrame, pd.DataFrame, pd.DataFrame, ProductBook], pd.DataFrame]
"""``adjudicated_lines`` (every column of every line), or ``line_payables`` (what the triangle reads
of an earlier month): ``(lines, claims, policies, book)`` -> the lines' rows, order and index. Both
read only ``waterfall.columns_read`` and add columns without rewriting one of the lines' (tested):
the Dask engine sends the workers the history narrowed to those columns and puts the lines' own
back itself."""


def each_claim_payables(valuations: Valuations, book: ProductBook) -> Iterator[tuple[str, pd.DataFrame]]:
    """Per valuation month in turn, its ``claim_payables`` (a row per claim, in the order of each
    claim's first line; index 0..n−1): what the triangle keeps of an earlier month, from its
    ``line_payables``. A valuation's frames are taken from ``valuations`` when its turn comes and
    its lines let go once summed, so a mapping that makes each view when asked
    (``Versions.each_as_at``) has one alive at a time."""
    for valuation in valuations:
        lines = line_payables(*valuations[valuation], book)
        yield valuation, claim_payables(valuation, lines).reset_index(drop=True)


def each_claim_payables_as_at(
    versions: Versions, months: Sequence[str], book: ProductBook
) -> Iterator[tuple[str, pd.DataFrame]]:
    """``each_claim_payables`` of the views as at each of ``months`` (the triangle's earlier months),
    each view made when its turn comes with only the lines' columns the claims engine reads, and let
    go once summed: one alive at a time."""
    return each_claim_payables(frames_in_force(versions.each_as_at(months, LINE_COLUMNS_READ)), book)


def frames_in_force(in_force: Mapping[str, InForce]) -> Valuations:
    """``in_force``'s views as the engines take them (lines, claims, policies), each taken from
    ``in_force`` only when asked for."""

    def frames(month: str) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        rows = in_force[month]
        return rows.lines, rows.claims, rows.policies

    return MadeWhenAsked(tuple(in_force), frames)


def lines_adjudicated(view: InForce, book: ProductBook, stage: ClaimsStage = adjudicated_lines) -> pd.DataFrame:
    """``stage`` of the lines of ``view`` with its claims and policies, in this process: what a run
    asks as at M (``adjudicated_lines``: every column of every line) and as at M−1 (``line_payables``:
    the movements and the totals before read no more), through the pandas engine
    (``pipeline.engine.movements_here``)."""
    return stage(view.lines, view.claims, view.policies, book)


PAYABLE_HISTORY_COLUMNS = ["claim_id", "valuation_month", "payable_total"]


def claim_payables(valuation: str, lines: pd.DataFrame) -> pd.DataFrame:
    """Per claim of ``lines``, ``payable_total`` as at ``valuation``: one valuation's rows of the
    triangle's input, from its lines (``adjudicated_lines`` or ``line_payables``: ``claim_id``,
    ``part``, ``payable``). One row per claim: a run sums a valuation's lines as they come and
    keeps this instead of them."""
    return claim_payables_of(valuation, payable_by_part(lines, "claim_id"))


def claim_payables_of(valuation: str, totals: pd.DataFrame) -> pd.DataFrame:
    """``claim_payables`` from the lines' sums per claim (``payable_by_part`` by ``claim_id``, its
    claims in the order of their first lines)."""
    return pd.DataFrame(
        {
            "claim_id": pd.Series(totals.index, dtype=totals.index.dtype),
            "valuation_month": pd.Series(valuation, index=pd.RangeIndex(len(totals)), dtype="str"),
            "payable_total": totals["payable_total"].to_numpy(dtype=np.int64),
        }
    )[PAYABLE_HISTORY_COLUMNS]


def payable_history(valuations: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Per claim, ``payable_total`` as at each valuation month (the triangle's input): the
    ``claim_payables`` of every valuation, in the order given."""
    frames = list(valuations)
    if not frames:
        return pd.DataFrame(columns=PAYABLE_HISTORY_COLUMNS)
    return pd.concat(frames, ignore_index=True)[PAYABLE_HISTORY_COLUMNS]
