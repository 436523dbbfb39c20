"""``python -m pipeline.sample`` (and ``python -m pipeline sample``): write the sample book."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pipeline.sample.book import generate_book


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
    args = parser.parse_args(argv)
    if args.policies < 1 or args.months < 1:
        parser.error("--policies and --months must be at least 1")
    started = time.perf_counter()
    result = generate_book(
        args.output,
        policies=args.policies,
        seed=args.seed,
        first_month=args.first_month,
        months=args.months,
        messy=not args.clean,
    )
    elapsed = time.perf_counter() - started
    print(
        f"wrote {len(result['files'])} workbooks to {args.output} in {elapsed:.1f} s: "
        f"{result['policies']} policies, {result['claims']} claims, {result['lines']} lines, "
        f"{len(result['bad_rows'])} intended bad rows",
        file=sys.stderr,
    )
    return 0
