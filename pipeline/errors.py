"""Errors that stop a run. Bad rows are never errors: they go to ``rejected.xlsx``
(DATA_CONTRACT.md § Values people really type); only input that cannot be read at all is fatal
(DATA_CONTRACT.md § Run)."""

from __future__ import annotations

from pathlib import Path


class FatalInputError(Exception):
    """The input cannot be processed at all: a folder or month missing, a workbook that cannot be
    opened, a required sheet or column absent, a duplicated header.

    ``str(error)`` is one line, ``<file>: <problem>``, printed by the command line as
    ``error: <file>: <problem>``.
    """

    def __init__(self, file: Path | str, problem: str) -> None:
        self.file = str(file)
        self.problem = " ".join(problem.split())  # always one line
        super().__init__(f"{self.file}: {self.problem}")

    def __reduce__(self) -> tuple[type[FatalInputError], tuple[str, str]]:
        """Pickled by its file and problem, so that it crosses processes (a dask worker's read)."""
        return (type(self), (self.file, self.problem))
