"""Properties of the waterfall on random books of portfolios (CALCULATION.md § Claims).

Each example is a book of several independent portfolios (tests/property/strategies.py): about
3,500 portfolios in all across the tests below, about 80 to 110 seconds of test time on this
2-core machine (2026-12-06, night: the books taken without running every check of their schemas,
``Book.frames``; pipeline/bench/MEASUREMENTS.md § Tests). Runs are reproducible:
``derandomize=True`` and no example database, so CI sees the same examples on every run.
"""

from __future__ import annotations

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st

from pipeline.arrow_text import labels_as_text
from pipeline.stages.coverage import combined_caps
from pipeline.stages.waterfall import STEP_COLUMNS, adjudicated_lines
from tests.property.strategies import MONTHS, PRODUCTS, Book, books, reproducible
from tests.reference import reference_lines

COLUMNS = ["line_id", "reason", *STEP_COLUMNS, "adjustments"]
LABEL_COLUMNS = ["product", "plan", "part", "reason", "adjustments"]


@reproducible(220)
@given(books(max_portfolios=12))
def test_engine_equals_reference_and_leaves_inputs_alone(book: Book) -> None:
    frames = book.frames()
    copies = [frame.copy() for frame in frames]
    engine = adjudicated_lines(*frames, PRODUCTS)
    for before, after in zip(copies, frames, strict=True):
        pd.testing.assert_frame_equal(before, after)
    reference = reference_lines(*frames, PRODUCTS)
    pd.testing.assert_frame_equal(
        labels_as_text(engine[COLUMNS]).reset_index(drop=True),
        reference[COLUMNS],
        check_dtype=False,
        check_index_type=False,
    )
    assert engine.index.equals(frames[0].index)
    for column in STEP_COLUMNS:
        assert engine[column].dtype == "int64"
    for column in LABEL_COLUMNS:
        assert isinstance(engine[column].dtype, pd.CategoricalDtype)


def _total_within(lines: pd.DataFrame, keys: list[str], limit: str) -> None:
    """Each group's total payable within the ``limit`` of every line of the group (the limit is the
    group's: its policy's, item's or product's). Summed with ``transform``, a sixth of the time of
    a named ``agg`` on these small frames, nine calls an example."""
    if lines.empty:
        return
    assert lines[limit].notna().all(), lines[lines[limit].isna()]
    total = lines.groupby(keys, dropna=False, sort=False)["payable"].transform("sum")
    over = total > lines[limit]
    assert not over.any(), lines.assign(total=total)[over]


@reproducible(170)
@given(books(max_portfolios=12))
def test_payable_within_amount_and_every_limit(book: Book) -> None:
    lines, claims, policies = book.frames()
    result = adjudicated_lines(lines, claims, policies, PRODUCTS)
    steps = result[["amount", *STEP_COLUMNS]]
    for earlier, later in zip(steps.columns[:-1], steps.columns[1:], strict=True):
        assert (steps[later] <= steps[earlier]).all() and (steps[later] >= 0).all()
    assert (result.loc[result["part"].eq(""), "payable"] == 0).all()

    terms = policies.set_index("policy_id")
    paid = result.join(claims.set_index("claim_id")[[]], on="claim_id").assign(
        liability_limit=result["policy_id"].map(terms["liability_limit"]),
        expense_limit=result["policy_id"].map(terms["expense_limit"]),
        sublimit=result["item"].map({i["item"]: i.get("sublimit") for i in _cyber_items()}),
        combined=result["product"].map({"leak_lite": 100_000_000}),
    )
    liability = paid[paid["part"].eq("liability") & paid["product"].eq("cyber_security")]
    _total_within(liability, ["claim_id"], "liability_limit")
    _total_within(liability, ["policy_id"], "liability_limit")
    expense = paid[paid["part"].eq("expense") & paid["product"].eq("cyber_security")]
    _total_within(expense, ["policy_id", "series"], "expense_limit")
    _total_within(expense, ["policy_id"], "expense_limit")
    sublimited = paid[paid["product"].eq("cyber_security") & paid["sublimit"].notna()]
    _total_within(sublimited, ["claim_id", "item"], "sublimit")
    _total_within(sublimited, ["policy_id", "item"], "sublimit")
    lite = paid[paid["product"].eq("leak_lite") & paid["part"].ne("")]
    _total_within(lite[lite["part"].eq("liability")], ["policy_id"], "liability_limit")
    _total_within(lite[lite["part"].eq("expense")], ["claim_id"], "expense_limit")
    _total_within(lite, ["policy_id"], "combined")


def _cyber_items() -> list[dict]:
    return list(PRODUCTS.products["cyber_security"].coverage["items"])


def _policy_totals(result: pd.DataFrame) -> pd.DataFrame:
    in_part = result[result["part"].ne("")]
    return in_part.pivot_table(index="policy_id", columns="part", values="payable", aggfunc="sum", fill_value=0).assign(
        total=lambda t: t.sum(axis=1)
    )


@reproducible(110)
@given(books(max_portfolios=5))
def test_raising_limits_or_lowering_deductibles_never_lowers_what_a_policy_pays(book: Book) -> None:
    """Per policy, the total payable never falls when every limit is doubled, or when every
    deductible is cut to 0; nor do payable liability and expense, on a policy whose product has no
    combined cap. (Per line this need not hold: with a lower deductible an earlier line may take
    more of a shared limit, leaving less to a later line. Under a combined cap the two parts share
    one limit in global order, so the same holds between the parts: a liability line that now
    takes more of the cap leaves less to a later expense line, the total staying at the cap.)"""
    lines, claims, policies = book.frames()
    before = _policy_totals(adjudicated_lines(lines, claims, policies, PRODUCTS))
    capped = policies.loc[policies["product"].isin(list(combined_caps(PRODUCTS))), "policy_id"]
    raised = policies.assign(
        liability_limit=2 * policies["liability_limit"], expense_limit=2 * policies["expense_limit"]
    )
    no_deductible = policies.assign(liability_deductible=0, expense_deductible=0)
    for changed in (raised, no_deductible):
        after = _policy_totals(adjudicated_lines(lines, claims, changed, PRODUCTS)).reindex_like(before).fillna(0)
        assert (after["total"] >= before["total"]).all(), (before, after)
        uncapped = ~before.index.isin(capped)
        assert (after[uncapped] >= before[uncapped]).all().all(), (before, after)


@reproducible(120)
@given(books(max_portfolios=5), st.sampled_from(MONTHS[:-1]))
def test_a_later_months_lines_never_change_an_earlier_months_payable(book: Book, month: str) -> None:
    """As at a month, the lines known then keep the payable they have once later lines join the
    queue (CALCULATION.md § Order)."""
    lines, claims, policies = book.frames()
    final = adjudicated_lines(lines, claims, policies, PRODUCTS).set_index("line_id")["payable"]
    earlier = lines[lines["first_month"] <= month]
    then = adjudicated_lines(earlier, claims, policies, PRODUCTS).set_index("line_id")["payable"]
    pd.testing.assert_series_equal(then, final.loc[then.index])
