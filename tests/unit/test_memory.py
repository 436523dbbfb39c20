"""Arrow's pool: the system allocator in every process that imports ``pipeline``, unless Arrow's own
environment variable names another (pipeline/memory.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pipeline.memory import POOL_VARIABLE

SHOW_POOL = "import pipeline, pyarrow; print(pyarrow.default_memory_pool().backend_name)"


def pool_after_import(variable: str | None) -> str:
    """The backend of Arrow's default pool in a fresh interpreter that imported ``pipeline``."""
    environment = {key: value for key, value in os.environ.items() if key != POOL_VARIABLE}
    if variable is not None:
        environment[POOL_VARIABLE] = variable
    done = subprocess.run(
        [sys.executable, "-c", SHOW_POOL], capture_output=True, text=True, env=environment, check=True
    )
    return done.stdout.strip()


def test_importing_pipeline_puts_arrow_on_the_system_allocator() -> None:
    assert pool_after_import(None) == "system"


@pytest.mark.parametrize("backend", ["mimalloc", "jemalloc"])
def test_arrows_own_variable_still_decides(backend: str) -> None:
    assert pool_after_import(backend) == backend
