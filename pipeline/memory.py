"""Where Arrow's buffers come from, set once in every process that imports ``pipeline``.

pyarrow allocates its buffers from its bundled mimalloc unless told otherwise. In the claims engine,
which makes and frees many columns of millions of rows (text taken by position, dictionaries
decoded, ids looked up), that pool hands freed memory back to the kernel and asks for it again, and
on this machine the kernel zeroing fresh pages was a third of the engine's time. Arrow's *system*
pool (the C library's ``malloc``, which numpy and pandas use too) measured the engine at 10M lines
10.6–12.3 s against 14.6–16.2 s (three runs alternated, README § Speed), with the same peak; whole
runs are unchanged. Arrow's own ``ARROW_DEFAULT_MEMORY_POOL``, when set, still decides.
"""

from __future__ import annotations

import os

import pyarrow as pa

POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"
"""Arrow's environment variable naming its default pool (``system``, ``mimalloc``, ``jemalloc``)."""


def arrow_pool_chosen() -> pa.MemoryPool:
    """The pool Arrow allocates from in this process: the system pool unless ``POOL_VARIABLE`` names
    one, in which case Arrow's own choice stands. Made the default pool when ``pipeline`` is
    imported, so the run, its forked readers and writers, Dask workers and the bench all use it."""
    if os.environ.get(POOL_VARIABLE):
        return pa.default_memory_pool()
    pool = pa.system_memory_pool()
    pa.set_memory_pool(pool)
    return pool
