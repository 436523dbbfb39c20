"""What a user reads when something is wrong or slow (issue #16): one clear line naming the user's
folder, warnings that say what happened and what to do, the parse cache named on the read line,
stage lines aligned, and ``make`` saying the same."""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import subprocess
import tempfile

import pytest

import pipeline.io.cache
import pipeline.io.outputs
from pipeline.__main__ import EXIT_FATAL, main
from pipeline.run import STAGES, run_month
from tests.commands import ROOT, cli
from tests.hostile.corpus import MONTH, error_lines, valid_month

RAW_EXCEPTION = re.compile(r"Errno|OSError|Error:|Traceback|\.tmp-")


def _make(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("make") is None or not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("make or the project's .venv is not available")
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=300
    )


def test_an_input_folder_without_month_folders_is_named(tmp_path):
    folder = tmp_path / "bdx"
    (folder / "April").mkdir(parents=True)
    done = cli("run", "--input", folder, "--output", tmp_path / "out")
    assert done.returncode == EXIT_FATAL
    (line,) = error_lines(done)
    assert line.startswith(f"error: {folder}: no YYYY-MM month folders"), line
    assert "usage" not in done.stderr and "Traceback" not in done.stderr


def test_make_run_on_a_folder_without_month_folders_says_which(tmp_path):
    folder = tmp_path / "bdx"
    folder.mkdir()
    done = _make("run", f"INPUT={folder}", f"OUTPUT={tmp_path / 'out'}")
    assert done.returncode != 0
    assert f"error: {folder}: no YYYY-MM month folders" in done.stderr
    assert "expected one argument" not in done.stderr and "usage:" not in done.stderr


def test_make_help_mentions_every_run_variable():
    done = _make("help")
    run = next(line for line in done.stdout.splitlines() if "make run" in line)
    for variable in ("INPUT=", "MONTH=", "OUTPUT=", "LANG_OUT=", "ENGINE=", "SCHEDULER=", "WORKER_MEMORY="):
        assert variable in run, run


def test_make_run_passes_the_workers_memory_limit_on(tmp_path):
    """``make run WORKER_MEMORY=...`` reaches the command as ``--worker-memory`` (refused here
    before anything starts: it needs ``ENGINE=dask``)."""
    done = _make("run", f"INPUT={tmp_path / 'in'}", f"OUTPUT={tmp_path / 'out'}", "WORKER_MEMORY=6GiB")
    assert done.returncode != 0
    assert "--worker-memory needs --engine dask" in done.stderr, done.stderr


def test_an_output_folder_that_cannot_be_written_is_found_before_the_run(tmp_path, monkeypatch, capsys):
    folder = valid_month(tmp_path / "in")
    started = []
    monkeypatch.setattr(pipeline.io.outputs, "write_outputs", lambda *a, **k: started.append(a))

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(kwargs.get("dir")))

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", read_only)
    monkeypatch.delenv("PIPELINE_TRACEBACK", raising=False)
    output = tmp_path / "out"
    assert main(["run", "--input", str(folder), "--month", MONTH, "--output", str(output)]) == EXIT_FATAL
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: {output}: ") and "cannot" in error and "read-only file system" in error
    assert not RAW_EXCEPTION.search(error) and "\n" not in error
    assert not started


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_folder_without_write_permission_is_named(tmp_path):
    folder = valid_month(tmp_path / "in")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    done = cli("run", "--input", folder, "--month", MONTH, "--output", locked)
    (line,) = error_lines(done)
    assert line.startswith(f"error: {locked}: output folder cannot be written"), line


def test_a_write_error_names_the_month_folder_never_the_staging_folder(tmp_path, monkeypatch, capsys):
    folder = valid_month(tmp_path / "in")

    def disk_full(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(pipeline.io.outputs, "write_workbook", disk_full)
    monkeypatch.delenv("PIPELINE_TRACEBACK", raising=False)
    output = tmp_path / "out"
    assert main(["run", "--input", str(folder), "--month", MONTH, "--output", str(output)]) == EXIT_FATAL
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: {output}: no space left to write the outputs of {MONTH} "), error
    assert ".tmp-" not in error


def test_a_cache_that_cannot_be_written_is_one_warning_saying_what_to_do(tmp_path, monkeypatch, caplog):
    folder = valid_month(tmp_path / "in")
    (folder / "2026-05").mkdir()  # a second month, so that a warning per month would show twice
    for name in ("policies.xlsx", "claims.xlsx"):
        shutil.copy(folder / MONTH / name, folder / "2026-05" / name)

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(args[0]))

    monkeypatch.setattr(pipeline.io.cache, "_write_entry", read_only)
    with caplog.at_level(logging.WARNING):
        run_month(folder, "2026-05", tmp_path / "out")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    (warning,) = warnings
    assert "parse cache" in warning and "read-only file system" in warning and "--cache" in warning
    assert not RAW_EXCEPTION.search(warning), warning


def test_the_read_line_says_the_parse_cache_served_it_and_stage_lines_align(tmp_path, caplog):
    folder = valid_month(tmp_path / "in")
    run_month(folder, MONTH, tmp_path / "out")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="pipeline"):
        run_month(folder, MONTH, tmp_path / "out")
    lines = [r.getMessage() for r in caplog.records if r.name == "pipeline"]
    read = next(line for line in lines if line.startswith("read "))
    assert "1 month (4 rows) from the parse cache" in read and "rows_in 0" not in read, read
    starts = {len(line) - len(line[len(line.split()[0]) :].lstrip()) for line in lines}
    assert len(lines) == len(STAGES) and len(starts) == 1, lines
