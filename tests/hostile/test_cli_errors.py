"""The command line never shows a traceback (CASES.md § Command line): an unexpected internal error
is one line and exit 70, a file that cannot be written is one line and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pipeline.__main__ import EXIT_FATAL, EXIT_INTERNAL, main
from tests.commands import ROOT, cli
from tests.hostile.corpus import MONTH, error_lines, valid_month

BOOM = (
    "import sys, pipeline.run as run\n"
    "def boom(*args, **kwargs):\n"
    "    raise RuntimeError('boom\\nsecond line')\n"
    "run.run_month = boom\n"
    "from pipeline.__main__ import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def _boom(tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    folder = valid_month(tmp_path / "in")
    return subprocess.run(
        [sys.executable, "-c", BOOM, "run", "--input", folder, "--month", MONTH, "--output", tmp_path / "out"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        timeout=120,
    )


def test_an_internal_error_is_one_line_and_exit_70(tmp_path):
    done = _boom(tmp_path)
    assert done.returncode == EXIT_INTERNAL
    assert done.stderr.strip() == "error: internal error: RuntimeError: boom second line (please report)"


def test_the_traceback_is_there_on_request(tmp_path):
    done = _boom(tmp_path, PIPELINE_TRACEBACK="1")
    assert done.returncode == EXIT_INTERNAL
    assert error_lines(done) == ["error: internal error: RuntimeError: boom second line (please report)"]
    assert "Traceback" in done.stderr


def test_an_output_folder_that_cannot_be_created_is_one_line_and_exit_2(tmp_path):
    folder = valid_month(tmp_path / "in")
    (tmp_path / "file").write_text("not a folder")
    done = cli("run", "--input", folder, "--month", MONTH, "--output", tmp_path / "file" / "out")
    assert done.returncode == EXIT_FATAL
    assert "Traceback" not in done.stderr
    (line,) = error_lines(done)
    assert line.startswith(f"error: {tmp_path / 'file' / 'out'}") and "Not a directory" in line


@pytest.mark.parametrize(
    ("error", "expected", "code"),
    [
        (MemoryError(), "error: internal error: MemoryError (please report)", EXIT_INTERNAL),
        (KeyError("policy_id"), "error: internal error: KeyError: 'policy_id' (please report)", EXIT_INTERNAL),
        (PermissionError(13, "Permission denied", "/out/2026-04"), "error: /out/2026-04: Permission denied", 2),
        (KeyboardInterrupt(), "error: interrupted", 130),
    ],
)
def test_every_exception_becomes_one_line(monkeypatch, capsys, error, expected, code):
    import pipeline.run

    def fail(*args, **kwargs):
        raise error

    monkeypatch.delenv("PIPELINE_TRACEBACK", raising=False)
    monkeypatch.setattr(pipeline.run, "run_month", fail)
    assert main(["run", "--input", "in", "--month", MONTH, "--output", "out"]) == code
    assert capsys.readouterr().err.strip() == expected
