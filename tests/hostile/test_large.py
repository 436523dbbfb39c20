"""A sheet of a million rows (CASES.md § Volume): read and validated without a crash, in bounded
memory, every row processed or rejected (how fast is `make bench`'s question, not a test's). The
loader only (read, validate, reconcile): the annotated workbooks of a million policies are a
performance question, not a hostile-input one."""

from __future__ import annotations

import resource

import pytest

from pipeline.io.read import read_bordereaux
from pipeline.products import load_products
from pipeline.stages.validate import reconciliation
from tests.helpers import validate_bordereaux
from tests.hostile.corpus import MONTH, write_large_policies

ROWS = 1_000_000
MEMORY_LIMIT_MB = 4_000  # the loader peaks near 1.5 GB for this sheet


@pytest.mark.slow
def test_a_million_rows_are_all_accounted_for(tmp_path):
    bad = write_large_policies(tmp_path / "in" / MONTH / "policies.xlsx", ROWS, bad_every=1000)
    bordereaux = read_bordereaux(tmp_path / "in", MONTH)
    validated = validate_bordereaux(bordereaux, load_products())
    table = reconciliation(validated.counts, validated.rejected)
    sheet = table.iloc[0]
    assert (sheet["rows_read"], sheet["rows_processed"], sheet["rows_rejected"]) == (ROWS, ROWS - bad, bad)
    assert set(validated.rejected["column"]) == {"revenue"}
    assert validated.rejected["row"].tolist() == list(range(1000, ROWS + 2, 1000))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert peak_mb < MEMORY_LIMIT_MB
