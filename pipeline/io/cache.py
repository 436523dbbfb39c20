"""The parse cache: each month's parsed and validated rows, so that a run as at M opens only the
workbooks of months it has not seen (README § Cache and Parquet).

Validating month k depends on the workbooks of months ≤ k (a row is checked against what was validly
known by then), on the product data and on the code. The entry of month k is therefore keyed by the
SHA-256 of: the cache format, the package version and the source of every module the parsing and
validation import (:func:`code_fingerprint`), the contents of the product data folder, and the month
folders ≤ k with the SHA-256 of each of their input files, in order, and the SHA-256 of the
cover-holder's layout file (LAYOUTS.md; none for the contract's layout). Editing a workbook of month k
changes the key of month k and of every later month; their entries are no longer found and those
months are read and validated again. Nothing else is ever compared, so a stale entry cannot be used.

Layout (default folder ``<output>/.cache``)::

    <cache>/<month>/<key>/entry.json        months, files, counts, rejected ids, frames' columns and dtypes
    <cache>/<month>/<key>/policies.parquet  valid rows the month added (with provenance), likewise
                          claims.parquet, lines.parquet, rejected.parquet (the month's rejected rows)

An entry is written into ``<cache>/<month>/.tmp-<pid>-<random>/`` and renamed into place when
complete, so a reader never sees half of one; writing it removes the other entries of that month
(older keys). An entry that cannot be read back exactly (a file missing, damaged or edited: the JSON
records each Parquet file's SHA-256, row count, columns and dtypes) is ignored with a warning,
removed and rebuilt. The cache can be deleted at any time; ``--no-cache`` runs without it.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import os
import secrets
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import pipeline
from pipeline.errors import FatalInputError
from pipeline.io.find import BordereauFiles
from pipeline.tables import MonthValidated

log = logging.getLogger(__name__)

CACHE_FOLDER = ".cache"  # under the output folder, by default
FORMAT = 1  # bump when the layout of an entry changes
ENTRY = "entry.json"
FRAMES = ("policies", "claims", "lines", "rejected")
PROJECT_ROOT = Path(pipeline.__file__).resolve().parent.parent
# The modules whose code decides what a month's parsed and validated rows are; every project module
# they import is included (see code_fingerprint), and so are the data files below.
VALIDATION_MODULES = ("pipeline.io.read", "pipeline.stages.validate", "pipeline.io.cache")
VALIDATION_DATA = ("pipeline/io/columns.toml",)


def _module_file(module: str) -> Path | None:
    """The source file of a project module (``pipeline…`` or ``schemas…``), if it is one."""
    if module.split(".")[0] not in ("pipeline", "schemas"):
        return None
    base = PROJECT_ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path) -> Iterable[str]:
    """The project modules ``path`` imports, and the packages they sit in."""
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        for name in names:
            parts = name.split(".")
            yield from (".".join(parts[:end]) for end in range(1, len(parts) + 1))


def validation_sources() -> list[Path]:
    """The source of every project module the parsing and validation import (following imports from
    :data:`VALIDATION_MODULES`), and the data files they read, in path order."""
    seen: dict[Path, None] = {}
    pending = [path for module in VALIDATION_MODULES if (path := _module_file(module))]
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen[path] = None
        pending.extend(found for module in _imports(path) if (found := _module_file(module)) and found not in seen)
    return sorted([*seen, *(PROJECT_ROOT / name for name in VALIDATION_DATA)])


@cache
def code_fingerprint() -> str:
    """SHA-256 of the package version and of :func:`validation_sources`: any change to the code that
    decides a month's parsed and validated rows invalidates every entry."""
    digest = hashlib.sha256(f"cyber-bordereaux {pipeline.__version__}\n".encode())
    for path in validation_sources():
        digest.update(f"{path.relative_to(PROJECT_ROOT).as_posix()}\n".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def folder_fingerprint(folder: Path) -> str:
    """SHA-256 of the names and contents of every file under ``folder`` (the product data)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(f"{path.relative_to(folder).as_posix()}\n".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def file_fingerprint(path: Path) -> str:
    """SHA-256 of one file's contents (the treaty's version on the ``run`` sheet)."""
    return _sha256(Path(path))


def month_keys(files: BordereauFiles, products_folder: Path, layout_sha256: str = "") -> dict[str, str]:
    """The cache key of every month: see the module docstring."""
    common = {"format": FORMAT, "code": code_fingerprint(), "products": folder_fingerprint(products_folder)}
    if layout_sha256:
        common["layout"] = layout_sha256
    keys = {}
    for position, month in enumerate(files.months):
        months = files.months[: position + 1]
        inputs = [[f.file, f.sha256] for f in files.files if f.month in months]
        document = json.dumps({**common, "months": months, "inputs": inputs}, sort_keys=True)
        keys[month] = hashlib.sha256(document.encode()).hexdigest()
    return keys


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


@dataclass
class ParseCache:
    """The entries of one cache folder for the months of one run (``keys``: month -> key)."""

    folder: Path
    keys: dict[str, str]

    @classmethod
    def open(cls, folder: Path, files: BordereauFiles, products_folder: Path, layout_sha256: str = "") -> ParseCache:
        """The cache in ``folder`` for the months of ``files`` with the product data of ``products_folder``
        (and the cover-holder's layout file's SHA-256); never inside the input folder (raw data is immutable)."""
        source, target = files.input_dir.resolve(), Path(folder).resolve()
        if target == source or source in target.parents:
            raise FatalInputError(folder, "cache folder must not be the input folder or inside it")
        return cls(Path(folder), month_keys(files, products_folder, layout_sha256))

    def _entry(self, month: str) -> Path:
        return self.folder / month / self.keys[month]

    def describe(self, output_dir: Path, cached: Iterable[str]) -> dict[str, Any]:
        """For the manifest: the folder (relative to ``output_dir`` when inside it, so that runs into
        different output folders have equal manifests) and the months read from the cache."""
        folder = self.folder.resolve()
        inside = Path(output_dir).resolve() in folder.parents
        shown = folder.relative_to(Path(output_dir).resolve()).as_posix() if inside else str(folder)
        return {"folder": shown, "months_from_cache": sorted(cached)}

    def load(self, month: str) -> MonthValidated | None:
        """The cached outcome of ``month``, or None when there is none (or it cannot be read exactly)."""
        entry = self._entry(month)
        if not entry.exists():
            return None
        try:
            return _read_entry(entry, month, self.keys[month])
        except Exception:
            log.warning(
                "parse cache: the entry of %s in %s could not be read back exactly: ignored and rebuilt "
                "(the month is read from its workbooks again)",
                month,
                self.folder,
            )
            shutil.rmtree(entry, ignore_errors=True)
            return None

    def load_all(self) -> dict[str, MonthValidated]:
        """Every month of the run that has an entry (first removing what killed runs left behind)."""
        for month in self.keys:
            if (self.folder / month).is_dir():
                _remove_stale(self.folder / month)
        found = {month: self.load(month) for month in self.keys}
        return {month: result for month, result in found.items() if result is not None}

    def store(self, result: MonthValidated) -> bool:
        """Write the entry of ``result.month`` atomically and remove that month's other entries;
        whether it was stored. A cache that cannot be written (disk full, read-only) only costs
        speed: one warning says what happened and what to do."""
        month_folder = self.folder / result.month
        staging = month_folder / f".tmp-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            month_folder.mkdir(parents=True, exist_ok=True)
            staging.mkdir()
            _write_entry(staging, result, self.keys[result.month])
            final = self._entry(result.month)
            try:
                staging.rename(final)
            except OSError:  # another run wrote the same entry meanwhile (keep it), or a damaged one is there
                if not (final / ENTRY).is_file():
                    shutil.rmtree(final)
                    staging.rename(final)
            _remove_others(month_folder, keep=final.name)
        except Exception as error:  # a cache that cannot be written only costs speed
            problem = f" ({error.strerror.lower()})" if isinstance(error, OSError) and error.strerror else ""
            log.warning(
                "parse cache: could not save the parsed months in %s%s; the run goes on without it, and the next "
                "run reads those months again. Give a writable folder with --cache DIR, or use --no-cache.",
                self.folder,
                problem,
            )
            return False
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return True


def _stale(path: Path) -> bool:
    """A temporary entry folder of a run that is no longer running."""
    pid = path.name.split("-")[1] if path.name.startswith(".tmp-") else ""
    return pid.isdigit() and not _alive(int(pid))


def _remove_stale(month_folder: Path) -> None:
    for path in month_folder.iterdir():
        if _stale(path):
            shutil.rmtree(path, ignore_errors=True)


def _remove_others(month_folder: Path, keep: str) -> None:
    """Other keys' entries of the month, and temporary folders of runs no longer running."""
    for path in month_folder.iterdir():
        if path.name != keep and (not path.name.startswith(".tmp-") or _stale(path)):
            shutil.rmtree(path, ignore_errors=True)


def _write_entry(folder: Path, result: MonthValidated, key: str) -> None:
    frames: dict[str, Any] = {}
    for name in FRAMES:
        frame: pd.DataFrame = getattr(result, name)
        path = folder / f"{name}.parquet"
        table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
        pq.write_table(table, path)
        frames[name] = {
            "rows": len(frame),
            "columns": [str(column) for column in frame.columns],
            "dtypes": [str(dtype) for dtype in frame.dtypes],
            "sha256": _sha256(path),
        }
    document = {
        "format": FORMAT,
        "key": key,
        "month": result.month,
        "counts": result.counts,
        "rejected_policies": sorted(result.rejected_policies),
        "rejected_claims": sorted(result.rejected_claims),
        "frames": frames,
    }
    (folder / ENTRY).write_text(json.dumps(document, ensure_ascii=False, indent=1, default=int), encoding="utf-8")


def _read_entry(folder: Path, month: str, key: str) -> MonthValidated:
    document = json.loads((folder / ENTRY).read_text(encoding="utf-8"))
    if document.get("format") != FORMAT or document.get("key") != key or document.get("month") != month:
        raise ValueError("entry of another key, month or format")
    frames = {}
    for name in FRAMES:
        spec = document["frames"][name]
        path = folder / f"{name}.parquet"
        if _sha256(path) != spec["sha256"]:
            raise ValueError(f"{path.name} differs from what was written")
        frame = pq.read_table(path).to_pandas()
        if list(frame.columns) != spec["columns"] or len(frame) != spec["rows"]:
            raise ValueError(f"{path.name} has other columns or rows than were written")
        frames[name] = frame.astype(dict(zip(spec["columns"], spec["dtypes"], strict=True)))
    return MonthValidated(
        month=month,
        policies=frames["policies"],
        claims=frames["claims"],
        lines=frames["lines"],
        rejected=frames["rejected"],
        counts=[dict(row) for row in document["counts"]],
        rejected_policies=frozenset(document["rejected_policies"]),
        rejected_claims=frozenset(document["rejected_claims"]),
    )
