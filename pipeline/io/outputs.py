"""Write a month's outputs atomically (DATA_CONTRACT.md § Run, § Output).

Every output file of a run is written into ``<output>/.tmp-<month>-<pid>/``; only when all of them
and ``manifest.json`` are complete is that folder swapped into place as ``<output>/<month>/``. The
previous month folder stays intact until the swap, and is removed only after it. A failed run
leaves the previous outputs untouched and no temporary folder behind.

Later stages add their workbooks by adding entries to ``files``: name -> a function that writes that
file to the path it is given.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.errors import FatalInputError
from pipeline.io.workbook import Sheet, write_workbook

MANIFEST = "manifest.json"
FileWriter = Callable[[Path], None]


def check_output_folder(input_dir: Path, output_dir: Path) -> None:
    """Outputs never go into the input folder (raw data is immutable)."""
    source, target = Path(input_dir).resolve(), Path(output_dir).resolve()
    if target == source or source in target.parents:
        raise FatalInputError(output_dir, "output folder must not be the input folder or inside it")
    if target.exists() and not target.is_dir():
        raise FatalInputError(output_dir, "output folder is a file")


def workbook_writer(sheets: list[Sheet]) -> FileWriter:
    """A ``files`` entry that writes ``sheets`` as one formatted workbook."""
    return lambda path: write_workbook(path, sheets)


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A small frame as JSON-ready records (numpy scalars become Python numbers)."""
    return json.loads(frame.to_json(orient="records", force_ascii=False))


def write_outputs(output_dir: Path, month: str, files: Mapping[str, FileWriter], manifest: dict[str, Any]) -> Path:
    """Write ``files`` and ``manifest.json`` (``manifest`` plus the list of outputs) for ``month``
    and move them into place as ``<output_dir>/<month>/``; return that folder."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    staging = output_dir / f".tmp-{month}-{os.getpid()}"
    final = output_dir / month
    retired = output_dir / f".old-{month}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        for name, write in files.items():
            write(staging / name)
        outputs = [*files, MANIFEST]
        document = {**manifest, "outputs": outputs}
        (staging / MANIFEST).write_text(json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n")
        if final.exists():
            final.rename(retired)
        try:
            staging.rename(final)
        except OSError:
            if retired.exists():
                retired.rename(final)
            raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(retired, ignore_errors=True)
    return final
