"""The sweep (CASES.md § Sweep): every input of the hostile corpus — the fatal files of
``test_files.py``, the cell workbooks of ``test_cells.py``, the rows of ``test_rows.py`` and the cases
found outside the corpus (``outside.py``) — through the command line's ``main``, each in a forked
child with its own stdout and stderr (file descriptors, so that a Rust panic or an abort is caught
too): the process exits only with a documented code, 0 (outputs written) or 2 (the input or the
environment cannot be processed), is never killed by a signal, and prints no traceback, panic or
backtrace text. Forking from this already-warm interpreter keeps the sweep to about a second a case.
"""

from __future__ import annotations

import faulthandler
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from schemas.claims import CLAIM_KINDS
from schemas.lines import LINE_KINDS
from tests.hostile import test_cells, test_files, test_rows
from tests.hostile.corpus import MONTH, table, valid_month, write_openpyxl, write_xlsxwriter
from tests.hostile.outside import CASES as OUTSIDE
from tests.hostile.test_outside import SLOW
from tests.workbooks import write_bordereau

#: The exit codes the command line documents for a run that is not interrupted (pipeline/__main__.py).
DOCUMENTED = {0: "outputs written", 2: "the input or the environment cannot be processed"}
FORBIDDEN = ("Traceback", "panicked", "stack backtrace", "RUST_BACKTRACE", "Exception ignored", "Fatal Python")


def _cells(writer: str) -> Callable[[Path], object]:
    def build(folder: Path) -> None:
        rows, merged, _ = test_cells._rows(writer)
        path = folder / MONTH / "policies.xlsx"
        if writer == "xlsxwriter":
            write_xlsxwriter(path, {"policies": rows})
        else:
            write_openpyxl(path, {"policies": rows}, merged={"policies": merged})

    return build


def _rows(folder: Path) -> None:
    write_bordereau(folder, MONTH, policies=test_rows.POLICIES)
    write_openpyxl(
        folder / MONTH / "claims.xlsx",
        {"claims": table(list(CLAIM_KINDS), test_rows.CLAIMS), "lines": table(list(LINE_KINDS), test_rows.LINES)},
    )


def corpus() -> dict[str, tuple[Callable[[Path], object], str | None]]:
    """Every input of the corpus: name -> (what breaks a valid month folder, --month or None)."""
    inputs: dict[str, tuple[Callable[[Path], object], str | None]] = {
        f"file: {name}": (build, MONTH) for name, build in test_files.FATAL.items()
    }
    inputs |= {"cells: xlsxwriter": (_cells("xlsxwriter"), MONTH), "cells: openpyxl": (_cells("openpyxl"), MONTH)}
    inputs["rows"] = (_rows, MONTH)
    for name, build in OUTSIDE.items():
        if name not in SLOW:
            inputs[f"outside: {name}"] = (build, MONTH)
    return inputs


def _run_forked(args: list[str], folder: Path) -> tuple[int, str]:
    """``python -m pipeline *args`` as a forked child of this process: (exit status as the shell
    gives it, 128 + the signal when killed; stdout and stderr)."""
    from pipeline.__main__ import main

    output = folder / "output.txt"
    pid = os.fork()
    if pid == 0:  # the child: its own descriptors 1 and 2, a fresh logging set-up, never back to pytest
        code = 99
        try:
            descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(descriptor, 1)
            os.dup2(descriptor, 2)
            sys.stdout = sys.stderr = open(descriptor, "w", buffering=1, closefd=False)  # noqa: SIM115
            logging.root.handlers.clear()
            faulthandler.disable()  # pytest's: it would print on pytest's own stderr, not the child's
            os.environ.pop("PIPELINE_TRACEBACK", None)
            code = main(args)
        finally:
            sys.stdout.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return (128 - code if code < 0 else code), output.read_text(encoding="utf-8", errors="replace")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_no_corpus_input_ends_in_anything_but_a_documented_exit(tmp_path: Path) -> None:
    outcomes: dict[str, int] = {}
    problems: list[str] = []
    for number, (name, (build, month)) in enumerate(corpus().items()):
        folder = valid_month(tmp_path / f"case-{number}" / "in")
        build(folder)
        args = ["run", "--input", str(folder), "--output", str(tmp_path / f"case-{number}" / "out")]
        code, text = _run_forked([*args, *(["--month", month] if month else [])], tmp_path / f"case-{number}")
        outcomes[name] = code
        if code not in DOCUMENTED:
            problems.append(f"{name}: exit {code}: {text[-500:]}")
        problems.extend(f"{name}: {word!r} in the output" for word in FORBIDDEN if word in text)
        if code == 2 and sum(line.startswith("error:") for line in text.splitlines()) != 1:
            problems.append(f"{name}: exit 2 without exactly one error line: {text[-500:]}")
    assert not problems, "\n".join(problems)
    assert len(outcomes) > 30 and set(outcomes.values()) == {0, 2}  # both endings occur: the sweep sweeps


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_the_sweep_sees_an_abort_and_a_panic(tmp_path, monkeypatch):
    """What the sweep looks for is seen: a process killed by SIGABRT (the far cell's Rust abort) is
    exit 134, and what the child writes on its descriptor 2 is read."""
    import pipeline.__main__

    def panicking(args: list[str]) -> int:
        os.write(2, b"thread '<unnamed>' panicked at src/lib.rs\n")
        os.abort()

    monkeypatch.setattr(pipeline.__main__, "main", panicking)
    code, text = _run_forked(["run"], tmp_path)
    assert code == 134 and "panicked" in text
