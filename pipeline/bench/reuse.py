"""Generated bench data reused from one bench to the next: a marker file records what the data was
made for (``wanted``: sizes, seed, generator version) and what making it gave; the data is made again
only when the marker is missing, records something else, or the data is gone. Used by every
generated input of ``make bench`` and ``make bench-scale`` (the 100,000-policy book, the engine's
frames, the market book, the whole-run books)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def reused(marker: Path, wanted: dict[str, Any], *, there: bool = True) -> dict[str, Any] | None:
    """What ``marker`` records when it records data made for ``wanted`` and that data is ``there``;
    otherwise None, the marker deleted (the caller makes the data again, then ``recorded``)."""
    if there and marker.exists():
        found: dict[str, Any] = json.loads(marker.read_text())
        if found.get("wanted") == wanted:
            return found
    marker.unlink(missing_ok=True)
    return None


def recorded(marker: Path, wanted: dict[str, Any], **made: Any) -> dict[str, Any]:
    """``marker`` written, once the data is complete, with ``wanted`` and what making it gave
    (``made``: counts, seconds); the record it holds."""
    record = {"wanted": wanted, **made}
    marker.write_text(json.dumps(record, indent=1) + "\n")
    return record
