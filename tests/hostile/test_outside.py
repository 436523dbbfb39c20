"""Hostile inputs found outside the first corpus (issue #11; CASES.md § Found outside the corpus),
through the real command line: each ends with its exit code and the line that says what happened."""

from __future__ import annotations

import pytest

from tests.commands import cli
from tests.hostile.corpus import MONTH, error_lines, valid_month
from tests.hostile.outside import CASES


@pytest.mark.parametrize("case", list(CASES))
def test_each_case_ends_as_documented(tmp_path, case):
    folder = valid_month(tmp_path / "in")
    expected = CASES[case](folder)
    done = cli("run", "--input", folder, "--month", MONTH, "--output", tmp_path / "out")
    assert done.returncode == expected.exit, done.stderr
    if expected.exit:
        lines = error_lines(done)
        assert len(lines) == 1, done.stderr
        assert expected.says in lines[0], lines[0]
        assert not (tmp_path / "out" / MONTH).exists()
    else:
        assert expected.says in done.stderr, done.stderr
        assert (tmp_path / "out" / MONTH / "manifest.json").is_file()
    assert "Traceback" not in done.stderr + done.stdout
    assert "panicked" not in done.stderr + done.stdout
