"""Arrow's pool: the system allocator in every process that imports ``pipeline``, unless Arrow's own
environment variable names another; glibc keeping freed memory and numpy advising no huge pages
while the claims engine runs on a large book, and both restored after (pipeline/memory.py)."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given

from pipeline import memory
from pipeline.memory import POOL_VARIABLE
from pipeline.stages.waterfall import adjudicated_lines, line_payables
from tests.commands import python_prints
from tests.property.strategies import PRODUCTS, Book, books, reproducible

SHOW_POOL = "import pipeline, pyarrow; print(pyarrow.default_memory_pool().backend_name)"


def pool_after_import(variable: str | None) -> str:
    """The backend of Arrow's default pool in a fresh interpreter that imported ``pipeline``."""
    environment = {key: value for key, value in os.environ.items() if key != POOL_VARIABLE}
    if variable is not None:
        environment[POOL_VARIABLE] = variable
    return python_prints(SHOW_POOL, env=environment)


def test_importing_pipeline_puts_arrow_on_the_system_allocator() -> None:
    assert pool_after_import(None) == "system"


@pytest.mark.parametrize("backend", ["mimalloc", "jemalloc"])
def test_arrows_own_variable_still_decides(backend: str) -> None:
    assert pool_after_import(backend) == backend


class MallocInfo(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (malloc.h)."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in [
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        ]
    ]


needs_glibc = pytest.mark.skipif(memory.GLIBC is None, reason="glibc's allocator only (mallopt, malloc_trim)")
LARGE = 64 * 1024 * 1024  # far above glibc's mmap threshold (at most 32 MiB)


def glibc_info() -> MallocInfo:
    """glibc's ``mallinfo2()``: its blocks and free memory, every arena summed."""
    assert memory.GLIBC is not None
    memory.GLIBC.mallinfo2.restype = MallocInfo
    return memory.GLIBC.mallinfo2()


def mapped_while_held() -> int:
    """How many more blocks glibc maps while a large array is held (1: its own mapping; 0: the
    heap). The array is larger than all the memory glibc holds free (``fordblks``, the heap's top
    included): a free block left in the heap by an earlier test in this process (a run of a million
    rows frees large blocks in the middle of it) would hold a smaller one whatever the settings, and
    the test would depend on what ran before it. ``np.empty``: its pages are never touched."""
    before = glibc_info()
    block = np.empty(LARGE + int(before.fordblks), dtype=np.uint8)
    held = int(glibc_info().hblks) - int(before.hblks)
    del block
    return held


@needs_glibc
def test_a_large_step_takes_large_blocks_from_the_heap_and_glibc_is_restored_after() -> None:
    assert mapped_while_held() == 1
    with memory.freed_memory_kept(memory.KEEP_FREED_MEMORY_FROM_ROWS):
        assert mapped_while_held() == 0
        with memory.freed_memory_kept(memory.KEEP_FREED_MEMORY_FROM_ROWS):  # nested: acts once
            assert mapped_while_held() == 0
        assert mapped_while_held() == 0
    assert mapped_while_held() == 1


def test_numpys_huge_page_switch_is_found() -> None:
    """The switch is not a public API of numpy: an upgrade that moves it fails here, not silently."""
    assert memory.NUMPY_HUGE_PAGES is not None
    advised = huge_pages_advised()
    assert memory.NUMPY_HUGE_PAGES(not advised) is advised
    assert memory.NUMPY_HUGE_PAGES(advised) is (not advised)


def huge_pages_advised() -> bool:
    """Whether numpy advises huge pages for its arrays now (read by switching it and back)."""
    assert memory.NUMPY_HUGE_PAGES is not None
    advised = memory.NUMPY_HUGE_PAGES(True)
    memory.NUMPY_HUGE_PAGES(advised)
    return advised


@pytest.fixture
def advising_huge_pages() -> Iterator[None]:
    """numpy advising huge pages (its default on Linux) for the test, as it was after it."""
    assert memory.NUMPY_HUGE_PAGES is not None
    before = memory.NUMPY_HUGE_PAGES(True)
    yield
    memory.NUMPY_HUGE_PAGES(before)


@needs_glibc
def test_a_large_step_advises_no_huge_pages_and_the_advice_is_restored_after(advising_huge_pages: None) -> None:
    with memory.freed_memory_kept(memory.KEEP_FREED_MEMORY_FROM_ROWS):
        assert not huge_pages_advised()
        with memory.freed_memory_kept(memory.KEEP_FREED_MEMORY_FROM_ROWS):
            assert not huge_pages_advised()
        assert not huge_pages_advised()
    assert huge_pages_advised()


@needs_glibc
def test_a_small_step_changes_nothing(advising_huge_pages: None) -> None:
    with memory.freed_memory_kept(memory.KEEP_FREED_MEMORY_FROM_ROWS - 1):
        assert mapped_while_held() == 1
        assert huge_pages_advised()


@needs_glibc
def test_glibc_and_numpy_are_restored_when_the_step_fails(advising_huge_pages: None) -> None:
    with pytest.raises(RuntimeError), memory.freed_memory_kept(memory.KEEP_FREED_MEMORY_FROM_ROWS):
        raise RuntimeError("a stage failed")
    assert mapped_while_held() == 1
    assert huge_pages_advised()


@needs_glibc
@reproducible(10, suppressed=(HealthCheck.too_slow,))
@given(book=books(max_portfolios=10))
def test_the_engine_gives_the_same_lines_with_freed_memory_kept(book: Book) -> None:
    """Both stages act on a book of any size (here every book counts as large): the same frames,
    and glibc restored after."""
    frames = book.frames()
    plain = {stage: stage(*frames, PRODUCTS) for stage in (adjudicated_lines, line_payables)}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(memory, "KEEP_FREED_MEMORY_FROM_ROWS", 1)
        for stage, expected in plain.items():
            pd.testing.assert_frame_equal(stage(*frames, PRODUCTS), expected)
    assert mapped_while_held() == 1


def test_every_stage_of_a_run_hands_glibcs_freed_pages_back_at_its_end(monkeypatch) -> None:
    """What a stage let go (the history, the views, the engine's columns) is handed back to the
    kernel once the stage is done, before the next stage's tables are made (a claims stage at 5M
    lines started 0.9 GB higher without it): once per stage, after the stage's own work."""
    import pipeline.run as run

    events: list[str] = []
    monkeypatch.setattr(run, "freed_memory_returned", lambda: events.append("handed back"))
    stages = run.Stages(2)
    with stages.stage("versions"):
        events.append("versions")
    with stages.stage("triangle"):
        events.append("triangle")
    stages.close()
    assert events == ["versions", "handed back", "triangle", "handed back"]
