"""Sheets of ``rejected.xlsx``: every rejected input row and the reconciliation of rows read.

English: canonical headers and the reasons as validation wrote them. Japanese (``--lang ja``):
Japanese headers, the failing column named by its Japanese header, and every reason in Japanese
from the templates of ``reasons.toml`` (the values and expectations of the reason kept). ``file``,
``sheet`` and ``value`` stay as in the input, so that the cell can be found.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pandas as pd

from pipeline.io.workbook import Sheet
from pipeline.reports.labels import Labels, _map_distinct

REASONS_FILE = Path(__file__).with_name("reasons.toml")
SEPARATOR = "; "


@dataclass(frozen=True)
class ReasonTemplate:
    pattern: re.Pattern[str]
    ja: str


@cache
def _templates() -> tuple[tuple[ReasonTemplate, ...], dict[str, str]]:
    with REASONS_FILE.open("rb") as handle:
        data = tomllib.load(handle)
    templates = tuple(
        ReasonTemplate(re.compile(f"(?:{part['en']})(?={re.escape(SEPARATOR)}|$)"), part["ja"]) for part in data["part"]
    )
    return templates, dict(data["words"])


def _group_text(name: str, value: str | None, labels: Labels, words: dict[str, str]) -> str:
    if value is None:
        return ""
    if name.startswith("column"):
        return labels.header(value)
    if name.startswith("word"):
        return words.get(value, value)
    if name.startswith(("values", "examples")):  # a list of codes or examples: Japanese separators
        return re.sub(r",? or |, ", "、", value)
    return value


def reason_in_japanese(reason: str, labels: Labels) -> tuple[str, bool]:
    """``reason`` in Japanese, and whether every part of it had a template (a part without one
    stays in English)."""
    templates, words = _templates()
    parts: list[str] = []
    complete, position = True, 0
    while position < len(reason):
        for template in templates:
            match = template.pattern.match(reason, position)
            if match:
                values = {k: _group_text(k, v, labels, words) for k, v in match.groupdict().items()}
                parts.append(template.ja.format(**values))
                position = match.end()
                break
        else:
            end = reason.find(SEPARATOR, position)
            end = len(reason) if end < 0 else end
            parts.append(reason[position:end])
            complete, position = False, end
        if reason.startswith(SEPARATOR, position):
            position += len(SEPARATOR)
    return "。".join(parts), complete


def rejected_sheets(rejected: pd.DataFrame, reconciliation: pd.DataFrame, labels: Labels) -> list[Sheet]:
    """``rejected`` (one row per failing cell) and ``reconciliation`` (rows read, processed and
    rejected per sheet of every month), named for ``labels``' language."""
    shown = rejected.copy()
    if labels.ja:
        shown["column"] = _map_distinct(shown["column"], labels.header)
        shown["reason"] = _map_distinct(shown["reason"], lambda text: reason_in_japanese(text, labels)[0])
    table = labels.localize(reconciliation)
    headers = {**labels.headers(rejected.columns), "reason": labels.text("rejected_headers", "reason")}
    return [
        Sheet("rejected", shown, headers=headers),
        Sheet("reconciliation", table, headers=labels.headers(reconciliation.columns)),
    ]
