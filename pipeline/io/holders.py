"""The read stage over cover-holders (LAYOUTS.md): for each cover-holder of the input, its month
files up to M (through its layout or as the contract names them), its parse cache and the months
it served, the row-checked sheets of the other months; the checks that stop a run with nothing to read, and
what the manifest says of each cover-holder and cache.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import FatalInputError
from pipeline.io.cache import ParseCache
from pipeline.io.find import BordereauFiles
from pipeline.io.inventory import MONTH_FOLDER
from pipeline.io.layouts import CoverHolder, coverholder_bordereaux, months_with_no_bordereau
from pipeline.products import ProductBook
from pipeline.tables import MonthValidated, RowChecked

log = logging.getLogger(__name__)


@dataclass
class HolderRead:
    """One cover-holder's part of the read stage: its files up to M, its parse cache, the months
    the cache served, the months read and the rows they held (``counted``, as the engine's read step
    gives them); its month folders where no bordereau was found."""

    holder: CoverHolder
    found: BordereauFiles
    empty_months: tuple[str, ...]
    cache: ParseCache | None
    cached: dict[str, MonthValidated]
    months_read: list[str] = field(default_factory=list)
    rows_read: int = 0
    served: tuple[str, ...] = ()
    """The months the cache served (``cached``'s months, kept once their outcomes are let go)."""

    @classmethod
    def of(cls, holder: CoverHolder, month: str, cache_root: Path, book: ProductBook, *, use_cache: bool) -> HolderRead:
        found = coverholder_bordereaux(holder, month)
        cache = None
        if use_cache and found.months:
            folder = cache_root / holder.code if holder.prefix else cache_root
            cache = ParseCache.open(folder, found, book.folder, holder.layout.sha256 if holder.layout else "")
        cached = cache.load_all() if cache else {}
        return cls(holder, found, months_with_no_bordereau(holder, found), cache, cached, served=tuple(cached))

    def outcomes_let_go(self) -> None:
        """Let go of the cached months' outcomes once the history holds them: from then on only
        ``served`` says which months the cache gave."""
        self.cached = {}

    @property
    def months_to_read(self) -> list[str]:
        return [m for m in self.found.months if m not in self.cached]

    def counted(self, months: Iterable[tuple[str, list[RowChecked]]]) -> Iterator[tuple[str, list[RowChecked]]]:
        """The months the engine reads, each with its row-checked sheets, passed on as they come,
        counted in ``months_read`` and ``rows_read``."""
        for month, sheets in months:
            self.months_read.append(month)
            self.rows_read += sum(sheet.raw.rows_read for sheet in sheets)
            yield month, sheets

    def describe(self) -> dict[str, Any]:
        """The cover-holder for the manifest: code, name, folder, layout file and its SHA-256."""
        layout = self.holder.layout
        return {
            "coverholder": self.holder.code,
            "name": self.holder.name,
            "folder": self.holder.prefix.rstrip("/") or ".",
            "layout": str(layout.path) if layout else None,
            "layout_sha256": layout.sha256 if layout else None,
            "months_with_no_bordereau": list(self.empty_months),
        }


def check_month(input_dir: Path, month: str, holders: Sequence[CoverHolder]) -> None:
    """``month`` must be a month and a month folder of at least one cover-holder."""
    if not MONTH_FOLDER.fullmatch(month):
        raise FatalInputError("--month", f"expected a month like 2026-04, got {month!r}")
    if not any((holder.folder / month).is_dir() for holder in holders):
        where = input_dir / month if not holders[0].prefix else input_dir / f"<cover-holder>/{month}"
        raise FatalInputError(where, f"month folder for {month} missing")


def no_bordereau_warnings(input_dir: Path, reads: Sequence[HolderRead]) -> None:
    """Warn of every month folder where no bordereau was found (the files not read are named as they
    are found, :func:`~pipeline.io.layouts.coverholder_bordereaux`); stop the run when no month has
    any bordereau."""
    for read in reads:
        for folder in read.empty_months:
            log.warning("%s: no bordereau file in this month folder (nothing reported this month)", folder)
    if not any(read.found.files for read in reads):
        raise FatalInputError(
            input_dir,
            "no bordereau in any month folder: name the files policies.xlsx and claims.xlsx "
            "(DATA_CONTRACT.md) or describe them in a layout.toml (LAYOUTS.md)",
        )


def cache_description(reads: Sequence[HolderRead], output_dir: Path, several: bool) -> dict[str, Any] | None:
    """The parse cache for the manifest: one folder, or one per cover-holder."""
    described = {read.holder.code: read.cache.describe(output_dir, read.served) for read in reads if read.cache}
    if not several:
        return next(iter(described.values()), None)
    return described
