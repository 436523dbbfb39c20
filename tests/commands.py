"""Run the command line as a user does: ``python -m pipeline ...`` in a subprocess."""

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
