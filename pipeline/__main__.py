"""Command line: ``python -m pipeline run --input DIR --month YYYY-MM --output DIR`` and
``python -m pipeline sample ...`` (DATA_CONTRACT.md § Run).

Exit codes: 0 when outputs were produced (even with rejected rows); 2 with one line
``error: <file>: <problem>`` on stderr when the input or product data cannot be processed, or a
file cannot be read or written (permissions, disk full); 70 with one line
``error: internal error: <Exception>: <message> (please report)`` on any other error, which is a
bug; 130 when interrupted (Ctrl-C) and 143 when terminated (SIGTERM). A user never sees a
traceback; set ``PIPELINE_TRACEBACK=1`` to have it printed after the error line (for a bug report).
An interrupted or failed run leaves the previous outputs in place (pipeline.io.outputs).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import signal
import sys
import threading
import traceback
from pathlib import Path
from types import FrameType

from pipeline.errors import FatalInputError
from pipeline.products import ProductDataError

EXIT_FATAL = 2
EXIT_INTERNAL = 70  # sysexits EX_SOFTWARE
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
TRACEBACK_VARIABLE = "PIPELINE_TRACEBACK"


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that a run cleans up its temporary outputs."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated


SIGNALS_OF = {Terminated: signal.SIGTERM, KeyboardInterrupt: signal.SIGINT}
"""The exception each stopping signal raises in the main thread."""
AGAIN_AFTER = 0.01
"""Seconds after which a stopping signal Python could not raise is sent again."""


def _quiet_unraisable(unraisable: sys.UnraisableHookArgs) -> None:
    """An exception Python cannot raise (one in a ``__del__``, e.g. ``ZipFile.__del__`` closing a
    half-written workbook on a full disk) prints nothing: the error that stopped the run has its one
    line already. ``PIPELINE_TRACEBACK=1`` shows it. A SIGTERM or Ctrl-C that came while Python ran
    such code is not lost (``_signal_again``)."""
    for stopped, signum in SIGNALS_OF.items():
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type, stopped):
            _signal_again(signum)
    if os.environ.get(TRACEBACK_VARIABLE):
        sys.__unraisablehook__(unraisable)


def _signal_again(signum: int) -> None:
    """Send ``signum`` to the main thread again a moment later, from a thread of its own. Its
    exception was raised where Python cannot raise it and ignored: in the handlers Python runs
    around ``fork`` (a run forks its readers and writers: a SIGTERM that came then was lost and the
    run went on to the end with exit 0), or in a ``__del__``; sent again, it stops the run where
    the run is by then."""
    main = threading.main_thread().ident
    if main is None:
        return
    again = threading.Timer(AGAIN_AFTER, signal.pthread_kill, (main, signum))
    again.daemon = True
    again.start()


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _error(message: str) -> None:
    print(f"error: {_one_line(message)}", file=sys.stderr)
    if os.environ.get(TRACEBACK_VARIABLE):
        traceback.print_exc(file=sys.stderr)


_STAGING = re.compile(r"\.(?:tmp|old)-(\d{4}-\d{2})-\d+(?=/|$)")


def _user_path(name: object) -> str:
    """A path as the user knows it: the run's internal staging folder ``<output>/.tmp-<month>-<pid>``
    is named as the month folder it becomes, ``<output>/<month>``."""
    return _STAGING.sub(r"\1", os.fsdecode(name) if isinstance(name, bytes | os.PathLike) else str(name))


def _os_error(error: OSError) -> str:
    """``<file>: <problem>`` for an error of the operating system (a file that cannot be read or
    written), naming the user's folders, never the run's internal ones."""
    names = [_user_path(name) for name in (error.filename, error.filename2) if name]
    problem = error.strerror or type(error).__name__
    if not names:
        return f"{problem} (the disk or a folder may be full, read-only or not permitted)"
    return f"{' -> '.join(names)}: {problem}"


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
        "--month",
        default=None,
        metavar="YYYY-MM",
        help="the month to report as at (its folder must exist; default: the latest month folder of --input)",
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
    run.add_argument(
        "--engine",
        choices=("pandas", "dask"),
        default="pandas",
        help="where the claims are adjudicated: in this process (pandas, default) or on a dask.distributed cluster",
    )
    run.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="with --engine dask: the scheduler of an existing cluster, e.g. tcp://host:8786 "
        "(default: a LocalCluster sized to this machine)",
    )
    run.add_argument(
        "--worker-memory",
        metavar="SIZE",
        default=None,
        help="with --engine dask and no --scheduler: each worker's memory limit on the run's LocalCluster, e.g. "
        "6GiB; past 60%% of it a worker spills what it holds to disk (default: an equal share of 80%% of this "
        "machine's memory)",
    )
    caching = run.add_mutually_exclusive_group()
    caching.add_argument(
        "--cache",
        type=Path,
        metavar="DIR",
        default=None,
        help="parse cache folder: months already parsed and validated are not read again (default: <output>/.cache)",
    )
    caching.add_argument(
        "--no-cache", action="store_true", help="read and validate every month; neither use nor write the cache"
    )
    commands.add_parser(
        "sample",
        add_help=False,
        help="generate deterministic sample bordereaux (see: python -m pipeline sample --help)",
    )
    return parser


def _run(args: argparse.Namespace) -> int:
    from pipeline.io.layouts import latest_input_month
    from pipeline.run import run_month

    result = run_month(
        args.input,
        args.month or latest_input_month(args.input),
        args.output,
        products_dir=args.products,
        lang=args.lang,
        cache_dir=args.cache,
        use_cache=not args.no_cache,
        engine=args.engine,
        scheduler=args.scheduler,
        worker_memory=args.worker_memory,
    )
    print(f"Reconciliation as at {result.month} (rows read = rows processed + rows rejected)")
    print(result.reconciliation.to_string(index=False))
    print(f"outputs: {result.output_folder}")
    return 0


def _main(argv: list[str]) -> int:
    if argv[:1] == ["sample"]:
        from pipeline.sample import main as sample_main

        return sample_main(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    if args.scheduler and args.engine != "dask":
        parser.error("--scheduler needs --engine dask")
    if args.worker_memory is not None:
        if args.engine != "dask":
            parser.error("--worker-memory needs --engine dask")
        from pipeline.engine.cluster import worker_memory_bytes

        try:
            args.worker_memory = worker_memory_bytes(args.worker_memory, args.scheduler)
        except ValueError as error:
            parser.error(f"--worker-memory: {error}")
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    return _run(args)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code. Every failure ends as one ``error:`` line on stderr."""
    argv = list(sys.argv[1:] if argv is None else argv)
    previous = None
    sys.unraisablehook = _quiet_unraisable
    with contextlib.suppress(ValueError):  # not the main thread (e.g. called from a test runner thread)
        previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _main(argv)
    except (FatalInputError, ProductDataError) as error:
        _error(str(error))
        return EXIT_FATAL
    except OSError as error:
        _error(_os_error(error))
        return EXIT_FATAL
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except Terminated:
        _error("terminated")
        return EXIT_TERMINATED
    except Exception as error:
        detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        _error(f"internal error: {detail} (please report)")
        return EXIT_INTERNAL
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
