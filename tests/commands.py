"""Run the command line as a user does: ``python -m pipeline ...`` in a subprocess; and a few lines
of Python in a fresh interpreter (what a process that has imported nothing yet does)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cli(
    *args: str | Path, timeout: float = 120, environment: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m pipeline *args`` from the project folder, with ``environment`` added to this
    process's; tracebacks stay hidden as for users."""
    env = {**os.environ, **(environment or {}), "PYTHONPATH": str(ROOT)}
    env.pop("PIPELINE_TRACEBACK", None)
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
    )


def python_prints(code: str, env: dict[str, str] | None = None, timeout: float = 120) -> str:
    """What ``code`` prints, run by this interpreter in a fresh process from the project folder
    (``env``: its whole environment, by default this process's)."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout, check=True
    )
    return done.stdout.strip()
