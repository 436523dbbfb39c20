"""A full disk or quota while the outputs are written (CASES.md § Found outside the corpus): one
line naming the output folder and the space needed, exit 2, no traceback text, the previous outputs
byte for byte intact. Simulated two ways: a writer raising ENOSPC (always), and a real full tmpfs
mounted in a user namespace (``unshare -rm``; skipped where the system does not allow it)."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.errors import FatalInputError
from pipeline.io import outputs
from tests.commands import ROOT
from tests.hostile.corpus import MONTH, valid_month

NO_SPACE = "no space left to write the outputs of 2026-04 (the disk or your quota is full): they need "


def _digests(folder: Path) -> dict[str, str]:
    return {entry.name: hashlib.sha256(entry.read_bytes()).hexdigest() for entry in sorted(folder.iterdir())}


def test_a_writer_failing_with_enospc_is_one_fatal_line_and_keeps_the_previous_outputs(tmp_path, monkeypatch):
    previous = outputs.write_outputs(tmp_path, MONTH, {"a.txt": lambda path: path.write_text("x" * 5000)}, {})
    before = _digests(previous)

    def full_disk(path: Path) -> None:
        path.write_text("y" * 3000)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    class WriterError(Exception):
        """A writer library's own exception around the OSError, as xlsxwriter's FileCreateError."""

    def wrapped(path: Path) -> None:
        try:
            full_disk(path)
        except OSError as error:
            raise WriterError(error) from None

    for failing in (full_disk, wrapped):
        with pytest.raises(FatalInputError) as raised:
            outputs.write_outputs(tmp_path, MONTH, {"a.txt": failing}, {})
        assert raised.value.file == str(tmp_path)
        assert raised.value.problem.startswith(NO_SPACE + "about 5 KB (the size of the previous outputs), ")
        assert _digests(previous) == before
        assert sorted(entry.name for entry in tmp_path.iterdir()) == [MONTH]  # no staging folder left


def test_other_write_errors_are_not_called_a_full_disk(tmp_path):
    def broken(path: Path) -> None:
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        outputs.write_outputs(tmp_path, MONTH, {"a.txt": broken}, {})


_FULL_DISK = """
set -u
mount -t tmpfs -o size=4m tmpfs "$OUT" || exit 99
"$@" >/dev/null 2>"$OUT/../first.err" || exit 98
sha256sum "$OUT/$MONTH"/* > "$OUT/../before.sha"
dd if=/dev/zero of="$OUT/filler" bs=4k 2>/dev/null
"$@"
code=$?
sha256sum "$OUT/$MONTH"/* > "$OUT/../after.sha"
ls -A "$OUT" > "$OUT/../listing"
exit $code
"""


@pytest.mark.skipif(shutil.which("unshare") is None, reason="no unshare")
@pytest.mark.parametrize("writer", ["rust", "xlsxwriter"])
def test_a_really_full_disk(tmp_path, writer):
    folder = valid_month(tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PIPELINE_XLSX_WRITER": writer, "OUT": str(out), "MONTH": MONTH}
    env.pop("PIPELINE_TRACEBACK", None)
    command = [sys.executable, "-m", "pipeline", "run", "--input", str(folder), "--month", MONTH, "--output", str(out)]
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", _FULL_DISK, "sh", *command],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    if done.returncode in (99, 1) and not (tmp_path / "before.sha").exists():
        pytest.skip(f"cannot mount a small file system here: {done.stderr.strip()[:200]}")
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {out}: {NO_SPACE}"), done.stderr
    assert "(the size of the previous outputs)" in errors[0]
    for text in ("Traceback", "panicked", "Exception ignored"):
        assert text not in done.stderr + done.stdout
    assert (tmp_path / "before.sha").read_text() == (tmp_path / "after.sha").read_text()
    assert not [name for name in (tmp_path / "listing").read_text().split() if name.startswith(".tmp-")]
