"""The benchmark harness (``make bench`` = ``python -m pipeline.bench``).

Modules: ``cli`` runs the parts and prints the table, ``book`` generates the large book and times the
full run, ``floor`` measures the Excel I/O floor, ``engine`` times the claims engine alone on
synthetic frames read from Parquet, ``measure`` times child processes and their peak memory.
"""

from pipeline.bench.cli import Options, bench, main

__all__ = ["Options", "bench", "main"]
