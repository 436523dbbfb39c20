"""Identical reruns: the same month run twice gives identical values and identical bytes for every
workbook; ``manifest.json`` differs only in its creation time, timings and the months the parse cache
served (the second run reads them all from it)."""

from __future__ import annotations

import json

import pandas as pd

from pipeline.run import run_month
from tests.commands import ROOT

SAMPLE = ROOT / "sample_data" / "tokyo-agency"  # one cover-holder: ids as sent
MONTH = "2026-05"
VARYING = {"created", "timings", "cache"}  # legitimately different from run to run


def test_rerunning_a_month_gives_identical_outputs(tmp_path):
    first = run_month(SAMPLE, MONTH, tmp_path / "out")
    before = {path.name: path.read_bytes() for path in sorted(first.output_folder.iterdir())}
    second = run_month(SAMPLE, MONTH, tmp_path / "out")
    after = {path.name: path.read_bytes() for path in sorted(second.output_folder.iterdir())}

    assert before.keys() == after.keys()
    assert [name for name in before if name.endswith(".xlsx")], "no workbook written"
    for name in before:
        if name != "manifest.json":
            assert before[name] == after[name], f"{name} differs between two runs"
    manifests = [json.loads(files["manifest.json"]) for files in (before, after)]
    assert set(manifests[0]) >= VARYING
    constant = [{key: value for key, value in manifest.items() if key not in VARYING} for manifest in manifests]
    assert constant[0] == constant[1]

    assert first.sheets.keys() == second.sheets.keys()
    for name, sheets in first.sheets.items():
        assert [s.name for s in sheets] == [s.name for s in second.sheets[name]]
        for one, two in zip(sheets, second.sheets[name], strict=True):
            pd.testing.assert_frame_equal(one.frame, two.frame, obj=f"{name}/{one.name}")
