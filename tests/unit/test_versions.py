"""Versions as at a month (CALCULATION.md § Time)."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.calendar import month_end, previous_month
from pipeline.io.read import read_bordereaux
from pipeline.products import load_products
from pipeline.stages.versions import History, as_at, file_order
from schemas.claims import ClaimValid
from schemas.lines import LineValid
from schemas.policies import PolicyValid
from tests import factories
from tests.helpers import validate_bordereaux
from tests.property.strategies import reproducible
from tests.unit.test_validate import CLAIM, LINE, WIDE
from tests.workbooks import write_bordereau


def test_month_arithmetic():
    assert previous_month("2026-04") == "2026-03"
    assert previous_month("2026-01") == "2025-12"
    assert month_end("2026-02") == pd.Timestamp("2026-02-28")
    assert month_end("2028-02") == pd.Timestamp("2028-02-29")


def test_latest_valid_version_wins_and_first_month_is_kept():
    history = History(
        policies=factories.policies(
            {"bordereau_month": "2026-04", "insured_name": "April"},
            {"bordereau_month": "2026-05", "policy_id": "P0001", "insured_name": "May"},
            {"bordereau_month": "2026-05", "policy_id": "P0002"},
        ),
        claims=factories.claims({"bordereau_month": "2026-04"}),
        lines=factories.lines(
            {"bordereau_month": "2026-04", "amount": 100},
            {"bordereau_month": "2026-05", "line_id": "L00001", "amount": 250, "first_month": "2026-05"},
            {"bordereau_month": "2026-05", "line_id": "L00002"},
        ),
    )
    may = as_at(history, "2026-05")
    assert may.policies.set_index("policy_id")["insured_name"].to_dict() == {"P0001": "May", "P0002": "株式会社テスト"}
    lines = may.lines.set_index("line_id")
    assert lines.loc["L00001", "amount"] == 250
    assert lines.loc["L00001", "first_month"] == "2026-04"  # its place in the queue stays April's
    assert lines.loc["L00002", "first_month"] == "2026-05"
    april = as_at(history, previous_month("2026-05"))
    assert april.policies["insured_name"].tolist() == ["April"]
    assert april.lines["amount"].tolist() == [100]
    assert as_at(history, "2026-03").policies.empty
    PolicyValid.validate(may.policies)
    ClaimValid.validate(may.claims)
    LineValid.validate(may.lines)


def test_a_view_with_the_columns_the_engine_reads_has_the_same_rows_and_payables() -> None:
    """``as_at(month, line_columns)`` (the run's views as at M−1 and the triangle's earlier months)
    keeps only the lines' columns asked for, in the history's order, beside ``first_month``: the
    same rows and values as the whole view, and the same ``line_payables``; so do the views of
    versions ``keeping`` only the columns the engine reads (the run's, after its claims stage)."""
    from pipeline.stages.versions import LINES_ELSEWHERE, versions_of
    from pipeline.stages.waterfall import LINE_COLUMNS_READ, column_names_read, line_payables

    history = History(
        policies=factories.policies({"bordereau_month": "2026-04"}),
        claims=factories.claims({"bordereau_month": "2026-04"}),
        lines=factories.lines(
            {"bordereau_month": "2026-04", "amount": 100},
            {"bordereau_month": "2026-05", "line_id": "L00001", "amount": 250},
            {"bordereau_month": "2026-05", "line_id": "L00002", "amount": 70},
        ),
    )
    versions = versions_of(history)
    for month in ("2026-04", "2026-05"):
        whole, narrow = versions.as_at(month), versions.as_at(month, LINE_COLUMNS_READ)
        kept = [column for column in whole.lines.columns if column in LINE_COLUMNS_READ]
        assert list(narrow.lines.columns) == kept and len(kept) < len(whole.lines.columns)
        pd.testing.assert_frame_equal(narrow.lines, whole.lines[kept])
        pd.testing.assert_frame_equal(narrow.claims, whole.claims)
        book = load_products()
        pd.testing.assert_frame_equal(
            line_payables(narrow.lines, narrow.claims, narrow.policies, book),
            line_payables(whole.lines, whole.claims, whole.policies, book),
        )
    assert list(versions.each_as_at(["2026-05"], LINE_COLUMNS_READ)["2026-05"].lines.columns) == kept
    # the Dask engine's run's views: the lines' number and index alone (its workers make them whole)
    for month in ("2026-04", "2026-05"):
        whole, rows_only = versions.as_at(month), versions.as_at(month, LINES_ELSEWHERE)
        assert rows_only.lines.columns.empty and rows_only.lines.index.equals(whole.lines.index)
        assert len(whole.lines) == (1 if month == "2026-04" else 2)  # L00001 restated in 2026-05
        pd.testing.assert_frame_equal(rows_only.policies, whole.policies)
        pd.testing.assert_frame_equal(rows_only.claims, whole.claims)
    # the run's versions once the views as at M and M−1 are made: only the columns the engine reads
    lines_read, claims_read, policies_read = column_names_read(load_products())
    narrowed = versions.keeping(policies=policies_read, claims=claims_read, lines=lines_read)
    assert set(narrowed.history.lines.columns) < set(history.lines.columns)
    assert set(narrowed.history.policies.columns) < set(history.policies.columns)
    for month in ("2026-04", "2026-05"):
        whole, narrow = versions.as_at(month), narrowed.as_at(month)
        pd.testing.assert_frame_equal(narrow.claims, whole.claims[list(narrow.claims.columns)])
        pd.testing.assert_frame_equal(narrow.policies, whole.policies[list(narrow.policies.columns)])
        pd.testing.assert_frame_equal(
            line_payables(narrow.lines, narrow.claims, narrow.policies, book),
            line_payables(whole.lines, whole.claims, whole.policies, book),
        )


def test_as_at_never_mutates_the_history():
    history = History(factories.policies({}), factories.claims({}), factories.lines({}))
    before = history.lines.copy()
    as_at(history, "2026-04")
    pd.testing.assert_frame_equal(history.lines, before)


def test_restatements_through_the_bordereaux(tmp_path):
    may_claim = {**CLAIM, "notice_date": "2026-05-01", "known_date": "2026-04-10"}
    write_bordereau(tmp_path, "2026-04", policies=[WIDE], claims=[CLAIM], lines=[LINE])
    write_bordereau(
        tmp_path,
        "2026-05",
        policies=[{**WIDE, "insured_name": "改名後"}],  # valid restatement: wins
        claims=[{**may_claim, "event_type": "flood"}],  # invalid restatement: rejected, April's stays
        lines=[{**LINE, "amount": "2,000,000"}],  # valid restatement of the line
    )
    write_bordereau(tmp_path, "2026-06", lines=[{**LINE, "amount": "-5"}])  # invalid: May's stays
    result = validate_bordereaux(read_bordereaux(tmp_path, "2026-06"), load_products())
    assert sorted(zip(result.rejected["month"], result.rejected["column"], strict=True)) == [
        ("2026-05", "event_type"),
        ("2026-06", "amount"),
    ]
    june = as_at(result.history, "2026-06")
    assert june.policies["insured_name"].tolist() == ["改名後"]
    assert june.claims["event_type"].tolist() == ["leak"]
    assert june.claims["bordereau_month"].tolist() == ["2026-04"]
    assert june.lines["amount"].tolist() == [2_000_000]
    assert june.lines["first_month"].tolist() == ["2026-04"]
    april = as_at(result.history, "2026-04")
    assert april.policies["insured_name"].tolist() == ["株式会社テスト"]
    assert april.lines["amount"].tolist() == [1_000_000]


@given(
    st.lists(
        st.lists(st.sampled_from(["P1", "P2", "P3", "P4", "P5", "P6"]), unique=True, max_size=5), min_size=1, max_size=5
    )
)
@reproducible(80, suppressed=())
def test_the_latest_versions_kept_month_by_month_are_those_found_from_the_whole_history(months) -> None:
    """Validation keeps the latest version of each id from month to month (``in_force_after``):
    after every month, the same rows in the same order as ``latest_versions`` on the whole history;
    kept with a column as categoricals (as the known lines' item and first month are), the same
    values, its categories the sorted union of every month's."""
    from pipeline.arrow_text import labels_as_text
    from pipeline.stages.validate import in_force_after
    from pipeline.stages.versions import latest_versions

    frames = [
        pd.DataFrame(
            {
                "policy_id": pd.Series(ids, dtype="str"),
                "product": pd.Series([f"{month}-{i}" for i in range(len(ids))], dtype="str"),
                "bordereau_month": f"2026-0{month + 1}",
                "excel_row": pd.Series(range(2, 2 + len(ids)), dtype="int64"),
            }
        )
        for month, ids in enumerate(months)
    ]
    history = pd.concat(frames, ignore_index=True)
    known = labelled = frames[0].iloc[0:0][["policy_id", "product"]]
    for month, added in enumerate(frames):
        known = in_force_after(known, added, "policy_id")
        labelled = in_force_after(labelled, added, "policy_id", labels=["product"])
        whole = latest_versions(history, "policy_id", f"2026-0{month + 1}")[["policy_id", "product"]]
        pd.testing.assert_frame_equal(known.reset_index(drop=True), whole.reset_index(drop=True))
        pd.testing.assert_frame_equal(labels_as_text(labelled), known)
        if len(labelled):
            assert isinstance(labelled["product"].dtype, pd.CategoricalDtype)
            categories = labelled["product"].cat.categories.tolist()
            assert categories == sorted(set(categories)) and set(known["product"]) <= set(categories)


def _in_force_by_hand(history: pd.DataFrame, id_column: str, month: str) -> pd.DataFrame:
    """CALCULATION.md § Time in plain pandas: the rows of months up to ``month`` in file order
    (month, then Excel row; ties as in the history), the last row of each id, with the month of
    its first row."""
    upto = history[history["bordereau_month"] <= month]
    ordered = upto.sort_values(["bordereau_month", "excel_row"], kind="stable")
    first = ordered.drop_duplicates(id_column, keep="first").set_index(id_column)["bordereau_month"]
    latest = ordered.drop_duplicates(id_column, keep="last")
    return latest.assign(first_month=latest[id_column].map(first).astype("str")).reset_index(drop=True)


@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["L1", "L2", "L3", "L4"]), st.integers(0, 4), st.integers(2, 6)),
        max_size=25,
    )
)
@reproducible(80, suppressed=())
def test_every_month_as_at_is_the_rows_in_force_by_hand(rows: list[tuple[str, int, int]]) -> None:
    """The history put in file order once (``versions_of``) gives, as at every month (before the
    first, between and after them), the latest row of each id and its first month: what sorting
    and de-duplicating the rows up to that month by hand gives, in the same order. Rows arrive in
    any order, with Excel rows that repeat within a month."""
    from pipeline.stages.versions import versions_of

    lines = pd.DataFrame(
        {
            "line_id": pd.Series([row[0] for row in rows], dtype="str"),
            "bordereau_month": pd.Series([f"2026-0{row[1] + 4}" for row in rows], dtype="str"),
            "excel_row": pd.Series([row[2] for row in rows], dtype="int64"),
            "amount": pd.Series(range(len(rows)), dtype="int64"),
        }
    )
    empty = pd.DataFrame(
        {
            "policy_id": pd.Series(dtype="str"),
            "claim_id": pd.Series(dtype="str"),
            "bordereau_month": pd.Series(dtype="str"),
            "excel_row": pd.Series(dtype="int64"),
        }
    )
    versions = versions_of(History(policies=empty, claims=empty, lines=lines))
    months = ["2026-03", "2026-04", "2026-05", "2026-06", "2026-07", "2026-08", "2026-09"]
    for month in months:
        in_force = versions.as_at(month)
        pd.testing.assert_frame_equal(in_force.lines, _in_force_by_hand(lines, "line_id", month), obj=month)
        assert in_force.policies.empty and in_force.claims.empty
    each = versions.each_as_at(months[::2])
    assert list(each) == months[::2]
    for month, in_force in each.items():  # the views made when asked are the same views
        pd.testing.assert_frame_equal(in_force.lines, _in_force_by_hand(lines, "line_id", month), obj=month)


@given(
    rows=st.lists(
        st.tuples(st.sampled_from(["L1", "L2", "L3", "L4", "L5"]), st.integers(0, 4), st.integers(2, 6)),
        max_size=25,
    ),
    kept=st.sets(st.sampled_from(["L1", "L2", "L3", "L4", "L5"])),
)
@reproducible(80, suppressed=())
def test_a_part_of_the_history_put_in_file_order_by_its_places_gives_the_whole_views_rows(
    rows: list[tuple[str, int, int]], kept: set[str]
) -> None:
    """What the Dask engine's triangle relies on (a part of the history on a worker, made ready
    for views by each row's place in the whole file order instead of its Excel row, its month
    given back where narrowed away): the rows of any set of ids so placed give, as at every month,
    the whole history's view's rows of those ids, in the same order."""
    from pipeline.stages.versions import versions_of

    lines = pd.DataFrame(
        {
            "line_id": pd.Series([row[0] for row in rows], dtype="str"),
            "bordereau_month": pd.Series([f"2026-0{row[1] + 4}" for row in rows], dtype="str"),
            "excel_row": pd.Series([row[2] for row in rows], dtype="int64"),
            "amount": pd.Series(range(len(rows)), dtype="int64"),
        }
    )
    empty = pd.DataFrame({"policy_id": pd.Series(dtype="str"), "claim_id": pd.Series(dtype="str")})
    empty = empty.assign(bordereau_month=pd.Series(dtype="str"), excel_row=pd.Series(dtype="int64"))
    whole = versions_of(History(policies=empty, claims=empty, lines=lines))
    assert whole.lines.row_months().tolist() == lines["bordereau_month"].tolist()
    placed = lines.assign(place=whole.lines.places()).drop(columns="excel_row")
    part = placed[placed["line_id"].isin(kept)].reset_index(drop=True)
    empty_placed = empty.drop(columns="excel_row").assign(place=pd.Series(dtype="int64"))
    versions = versions_of(History(policies=empty_placed, claims=empty_placed, lines=part), row="place")
    for month in ["2026-03", "2026-04", "2026-05", "2026-06", "2026-07", "2026-08", "2026-09"]:
        expected = whole.as_at(month).lines
        expected = expected[expected["line_id"].isin(kept)].reset_index(drop=True)
        got = versions.as_at(month).lines.drop(columns="place")
        pd.testing.assert_frame_equal(got, expected.drop(columns="excel_row"), obj=month)


def test_each_as_at_makes_a_view_only_when_asked_and_keeps_none(monkeypatch) -> None:
    """``Versions.each_as_at`` (the triangle's earlier months): listing, counting and asking whether
    a month is there make no view; each view is made when asked for, every time (none is kept)."""
    from pipeline.stages.versions import InForce, Versions, versions_of

    history = History(factories.policies({}), factories.claims({}), factories.lines({}))
    versions = versions_of(history)
    made: list[str] = []
    real = Versions.as_at

    def counted(self: Versions, month: str, line_columns: list[str] | None = None) -> InForce:
        made.append(month)
        return real(self, month, line_columns)

    monkeypatch.setattr(Versions, "as_at", counted)
    each = versions.each_as_at(["2026-04", "2026-05"])
    assert list(each) == ["2026-04", "2026-05"] and len(each) == 2
    assert "2026-05" in each and "2026-06" not in each
    assert made == []
    assert each["2026-05"].lines["line_id"].tolist() == ["L00001"]
    assert each["2026-05"].month == "2026-05"
    assert made == ["2026-05", "2026-05"]
    with pytest.raises(KeyError):
        each["2026-06"]


@reproducible(150, suppressed=())
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", "d", "e"]),
            st.sampled_from(["2026-05", "2026-04", "2026-06"]),
            st.integers(2, 6),
        ),
        max_size=30,
    )
)
def test_file_order_is_the_row_by_row_order_of_versions(rows: list[tuple[str, str, int]]) -> None:
    """``file_order``, against the rows taken one at a time: file order is month, then Excel row,
    ties in the history's order; each row's next version is the next row of its id in that order,
    its first version the first."""

    history = pd.DataFrame(
        {
            "line_id": pd.Series([row[0] for row in rows], dtype="str"),
            "bordereau_month": pd.Series([row[1] for row in rows], dtype="str"),
            "excel_row": pd.Series([row[2] for row in rows], dtype="int64"),
        }
    )
    order = file_order(history, "line_id")
    expected = sorted(range(len(rows)), key=lambda at: (rows[at][1], rows[at][2], at))
    assert order.positions.tolist() == expected
    ids = [rows[at][0] for at in expected]
    for place, line_id in enumerate(ids):
        later = [other for other in range(place + 1, len(ids)) if ids[other] == line_id]
        assert order.next_version[place] == (later[0] if later else len(ids))
        assert order.first_version[place] == ids.index(line_id)
    for month in ["2026-03", "2026-04", "2026-05", "2026-06"]:
        assert order.rows_up_to(month) == sum(row[1] <= month for row in rows)
