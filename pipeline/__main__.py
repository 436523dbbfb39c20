"""Command line: ``python -m pipeline run --input DIR --month YYYY-MM --output DIR`` and
``python -m pipeline sample ...`` (DATA_CONTRACT.md § Run).

Exit codes: 0 when outputs were produced (even with rejected rows); 2 with one line
``error: <file>: <problem>`` on stderr when the input or product data cannot be processed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from pipeline.errors import FatalInputError
from pipeline.products import ProductDataError

EXIT_FATAL = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline",
        description="cyber-bordereaux: validate, price and settle Japanese cyber-insurance bordereaux as at a month.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{run,sample}")
    run = commands.add_parser(
        "run",
        help="process every month folder up to --month and write <output>/<month>/",
        description=(
            "Read <input>/YYYY-MM/policies.xlsx and claims.xlsx for every month up to --month, validate them "
            "(bad rows go to rejected.xlsx, never stop the run) and write the month's outputs atomically "
            "to <output>/<month>/. Exit 0 when outputs were written, 2 when the input cannot be processed."
        ),
        epilog="example: python -m pipeline run --input sample_data --month 2026-06 --output output",
    )
    run.add_argument("--input", required=True, type=Path, metavar="DIR", help="folder of YYYY-MM month folders")
    run.add_argument(
        "--month", required=True, metavar="YYYY-MM", help="the month to report as at (its folder must exist)"
    )
    run.add_argument("--output", required=True, type=Path, metavar="DIR", help="outputs go to DIR/YYYY-MM/")
    run.add_argument(
        "--products",
        type=Path,
        metavar="DIR",
        default=None,
        help="product and treaty data folder (default: the shipped pipeline/products/data)",
    )
    run.add_argument("--lang", choices=("en", "ja"), default="en", help="language of output labels (default: en)")
    commands.add_parser(
        "sample",
        add_help=False,
        help="generate deterministic sample bordereaux (see: python -m pipeline sample --help)",
    )
    return parser


def _run(args: argparse.Namespace) -> int:
    from pipeline.run import run_month

    result = run_month(args.input, args.month, args.output, products_dir=args.products, lang=args.lang)
    print(f"Reconciliation as at {result.month} (rows read = rows processed + rows rejected)")
    print(result.reconciliation.to_string(index=False))
    print(f"outputs: {result.output_folder}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sample"]:
        from pipeline.sample import main as sample_main

        return sample_main(argv[1:])
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        return _run(args)
    except (FatalInputError, ProductDataError) as error:
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return EXIT_FATAL
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
