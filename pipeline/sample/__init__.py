"""Deterministic generator of sample bordereaux in the input format of DATA_CONTRACT.md.

``generate_book(output_dir, policies=600, seed=2026, first_month="2026-04", months=12, messy=True)``
writes ``<output_dir>/<YYYY-MM>/policies.xlsx`` (sheet ``policies``) and ``claims.xlsx`` (sheets
``claims`` and ``lines``) for each month and returns counts, including the intended bad rows.
``main(argv)`` is the command line (``python -m pipeline.sample --output DIR``).

Modules: ``policies`` and ``claims`` draw the book as numpy columns, ``messy`` and ``bad_rows`` make
it look typed by people, ``xlsx`` writes it, ``book`` puts the months together.
"""

from pipeline.sample.book import generate_book
from pipeline.sample.cli import main

__all__ = ["generate_book", "main"]

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
