"""``python -m pipeline.sample`` (and ``python -m pipeline sample``): write the sample book."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pipeline.sample.book import FORMATS, generate_book
from pipeline.sample.coverholder import CODE as SECOND_CODE
from pipeline.sample.coverholder import generate_foreign_book

FIRST_CODE = "tokyo-agency"  # the first cover-holder's folder with --coverholders (the contract's layout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.sample",
        description="Write a deterministic sample book of monthly bordereaux (policies.xlsx, claims.xlsx per month).",
    )
    parser.add_argument("--output", required=True, type=Path, help="folder to write the month folders into")
    parser.add_argument("--policies", type=int, default=600, help="number of policies (default 600)")
    parser.add_argument("--seed", type=int, default=2026, help="random seed (default 2026)")
    parser.add_argument("--first-month", default="2026-04", help="first bordereau month YYYY-MM (default 2026-04)")
    parser.add_argument("--months", type=int, default=12, help="number of monthly bordereaux (default 12)")
    parser.add_argument("--clean", action="store_true", help="canonical headers and spellings, no bad rows")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="xlsx",
        help="xlsx (default) or parquet: policies/claims/lines.parquet per month (with --clean only)",
    )
    parser.add_argument(
        "--coverholders",
        action="store_true",
        help=f"two cover-holders (LAYOUTS.md): the book in <output>/{FIRST_CODE}/ and a second cover-holder "
        f"in its own layout in <output>/{SECOND_CODE}/ (the committed sample_data/)",
    )
    args = parser.parse_args(argv)
    if args.policies < 1 or args.months < 1:
        parser.error("--policies and --months must be at least 1")
    if args.format == "parquet" and not (args.clean and not args.coverholders):
        parser.error("--format parquet writes a clean book of one cover-holder: add --clean, leave out --coverholders")
    started = time.perf_counter()
    result = generate_book(
        args.output / FIRST_CODE if args.coverholders else args.output,
        policies=args.policies,
        seed=args.seed,
        first_month=args.first_month,
        months=args.months,
        messy=not args.clean,
        file_format=args.format,
    )
    if args.coverholders:
        second = generate_foreign_book(args.output / SECOND_CODE, first_month=args.first_month, months=args.months)
        result["files"] += [f"{SECOND_CODE}/{name}" for name in second["files"]]
        result["bad_rows"] += second["bad_rows"]
    elapsed = time.perf_counter() - started
    print(
        f"wrote {len(result['files'])} files to {args.output} in {elapsed:.1f} s: "
        f"{result['policies']} policies, {result['claims']} claims, {result['lines']} lines, "
        f"{len(result['bad_rows'])} intended bad rows",
        file=sys.stderr,
    )
    return 0
