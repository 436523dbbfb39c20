"""The pool of forked processes that reads a large book's files and writes a run's outputs
(``pipeline.forked``): results by key in the tasks' order, whatever order they start and finish in;
the first failing task in that order raises; one process, or no pool, runs them here."""

from __future__ import annotations

import gc
import os
import time
import weakref
from functools import partial
from pathlib import Path

import pytest

from pipeline import forked
from pipeline.errors import FatalInputError
from pipeline.forked import Started, processes_from


def _pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def test_results_come_back_by_key_in_the_order_of_the_tasks() -> None:
    tasks = {key: (lambda key=key: (key, _pid_after(0.05 * (3 - key)))) for key in range(4)}
    results = Started(tasks, processes=2, start=[3, 2, 1, 0]).results()
    assert list(results) == [0, 1, 2, 3]
    assert [key for key, _ in results.values()] == [0, 1, 2, 3]
    pids = {pid for _, pid in results.values()}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2


def test_one_process_runs_the_tasks_here_in_order() -> None:
    ran: list[int] = []

    def task(key: int) -> int:
        ran.append(key)
        return os.getpid()

    tasks = {key: (lambda key=key: task(key)) for key in range(3)}
    assert Started(tasks, processes=1, start=[2, 1, 0]).results() == {0: os.getpid(), 1: os.getpid(), 2: os.getpid()}
    assert ran == [0, 1, 2]


def _fails(name: str, seconds: float) -> None:
    time.sleep(seconds)
    raise FatalInputError(name, "cannot be read")


def test_the_first_failing_task_in_the_tasks_order_raises_whichever_fails_first() -> None:
    tasks = {
        "a": lambda: os.getpid(),
        "b": lambda: _fails("b.xlsx", 0.3),  # fails last
        "c": lambda: _fails("c.xlsx", 0.0),  # fails first
    }
    with pytest.raises(FatalInputError, match=r"^b\.xlsx: cannot be read$"):
        Started(tasks, processes=2).results()


def test_without_a_pool_the_tasks_run_here(monkeypatch, caplog) -> None:
    def refuse(*args, **kwargs):
        raise OSError("no semaphores here")

    monkeypatch.setattr(forked, "ProcessPoolExecutor", refuse)
    assert Started({"a": os.getpid, "b": os.getpid}, processes=2).results() == {"a": os.getpid(), "b": os.getpid()}
    assert "no process pool (no semaphores here)" in caplog.text


def test_the_number_of_processes_is_read_from_its_variable(monkeypatch) -> None:
    monkeypatch.delenv("PIPELINE_TEST_PROCESSES", raising=False)
    assert processes_from("PIPELINE_TEST_PROCESSES", 5) == 5
    monkeypatch.setenv("PIPELINE_TEST_PROCESSES", " 3 ")
    assert processes_from("PIPELINE_TEST_PROCESSES", 5) == 3
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("PIPELINE_TEST_PROCESSES", bad)
        with pytest.raises(FatalInputError, match=r"^PIPELINE_TEST_PROCESSES: expected a whole number from 1"):
            processes_from("PIPELINE_TEST_PROCESSES", 5)


def test_each_result_comes_as_soon_as_it_and_those_before_it_have_ended(tmp_path) -> None:
    """``each`` hands over the first task's result while a later task still runs: here the later
    task waits for a file that this process writes only once it holds the first result (were the
    results handed over all at the end, the later task would time out)."""
    go = tmp_path / "go"

    def waits_for_go() -> str:
        deadline = time.monotonic() + 20
        while not go.exists():
            if time.monotonic() > deadline:
                return "timed out"
            time.sleep(0.01)
        return "went"

    started = Started({"first": os.getpid, "second": waits_for_go}, processes=2)
    results = started.each()
    key, pid = next(results)
    assert key == "first" and pid != os.getpid()
    go.touch()
    assert list(results) == [("second", "went")]


def test_each_raises_at_the_failing_tasks_turn_and_left_early_runs_no_more_tasks(tmp_path) -> None:
    tasks = {"a": lambda: "a", "b": lambda: _fails("b.xlsx", 0.0), "c": lambda: "c"}
    results = Started(tasks, processes=2).each()
    assert next(results) == ("a", "a")
    with pytest.raises(FatalInputError, match=r"^b\.xlsx: cannot be read$"):
        next(results)

    ran = tmp_path / "ran"
    ran.mkdir()
    slow = {key: (lambda key=key: (ran / str(key)).touch() or _pid_after(0.2)) for key in range(8)}
    left = Started(slow, processes=2).each()
    next(left)
    left.close()  # the tasks not started yet are not run
    assert 2 <= len(list(ran.iterdir())) < 8


class Sheets:
    """A result that can be watched (a weak reference tells whether it is still alive)."""

    def __init__(self, key: int) -> None:
        self.key = key


@pytest.mark.parametrize("processes", [1, 2])
def test_each_result_is_let_go_once_given(processes: int) -> None:
    """``each`` keeps no result it has given: a large book's read tasks return every month's sheets,
    which the run lets go once each month is validated (it failed when the futures, or the results
    run here, stayed in the ``Started``)."""
    started = Started({key: partial(Sheets, key) for key in range(4)}, processes=processes)
    given: list[weakref.ref[Sheets]] = []
    for key, result in started.each():
        assert result.key == key
        given.append(weakref.ref(result))
        del result
        gc.collect()
        assert all(ref() is None for ref in given), f"results before {key} still alive"


def _touched(folder: Path, key: int) -> int:
    (folder / str(key)).touch()
    return key


def test_with_ahead_at_most_that_many_tasks_are_started_and_not_yet_taken(tmp_path: Path) -> None:
    """``ahead`` bounds the tasks started and not yet taken by ``each`` (a run's read tasks: the cells
    of the months it has not validated yet), more only when the next task to give is not among them
    (here the first key comes second in the start order)."""
    tasks = {key: partial(_touched, tmp_path, key) for key in range(8)}
    started = Started(tasks, processes=2, start=[1, 0, 2, 3, 4, 5, 6, 7], ahead=1)
    time.sleep(0.5)
    assert sorted(int(path.name) for path in tmp_path.iterdir()) == [0, 1]  # 1 in the start order, then 0, wanted
    given = started.each()
    for taken, (key, result) in enumerate(given, start=1):
        assert key == result
        time.sleep(0.2)
        assert len(list(tmp_path.iterdir())) <= max(2, taken + 1)
    assert len(list(tmp_path.iterdir())) == 8
