"""The sample book shows the reinsurance programme at work (sample_data/README.md § Reinsurance):
as at its last month the per-risk layer's annual aggregate deductible absorbs the first loss to the
layer, recoveries pay reinstatement premiums, and two cyber events recover from the event layer.
And a small book: ``cat_event_id`` through the reader, and a policy outside the programme."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pytest

from pipeline.products import DEFAULT_PRODUCTS_DIR
from pipeline.run import RunResult, run_month
from tests.unit.test_validate import CLAIM, LINE, WIDE
from tests.workbooks import write_bordereau


@pytest.fixture(scope="module")
def result(sample_last_month: RunResult) -> RunResult:
    """The sample as at 2027-03 (``tests/conftest.py``: one run per test process)."""
    return sample_last_month


def test_aad_absorbs_and_reinstatements_are_paid(result: RunResult) -> None:
    assert result.reinsurance is not None
    treaty = result.reinsurance.treaty.set_index(["treaty_year", "layer"])
    risk: Any = treaty.loc[("2026", "risk_xol")]  # one row of the treaty summary
    assert risk["aggregate_deductible_used"] == 10_000_000
    assert risk["losses"] > 10_000_000 and risk["recoveries"] == risk["losses"] - 10_000_000
    assert risk["reinstatement_premium"] > 0
    claims = result.reinsurance.claims
    first = claims[claims["risk_layer_loss"] > 0].sort_values(["first_month", "known_date", "claim_id"]).iloc[0]
    assert first["xol_recovery"] == first["risk_layer_loss"] - 10_000_000


def test_two_events_recover_from_the_event_layer(result: RunResult) -> None:
    assert result.reinsurance is not None
    events = result.reinsurance.events
    recovering = events[events["cat_recovery"] > 0]
    assert len(recovering) == 2 and (recovering["policies"] >= 4).all()
    assert (recovering["reinstatement_premium_event"] > 0).all()
    account = result.reinsurance.technical_account
    lines = account[account["treaty_year"] == "2026"].set_index("line")
    assert lines.loc["event_recovery", "to_date"] == -int(events["cat_recovery"].sum())
    for column in ("to_date", "this_month"):
        assert lines.loc["balance", column] == lines[column].drop("balance").sum()
    assert result.reinsurance.outside_policies == 0


def test_cat_event_id_is_read_and_a_policy_outside_the_programme_is_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """集積事故番号 read under its Japanese header (trimmed like other ids) joins two claims of two
    policies into one event; with a programme whose only year starts after the policies' start,
    the run warns with the count and cedes nothing."""
    folder = tmp_path / "input"
    second = {**WIDE, "policy_id": "P2", "insured_name": "株式会社ニ"}
    claims = [
        {**CLAIM, "cat_event_id": " CAT-1 "},
        {**CLAIM, "claim_id": "C2", "policy_id": "P2", "cat_event_id": "CAT-1"},
    ]
    lines = [LINE, {**LINE, "line_id": "X2", "claim_id": "C2"}]
    write_bordereau(folder, "2026-04", policies=[WIDE, second], claims=claims, lines=lines, japanese_headers=True)
    result = run_month(folder, "2026-04", tmp_path / "out", use_cache=False)
    assert result.rejected.empty
    assert result.reinsurance is not None
    events = result.reinsurance.events
    assert events[["cat_event_id", "claims", "policies"]].values.tolist() == [["CAT-1", 2, 2]]

    products = tmp_path / "products"
    shutil.copytree(DEFAULT_PRODUCTS_DIR, products)
    treaty = products / "treaty.toml"
    text = treaty.read_text(encoding="utf-8")  # a gap: prior ends 2026-04-01, 2026 starts 2026-05-01
    treaty.write_text(text.replace("start = 2026-04-01", "start = 2026-05-01"), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="pipeline"):
        later = run_month(folder, "2026-04", tmp_path / "out2", use_cache=False, products_dir=products)
    assert later.reinsurance is not None
    assert "2 policies in no treaty year" in caplog.text
    assert later.reinsurance.outside_policies == 2
    assert (later.reinsurance.policies["ceded_premium"] == 0).all()
    assert (later.reinsurance.claims["net"] == later.reinsurance.claims["payable_total"]).all()
