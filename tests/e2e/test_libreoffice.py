"""Every workbook of issue #5 opens in LibreOffice and reads back with the same values, from either
back end of the writer (Rust-backed, xlsxwriter).

LibreOffice (headless) re-saves each written workbook as xlsx; a workbook it cannot load fails the
conversion. The values of every cell of every sheet are then compared with the original. When
``soffice`` is missing, the test installs ``libreoffice-calc-nogui`` from Debian (the machine is
root, Debian) and skips with the reason only if that is impossible.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pytest

from pipeline.io.workbook import write_workbook
from tests.unit.test_reports import sample_workbooks

pytestmark = pytest.mark.slow
PACKAGES = ("libreoffice-calc-nogui", "libreoffice-calc")


def _install() -> str | None:
    """Install LibreOffice Calc with apt-get; None when done, else why it could not be."""
    if shutil.which("apt-get") is None:
        return "apt-get not available"
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        return "not root: cannot apt-get install LibreOffice"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    update = subprocess.run(["apt-get", "update"], capture_output=True, text=True, env=env, timeout=600)
    if update.returncode:
        return f"apt-get update failed: {update.stderr.strip()[-200:]}"
    for package in PACKAGES:
        policy = subprocess.run(["apt-cache", "policy", package], capture_output=True, text=True, timeout=60)
        if "Candidate: (none)" in policy.stdout or not policy.stdout.strip():
            continue
        done = subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", package],
            capture_output=True,
            text=True,
            env=env,
            timeout=1800,
        )
        if done.returncode == 0:
            return None
    return f"none of {PACKAGES} could be installed"


@pytest.fixture(scope="session")
def soffice() -> str:
    found = shutil.which("soffice") or shutil.which("libreoffice")
    if found is None:
        reason = _install()
        found = shutil.which("soffice") or shutil.which("libreoffice")
        if found is None:
            pytest.skip(f"LibreOffice unavailable: {reason}")
    return found


def _convert(soffice: str, files: list[Path], out: Path, profile: Path) -> None:
    result = subprocess.run(
        [
            soffice,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--norestore",
            "--convert-to",
            "xlsx",
            "--outdir",
            str(out),
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    for file in files:
        assert (out / file.name).is_file(), f"LibreOffice could not open {file.name}: {result.stdout} {result.stderr}"


def _normal(value: object) -> object:
    if value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.replace(microsecond=0)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, float):
        return round(value, 9)
    return value


def _cells(path: Path) -> dict[str, list[tuple[object, ...]]]:
    book = openpyxl.load_workbook(path, data_only=True)
    out = {}
    for ws in book.worksheets:
        rows = [tuple(_normal(v) for v in row) for row in ws.iter_rows(values_only=True)]
        while rows and all(v is None for v in rows[-1]):
            rows.pop()
        out[ws.title] = rows
    return out


@pytest.mark.parametrize("backend", ["rust", "xlsxwriter"])
@pytest.mark.parametrize("lang", ["en", "ja"])
def test_workbooks_open_in_libreoffice_with_the_same_values(
    soffice: str, tmp_path: Path, lang: str, backend: str
) -> None:
    written = tmp_path / "written"
    converted = tmp_path / "converted"
    written.mkdir()
    files = []
    for name, sheets in sample_workbooks(lang).items():
        write_workbook(written / name, sheets, backend=backend)
        files.append(written / name)
    _convert(soffice, files, converted, tmp_path / "profile")
    for file in files:
        original, reread = _cells(file), _cells(converted / file.name)
        assert list(reread) == list(original), file.name
        for sheet, rows in original.items():
            assert reread[sheet] == rows, f"{file.name}/{sheet}"


@pytest.mark.parametrize("backend", ["rust", "xlsxwriter"])
def test_large_constant_memory_book_opens(soffice: str, tmp_path: Path, backend: str) -> None:
    """The constant_memory path (inline strings, autofilter, conditional banding) also opens."""
    sheets = sample_workbooks("en")["claims_annotated.xlsx"]
    path = tmp_path / "claims_annotated.xlsx"
    write_workbook(path, sheets, constant_memory_cells=1, backend=backend)
    _convert(soffice, [path], tmp_path / "converted", tmp_path / "profile")
    assert _cells(tmp_path / "converted" / path.name) == _cells(path)
