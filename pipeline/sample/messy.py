"""How people really fill in a bordereau (DATA_CONTRACT.md § Values people really type): Japanese or
odd-case headers, full-width and half-width characters, shuffled columns, an extra memo column, and
yen, dates, booleans, ids and codes typed as text in every accepted spelling."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np

from pipeline.sample.dates import EXCEL_OFFSET, reiwa, to_date

FULLWIDTH_ASCII = str.maketrans({chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)})
FULLWIDTH_DIGITS = str.maketrans({str(d): chr(0xFF10 + d) for d in range(10)})


def _halfwidth_kana_table() -> dict[str, str]:
    """Full-width katakana -> half-width spelling (the inverse of NFKC on U+FF61..U+FF9F)."""
    table: dict[str, str] = {}
    half = [chr(c) for c in range(0xFF66, 0xFF9E)]
    for h in half:
        table.setdefault(unicodedata.normalize("NFKC", h), h)
    for h in half:
        for mark in ("\uff9e", "\uff9f"):
            full = unicodedata.normalize("NFKC", h + mark)
            if len(full) == 1:
                table.setdefault(full, h + mark)
    return table


HALFWIDTH_KANA = str.maketrans(_halfwidth_kana_table())

BOOL_SPELLINGS: tuple[tuple[object, object], ...] = (
    (True, False), ("TRUE", "FALSE"), (1, 0), ("yes", "no"), ("Y", "N"), ("有", "無"), ("あり", "なし"),
    ("○", "×"), ("はい", "いいえ"),
)  # fmt: skip
MEMO_HEADERS = ("備考", "memo", "ＭＥＭＯ", "コメント")
MEMO_TEXTS = ("新規", "更新", "要確認", "代理店経由", "訂正", "継続", "団体扱", "口座振替", "書類待ち")


def fullwidth(text: str) -> str:
    return text.translate(FULLWIDTH_ASCII).translate(HALFWIDTH_KANA)


def spell_yen(value: int, style: int) -> str:
    return (f"{value:,}", f"¥{value:,}", f"{value:,}円", str(value).translate(FULLWIDTH_DIGITS), str(value))[style % 5]


def spell_date(serial: int, style: int) -> str:
    d = to_date(serial - EXCEL_OFFSET)
    r = reiwa(d)
    return (
        d.isoformat(),
        f"{d.year}/{d.month}/{d.day}",
        f"{d.year}年{d.month}月{d.day}日",
        f"令和{r}年{d.month}月{d.day}日",
        f"R{r}.{d.month}.{d.day}",
    )[style % 5]


def spell_code(value: str, style: int) -> str:
    return (value.upper(), value.title(), f" {value} ", value)[style % 4]


def header(name: str, label: str, style: str, u: float) -> str:
    """The header a person would type for a column in a file of ``style``."""
    if style == "ja":
        return label if u > 0.15 else f" {label} "
    if style == "ja_wide":
        text = fullwidth(label)
        return text if u > 0.3 else f"\u3000{text}"
    if style == "en_case":
        return (name.upper(), name.title(), f" {name} ", name)[int(u * 4)]
    return name


@dataclass(frozen=True)
class FileStyle:
    """How one month's file looks: header style, column order, memo column, share of typed cells."""

    headers: str = "en"
    shuffle: bool = False
    memo: str | None = None
    rate: float = 0.0  # share of yen/date/code cells typed as text
    ids_as_numbers: float = 0.0  # share of numeric ids sent as numbers
    bool_spelling: int = 0


CLEAN = FileStyle()


def month_style(rng: np.random.Generator, month: int) -> FileStyle:
    """The first month is tidy; later months vary the way real cedents' files do."""
    if month == 0:
        return CLEAN
    headers = (
        ("ja", "ja_wide", "en_case", "en")[(month - 1) % 4]
        if month <= 4
        else str(rng.choice(["en", "ja", "ja_wide", "en_case"]))
    )
    return FileStyle(
        headers=headers,
        shuffle=bool(rng.random() < 0.5),
        memo=MEMO_HEADERS[int(rng.integers(0, len(MEMO_HEADERS)))] if rng.random() < 0.6 else None,
        rate=float(rng.choice([0.05, 0.2, 0.5])),
        ids_as_numbers=float(rng.choice([0.0, 0.5, 1.0])),
        bool_spelling=int(rng.integers(0, len(BOOL_SPELLINGS))),
    )


def respell(rng: np.random.Generator, cells: list[object], kind: str, style: FileStyle) -> list[object]:
    """A copy of one column with a share of its cells typed the way people type them."""
    if style == CLEAN:
        return cells
    n = len(cells)
    u = rng.random(n).tolist()
    pick = rng.integers(0, 1 << 30, n).tolist()
    out = list(cells)
    if kind == "bool":
        true_word, false_word = BOOL_SPELLINGS[style.bool_spelling]
        for i, value in enumerate(cells):
            if value is True or value is False:
                spelling = (
                    BOOL_SPELLINGS[pick[i] % len(BOOL_SPELLINGS)] if u[i] < style.rate else (true_word, false_word)
                )
                out[i] = spelling[0] if value else spelling[1]
        return out
    if kind == "id":
        for i, value in enumerate(cells):
            if isinstance(value, str) and value.isdigit() and u[i] < style.ids_as_numbers:
                out[i] = int(value)
        return out
    spell = {"yen": spell_yen, "date": spell_date, "code": spell_code}.get(kind)
    if spell is None:
        return out
    for i, value in enumerate(cells):
        if value is not None and u[i] < style.rate:
            out[i] = spell(value, pick[i])  # type: ignore[operator]
    return out


def memo_column(rng: np.random.Generator, n: int) -> list[object]:
    u = rng.random(n).tolist()
    pick = rng.integers(0, len(MEMO_TEXTS), n).tolist()
    return [MEMO_TEXTS[k] if x < 0.2 else None for x, k in zip(u, pick, strict=True)]
