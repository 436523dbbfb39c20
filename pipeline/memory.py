"""Where Arrow's buffers come from, set once in every process that imports ``pipeline``.

pyarrow allocates its buffers from its bundled mimalloc unless told otherwise. In the claims engine,
which makes and frees many columns of millions of rows (text taken by position, dictionaries
decoded, ids looked up), that pool hands freed memory back to the kernel and asks for it again, and
on this machine the kernel zeroing fresh pages was a third of the engine's time. Arrow's *system*
pool (the C library's ``malloc``, which numpy and pandas use too) measured the engine at 10M lines
10.6–12.3 s against 14.6–16.2 s (three runs alternated, pipeline/bench/MEASUREMENTS.md § Speed),
with the same peak; whole runs are unchanged. Arrow's own ``ARROW_DEFAULT_MEMORY_POOL``, when set,
still decides.

The same cost comes back with the C library's own allocator: glibc hands every allocation above its
``mmap`` threshold (a column of 10M int64 is 80 MB) straight back to the kernel when it is freed,
so each of the engine's many temporary columns is a fresh mapping the kernel must zero again.
``freed_memory_kept`` keeps glibc's freed memory for reuse while the claims engine runs on a large
book (no ``mmap`` for large blocks, no trimming of the heap) and afterwards restores glibc's
settings and hands back every freed page at once (``malloc_trim``): the engine at 10M lines
9.4–10.4 s against 11.5–12.0 s (three runs of each alternated), a third of the page faults, the
same peak, and 0.6 GB less resident after it. Kept for the whole run instead, it raised whole runs'
peaks (forked writers inherit the kept memory); for small books the trim costs more than it saves.

Meanwhile numpy does not ask the kernel for huge pages for its arrays (``madvise(MADV_HUGEPAGE)``
on every array of 4 MiB or more, numpy's default on Linux): where the kernel gives huge pages only
on such advice (``/sys/kernel/mm/transparent_hugepage/enabled`` ``[madvise]``, and ``defrag``
``[madvise]``: it compacts memory there and then to find 2 MiB pages), the advice on arrays carved
from the kept heap cost the engine about 2 s of system time at 10M lines: 9.5–9.9 s against
11.2–11.6 s (system 0.6 against 2.1–2.9 s, the same user time and peak; three runs of each
alternated, 2026-12-05). The advice is restored with glibc's settings.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import platform
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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


KEEP_FREED_MEMORY_FROM_ROWS = 1_000_000
"""``freed_memory_kept`` acts from this many rows: below it the engine's columns are small enough for
glibc's own heap, and the final ``malloc_trim`` (tens of milliseconds on a fragmented heap) would
cost more than the page faults it saves."""
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
"""glibc's ``mallopt`` parameters (malloc.h)."""
TRIM_THRESHOLD_DEFAULT, MMAP_MAX_DEFAULT = 128 * 1024, 65536
"""glibc's defaults for them (``mallopt(3)``), restored afterwards. Once the trim threshold has been
set, glibc no longer slides its ``mmap`` threshold up as large blocks are freed (it stays where it
was); whole runs that went through the engine at a million lines measured no slower for it."""
KEPT_TRIM_THRESHOLD = 2**31 - 1
"""The trim threshold while memory is kept: the largest ``mallopt`` takes (2 GiB of free heap)."""
_keeping = False
"""Whether a ``freed_memory_kept`` is acting now (an inner one then changes nothing)."""


def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (``mallopt`` and ``malloc_trim``), else None."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    return ctypes.CDLL("libc.so.6")


GLIBC = _glibc()


def _numpy_huge_pages_switch() -> Callable[[bool], bool] | None:
    """numpy's switch for advising huge pages for its arrays' data (``_set_madvise_hugepage``: takes
    whether to advise, returns whether it did; what ``NUMPY_MADVISE_HUGEPAGE`` sets when numpy is
    imported), or None where this numpy keeps it elsewhere (nothing is switched then). Not a public
    API: a test checks it is found."""
    for module in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            switch = getattr(importlib.import_module(module), "_set_madvise_hugepage", None)
        except ImportError:
            continue
        if switch is not None:
            return switch  # type: ignore[no-any-return]
    return None


NUMPY_HUGE_PAGES = _numpy_huge_pages_switch()


def _large(rows: int) -> bool:
    """Whether a step over ``rows`` rows is large enough for glibc's freed memory to be worth keeping
    or trimming (``KEEP_FREED_MEMORY_FROM_ROWS``)."""
    return rows >= KEEP_FREED_MEMORY_FROM_ROWS


@contextmanager
def freed_memory_kept(rows: int) -> Iterator[None]:
    """For a step over ``rows`` rows (at least ``KEEP_FREED_MEMORY_FROM_ROWS``, with glibc; else
    nothing changes): glibc keeps what is freed for the next allocation instead of returning it to
    the kernel (large blocks from its heap, not their own mappings; the heap never trimmed) and
    numpy advises no huge pages for its arrays (``NUMPY_HUGE_PAGES``); at the end both are restored
    and every free page handed back (``malloc_trim``). Nested uses act once, at the outermost."""
    global _keeping
    acting = GLIBC if _large(rows) and not _keeping else None
    huge_pages_advised = None
    if acting is not None:
        _keeping = True
        acting.mallopt(M_MMAP_MAX, 0)
        acting.mallopt(M_TRIM_THRESHOLD, KEPT_TRIM_THRESHOLD)
        if NUMPY_HUGE_PAGES is not None:
            huge_pages_advised = NUMPY_HUGE_PAGES(False)
    try:
        yield
    finally:
        if acting is not None:
            if NUMPY_HUGE_PAGES is not None and huge_pages_advised is not None:
                NUMPY_HUGE_PAGES(huge_pages_advised)
            acting.mallopt(M_MMAP_MAX, MMAP_MAX_DEFAULT)
            acting.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_DEFAULT)
            freed_memory_returned()
            _keeping = False


def freed_memory_returned() -> None:
    """Every page glibc holds free handed back to the kernel (``malloc_trim``; nothing with another C
    library). glibc returns only the free space at the top of its heap by itself; what a run frees
    in the middle of it (a table let go while later ones live on) stays resident until trimmed, and
    processes forked then would share it for nothing."""
    if GLIBC is not None:
        GLIBC.malloc_trim(0)


def freed_memory_returned_after(rows: int) -> None:
    """``freed_memory_returned`` after a step that made copies of ``rows`` rows and let them go, when
    the step was large (the threshold of ``freed_memory_kept``); below it nothing: the trim would cost
    more than it hands back."""
    if _large(rows):
        freed_memory_returned()
