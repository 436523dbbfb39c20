"""The sample-data generator (pipeline/sample): determinism, the input format of DATA_CONTRACT.md,
coverage of every product term, the intended bad rows, and that sample_data/ is what it produces.

The book is read back with python-calamine and checked by a small independent reader and rule set
written here from DATA_CONTRACT.md (§ Input, § Values people really type, § Validation details)."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from python_calamine import CalamineWorkbook

from pipeline.products.load import load_products
from pipeline.sample import generate_book, main
from pipeline.sample.columns import KINDS, load_labels
from pipeline.sample.coverholder import generate_foreign_book

REPO = Path(__file__).resolve().parents[2]
SAMPLE_ROOT = REPO / "sample_data"
SAMPLE_DIR = SAMPLE_ROOT / "tokyo-agency"  # the book in the contract's layout
BOOK = load_products()
LABELS = load_labels()
FILES = {"policies.xlsx": ("policies",), "claims.xlsx": ("claims", "lines")}
SCHEME = next(p for p in BOOK.products.values() if "fixed_terms" in p.definition)
CONTRACT = next(p for p in BOOK.products.values() if "options" in p.definition)
BAD = object()  # a cell that is not an accepted spelling


# --- a small reader for what people type (DATA_CONTRACT.md § Values people really type) ---------


def _nfkc(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


def _yen(cell: Any) -> Any:
    if isinstance(cell, bool):
        return BAD
    if isinstance(cell, (int, float)):
        return int(cell) if cell == int(cell) and cell >= 0 else BAD
    text = _nfkc(cell).removeprefix("¥").removesuffix("円")
    if re.fullmatch(r"\d+|\d{1,3}(,\d{3})+", text):
        return int(text.replace(",", ""))
    return BAD


ERAS = {
    "令和": ("R", 2018, dt.date(2019, 5, 1), dt.date(9999, 12, 31)),
    "平成": ("H", 1988, dt.date(1989, 1, 8), dt.date(2019, 4, 30)),
}


def _date(cell: Any) -> Any:
    if isinstance(cell, dt.datetime):
        return cell.date()
    if isinstance(cell, dt.date):
        return cell
    if not isinstance(cell, str):
        return BAD  # a bare number is an Excel serial typed as General
    text = _nfkc(cell)
    patterns: list[tuple[str, str | None]] = [
        (r"(\d{4})-(\d{2})-(\d{2})", None),
        (r"(\d{4})/(\d{1,2})/(\d{1,2})", None),
        (r"(\d{4})年(\d{1,2})月(\d{1,2})日", None),
    ]
    for era, (letter, _, _, _) in ERAS.items():
        patterns += [
            (rf"{era}(\d{{1,2}})年(\d{{1,2}})月(\d{{1,2}})日", era),
            (rf"{letter}(\d{{1,2}})\.(\d{{1,2}})\.(\d{{1,2}})", era),
        ]
    for pattern, pattern_era in patterns:
        match = re.fullmatch(pattern, text)
        if not match:
            continue
        year, month, day = (int(g) for g in match.groups())
        if pattern_era:
            year += ERAS[pattern_era][1]
        try:
            value = dt.date(year, month, day)
        except ValueError:
            return BAD
        if pattern_era and not ERAS[pattern_era][2] <= value <= ERAS[pattern_era][3]:
            return BAD
        return value
    return BAD


TRUE_WORDS = {"true", "1", "yes", "y", "有", "あり", "○", "はい"}
FALSE_WORDS = {"false", "0", "no", "n", "無", "なし", "×", "いいえ"}


def _bool(cell: Any) -> Any:
    if isinstance(cell, bool):
        return cell
    if isinstance(cell, (int, float)):
        return {1.0: True, 0.0: False}.get(float(cell), BAD)
    text = _nfkc(cell).lower()
    return True if text in TRUE_WORDS else False if text in FALSE_WORDS else BAD


def _value(cell: Any, kind: str) -> Any:
    if cell is None or cell == "":
        return None
    if kind == "yen":
        return _yen(cell)
    if kind == "date":
        return _date(cell)
    if kind == "bool":
        return _bool(cell)
    if kind == "int":
        return int(cell) if isinstance(cell, (int, float)) and cell == int(cell) else BAD
    if kind == "id":
        return str(int(cell)) if isinstance(cell, float) and cell == int(cell) else _nfkc(str(cell))
    if kind == "code":
        return _nfkc(str(cell)).lower()
    return str(cell).strip()


def _canonical_header(cell: Any, sheet: str) -> str | None:
    text = _nfkc(str(cell))
    for name, label in LABELS[sheet].items():
        if text.lower() == name or text == label:
            return name
    return None


def read_sheet(path: Path, sheet: str) -> tuple[list[str], list[dict[str, Any]]]:
    """Raw headers and rows as canonical values (with ``_row``, the Excel row number)."""
    raw = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(sheet).to_python()
    headers = [str(h) for h in raw[0]]
    names = [_canonical_header(h, sheet) for h in headers]
    rows = []
    for number, cells in enumerate(raw[1:], start=2):
        row: dict[str, Any] = {name: None for name in KINDS[sheet]}
        row["_row"] = number
        for name, cell in zip(names, cells, strict=False):
            if name:
                row[name] = _value(cell, KINDS[sheet][name])
        rows.append(row)
    return headers, rows


def month_folders(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and re.fullmatch(r"\d{4}-\d{2}", p.name))


def month_end(label: str) -> dt.date:
    year, month = (int(x) for x in label.split("-"))
    return dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)


def one_year_later(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)


# --- the rules a good row follows (DATA_CONTRACT.md § Validation details) ------------------------


class Known:
    """What is known as at each month: the latest valid version of each policy and claim."""

    def __init__(self) -> None:
        self.policies: dict[str, dict[str, Any]] = {}
        self.claims: dict[str, dict[str, Any]] = {}
        self.series: dict[str, str] = {}


def _policy_problems(row: dict[str, Any]) -> list[str]:
    problems = [f"{k}: bad spelling" for k, v in row.items() if v is BAD]
    if problems:
        return problems
    for key in ("policy_id", "product", "insured_name", "period_start", "period_end"):
        if row[key] is None:
            problems.append(f"{key}: missing")
    if problems:
        return problems
    if row["product"] not in BOOK.products:
        return ["product: unknown"]
    if row["period_end"] != one_year_later(row["period_start"]):
        problems.append("period_end: not start + 1 year")
    cover_start = row["join_date"] or row["period_start"]
    if row["cancel_date"] and not cover_start <= row["cancel_date"] < row["period_end"]:
        problems.append("cancel_date: outside the cover period")
    if row["product"] == SCHEME.code:
        terms = SCHEME.definition["fixed_terms"]
        for key, value in terms.items():
            if row[key] is not None and row[key] != value:
                problems.append(f"{key}: not the product's fixed value")
        if row["plan"] or row["leak_only"] or row["it_business"] or row["actual_revenue"] is not None:
            problems.append("plan/riders/actual_revenue on a fixed-terms product")
        if row["join_date"] and not row["period_start"] <= row["join_date"] < row["period_end"]:
            problems.append("join_date: outside the period")
        return problems
    options, rules = CONTRACT.definition["options"], CONTRACT.definition["option_rules"]
    for key in (
        "plan",
        "premium_basis",
        "payment_method",
        *(k for k in options if k.endswith(("_limit", "_deductible"))),
    ):
        allowed = CONTRACT.plans if key == "plan" else options[key]
        if row[key] not in allowed:
            problems.append(f"{key}: not an allowed value")
    if problems:
        return problems
    if row["expense_limit"] > row["liability_limit"] * rules["expense_limit_max_share_of_liability_limit"]:
        problems.append("expense_limit: above the share of liability_limit")
    if row["it_business"] and row["liability_limit"] > rules["liability_limit_max_with_it_business"]:
        problems.append("liability_limit: above the it_business maximum")
    if row["leak_only"] and row["plan"] not in rules["leak_only_plans"]:
        problems.append("leak_only: not on this plan")
    if row["join_date"]:
        problems.append("join_date: no mid-term joiners")
    if row["actual_revenue"] is not None and row["premium_basis"] != "adjustable":
        problems.append("actual_revenue: only with adjustable")
    return problems


def _claim_problems(row: dict[str, Any], known: Known, label: str) -> list[str]:
    problems = [f"{k}: bad spelling" for k, v in row.items() if v is BAD]
    if problems or row["claim_id"] is None:
        return problems or ["claim_id: missing"]
    policy = known.policies.get(row["policy_id"])
    if policy is None:
        return ["policy_id: not known as at this month"]
    if row["event_type"] not in BOOK.event_types:
        problems.append("event_type: unknown")
    if row["known_date"] is None or row["notice_date"] is None or row["known_date"] > row["notice_date"]:
        problems.append("known_date/notice_date: missing or known after notice")
    elif row["notice_date"] > month_end(label):
        problems.append("notice_date: after the month")
    if row["claim_made_date"] and row["claim_jurisdiction"] not in ("domestic", "overseas"):
        problems.append("claim_jurisdiction: needed with claim_made_date")
    codes = (row["evidence"] or "").split(";") if row["evidence"] else []
    if any(code.strip() not in BOOK.evidence_codes for code in codes):
        problems.append("evidence: unknown code")
    if row["exclusion_code"] and row["exclusion_code"] not in BOOK.products[policy["product"]].exclusions:
        problems.append("exclusion_code: not of the product")
    owner = known.series.get(row["series_id"]) if row["series_id"] else None
    if owner is not None and owner != row["policy_id"]:
        problems.append("series_id: on another policy")
    return problems


def _line_problems(row: dict[str, Any], known: Known, label: str) -> list[str]:
    problems = [f"{k}: bad spelling" for k, v in row.items() if v is BAD]
    if problems or row["line_id"] is None:
        return problems or ["line_id: missing"]
    claim = known.claims.get(row["claim_id"])
    if claim is None:
        return ["claim_id: not known as at this month"]
    product = BOOK.products[known.policies[claim["policy_id"]]["product"]]
    parts = dict(zip(product.items["item"], product.items["part"], strict=True))
    if row["item"] not in parts and row["item"] not in BOOK.never_paid_items:
        problems.append("item: not in the catalogue")
    if row["amount"] is None or row["spent_date"] is None:
        problems.append("amount/spent_date: missing")
    elif row["spent_date"] > month_end(label):
        problems.append("spent_date: after the month")
    if row["item"] == "condolence" and (not row["victims"] or row["victim_type"] not in ("individual", "corporate")):
        problems.append("victims/victim_type: needed on condolence")
    if parts.get(row["item"]) == "liability" and claim["claim_made_date"] is None:
        problems.append("item: liability line without claim_made_date")
    return problems


def check_book(root: Path) -> dict[str, Any]:
    """Apply the rules month by month; return accepted rows, rejected (file, sheet, row) and headers."""
    known = Known()
    accepted: dict[str, list[dict[str, Any]]] = defaultdict(list)
    rejected: dict[tuple[str, str, int], list[str]] = {}
    headers: dict[tuple[str, str], list[str]] = {}
    for label in month_folders(root):
        for file_name, sheets in FILES.items():
            for sheet in sheets:
                head, rows = read_sheet(root / label / file_name, sheet)
                headers[(label, sheet)] = head
                key = next(iter(KINDS[sheet]))
                counts = Counter(row[key] for row in rows)
                for row in rows:
                    if counts[row[key]] > 1:
                        problems = [f"{key}: twice in the file"]
                    elif sheet == "policies":
                        problems = _policy_problems(row)
                    elif sheet == "claims":
                        problems = _claim_problems(row, known, label)
                    else:
                        problems = _line_problems(row, known, label)
                    if problems:
                        rejected[(f"{label}/{file_name}", sheet, row["_row"])] = problems
                        continue
                    row["_month"] = label
                    accepted[sheet].append(row)
                    if sheet == "policies":
                        known.policies[row["policy_id"]] = row
                    elif sheet == "claims":
                        known.claims[row["claim_id"]] = row
                        if row["series_id"]:
                            known.series.setdefault(row["series_id"], row["policy_id"])
    return {"accepted": accepted, "rejected": rejected, "headers": headers, "known": known}


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def default_book(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    root = tmp_path_factory.mktemp("sample")
    result = generate_book(root)
    return root, result, check_book(root)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --- tests ---------------------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    first = generate_book(tmp_path / "a", policies=40, months=3, seed=7)
    generate_book(tmp_path / "b", policies=40, months=3, seed=7)
    generate_book(tmp_path / "c", policies=40, months=3, seed=8)
    a, b, c = _files(tmp_path / "a"), _files(tmp_path / "b"), _files(tmp_path / "c")
    assert a == b
    assert a["2026-04/policies.xlsx"] != c["2026-04/policies.xlsx"]
    assert first["months"] == ["2026-04", "2026-05", "2026-06"]


def test_committed_sample_is_what_the_generator_writes(default_book: tuple[Path, dict, dict]) -> None:
    """sample_data/ must be regenerated (make sample) whenever the generator or the products change."""
    root, _, _ = default_book
    generated = _files(root)
    committed = {name: data for name, data in _files(SAMPLE_DIR).items() if name != "README.md"}
    assert sorted(committed) == sorted(generated)
    assert [name for name in generated if committed[name] != generated[name]] == []


def test_layout_sheets_and_headers(default_book: tuple[Path, dict, dict]) -> None:
    root, result, checked = default_book
    assert month_folders(root) == result["months"] and len(result["months"]) == 12
    for label in result["months"]:
        for file_name, sheets in FILES.items():
            assert CalamineWorkbook.from_path(str(root / label / file_name)).sheet_names == list(sheets)
    styles: Counter[str] = Counter()
    for (label, sheet), head in checked["headers"].items():
        names = [_canonical_header(h, sheet) for h in head]
        assert set(KINDS[sheet]) <= set(names), (label, sheet)
        assert len([n for n in names if n is None]) <= 1  # at most one memo column
        styles["japanese"] += any(h.strip() in LABELS[sheet].values() for h in head)
        styles["full_width"] += any(h != unicodedata.normalize("NFKC", h) for h in head)
        styles["odd_case"] += any(h not in KINDS[sheet] and h.strip().lower() in KINDS[sheet] for h in head)
        styles["memo"] += None in names
        styles["reordered"] += [n for n in names if n] != list(KINDS[sheet])
    assert all(styles[s] for s in ("japanese", "full_width", "odd_case", "memo", "reordered")), styles


def test_typed_spellings_occur(default_book: tuple[Path, dict, dict]) -> None:
    root, result, _ = default_book
    seen: Counter[str] = Counter()
    for label in result["months"]:
        rows = CalamineWorkbook.from_path(str(root / label / "policies.xlsx")).get_sheet_by_name("policies")
        for cell in (c for r in rows.to_python()[1:] for c in r):
            if isinstance(cell, str):
                seen["yen_comma"] += bool(re.fullmatch(r"\d{1,3}(,\d{3})+", cell))
                seen["yen_sign"] += cell.startswith("¥")
                seen["yen_suffix"] += cell.endswith("円") and "万" not in cell
                seen["full_width_digits"] += bool(re.fullmatch(r"[０-９]+", cell))
                seen["reiwa"] += cell.startswith("令和")
                seen["era_letter"] += bool(re.fullmatch(r"R\d+\.\d+\.\d+", cell))
                seen["slash_date"] += bool(re.fullmatch(r"\d{4}/\d{1,2}/\d{1,2}", cell))
                seen["kanji_date"] += bool(re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日", cell))
                seen["bool_word"] += cell in TRUE_WORDS | FALSE_WORDS | {"TRUE", "FALSE", "Y", "N"}
            elif isinstance(cell, dt.date):
                seen["excel_date"] += 1
            elif isinstance(cell, float) and cell >= 7_100_000 and cell < 8_000_000:
                seen["numeric_id"] += 1
    expected: tuple[str, ...] = ("yen_comma", "yen_sign", "yen_suffix", "full_width_digits", "reiwa", "era_letter")
    expected += ("slash_date", "kanji_date", "bool_word", "excel_date", "numeric_id")
    missing = [k for k in expected if not seen[k]]
    assert missing == []


def test_every_good_row_follows_the_contract_and_every_bad_row_breaks_it(
    default_book: tuple[Path, dict, dict],
) -> None:
    _, result, checked = default_book
    intended = {(r["file"], r["sheet"], r["row"]): r for r in result["bad_rows"]}
    rejected = checked["rejected"]
    assert {key: rejected[key] for key in rejected if key not in intended} == {}
    assert [r for key, r in intended.items() if key not in rejected] == []
    for month in result["months"]:  # the rejected sheet is never empty
        assert any(r["month"] == month for r in result["bad_rows"])
    kinds = set(result["bad_row_templates"])
    assert {"duplicate_policy", "orphan_claim", "unknown_claim", "yen_in_man", "impossible_date"} <= kinds
    assert {"invalid_policy_restatement", "invalid_line_restatement", "expense_over_half", "bad_option"} <= kinds


def test_bad_rows_are_recorded_with_their_ids(default_book: tuple[Path, dict, dict]) -> None:
    root, result, _ = default_book
    for record in result["bad_rows"]:
        _, rows = read_sheet(root / record["file"], record["sheet"])
        row = rows[record["row"] - 2]
        id_column = next(iter(KINDS[record["sheet"]]))
        assert row[id_column] == record["id"], record
        assert record["column"] in KINDS[record["sheet"]] and record["problem"]


def test_dates_never_after_the_bordereau_month(default_book: tuple[Path, dict, dict]) -> None:
    _, _, checked = default_book
    for claim in checked["accepted"]["claims"]:
        assert claim["known_date"] <= claim["notice_date"] <= month_end(claim["_month"])
    for line in checked["accepted"]["lines"]:
        assert line["spent_date"] <= month_end(line["_month"])
    for policy in checked["accepted"]["policies"]:
        first = min(p["_month"] for p in checked["accepted"]["policies"] if p["policy_id"] == policy["policy_id"])
        if policy["join_date"] is None:  # reported in the month its period starts
            assert policy["period_start"].strftime("%Y-%m") == first
        else:  # a mid-term joiner is reported in the month it joins
            assert policy["join_date"].strftime("%Y-%m") == first


def test_every_product_term_is_covered(default_book: tuple[Path, dict, dict]) -> None:
    _, result, checked = default_book
    known: Known = checked["known"]
    policies = list(known.policies.values())
    contract = [p for p in policies if p["product"] == CONTRACT.code]
    sites = [p for p in policies if p["product"] == SCHEME.code]
    assert contract and sites
    options = CONTRACT.definition["options"]
    assert {p["plan"] for p in contract} == set(CONTRACT.plans)
    for key in ("liability_limit", "liability_deductible", "expense_limit", "expense_deductible", "payment_method"):
        assert {p[key] for p in contract} == set(options[key]), key
    assert {p["premium_basis"] for p in contract} == set(options["premium_basis"])
    assert any(p["leak_only"] and p["it_business"] and p["plan"] == "basic" for p in contract)
    assert any(p["join_date"] for p in sites)
    assert result["notes"]["large_installment_below_minimum"] in known.policies
    for product in (SCHEME, CONTRACT):
        bands = [b["up_to"] for b in product.tariff["revenue_bands"]]
        revenues = [p["revenue"] for p in policies if p["product"] == product.code]
        assert None in revenues and any(r is not None and r > bands[-1] for r in revenues)
        for low, high in zip([0, *bands], bands, strict=False):
            assert any(r is not None and low < r <= high for r in revenues), (product.code, high)
    claims = list(known.claims.values())
    for product in (SCHEME, CONTRACT):
        events = {c["event_type"] for c in claims if known.policies[c["policy_id"]]["product"] == product.code}
        assert events == set(BOOK.event_types), product.code
    series = Counter((c["series_id"], c["policy_id"]) for c in claims if c["series_id"])
    assert max(series.values()) >= 2
    assert any(c["claim_jurisdiction"] == "overseas" for c in claims)
    assert any(c["exclusion_code"] for c in claims) and any(not c["evidence"] for c in claims)
    lines = checked["accepted"]["lines"]
    items = {line["item"] for line in lines}
    catalogue = set(SCHEME.items["item"]) | set(CONTRACT.items["item"]) | set(BOOK.never_paid_items)
    assert items == catalogue
    assert max(line["victims"] or 0 for line in lines if line["victim_type"] == "individual") >= 1_000
    assert any(line["victim_type"] == "corporate" for line in lines)
    assert any(line["spent_in"] == "overseas" for line in lines)
    assert any(line["amount"] >= 100_000_000 for line in lines)
    months_per_claim = Counter(c for c, _ in {(line["claim_id"], line["_month"]) for line in lines})
    assert max(months_per_claim.values()) >= 3


def test_claims_are_mostly_small_and_the_large_ones_reach_the_limits(default_book: tuple[Path, dict, dict]) -> None:
    """Claims are frequent, so they are small (a believable loss ratio); the few large losses are the
    designed claims that take lines over the sub-limits and a damages line over the lowest limit."""
    _, result, checked = default_book
    known: Known = checked["known"]
    assert result["claims"] >= 250 and result["lines"] >= 1_000
    latest: dict[str, dict[str, Any]] = {}
    for line in checked["accepted"]["lines"]:
        latest[line["line_id"]] = line
    per_claim: Counter[str] = Counter()
    per_claim_item: Counter[tuple[str, str]] = Counter()
    for line in latest.values():
        per_claim[line["claim_id"]] += line["amount"]
        per_claim_item[(line["claim_id"], line["item"])] += line["amount"]
    totals = sorted(per_claim.values())
    assert totals[len(totals) // 2] < 500_000  # the median claim
    in_events = {claim_id for claim_id, claim in known.claims.items() if claim["cat_event_id"]}
    alone = [t for claim_id, t in per_claim.items() if claim_id not in in_events]
    assert sum(t >= 10_000_000 for t in alone) <= 6  # a handful of large losses outside the cyber events
    sublimited = CONTRACT.items.loc[CONTRACT.items["sublimit"].notna(), ["item", "sublimit", "reduction_ratio"]]
    for item, sublimit, ratio in sublimited.itertuples(index=False):
        over = int(sublimit / float(ratio or 1)) + 1
        assert any(i == item and amount > over for (_, i), amount in per_claim_item.items()), item
    lowest = min(CONTRACT.definition["options"]["liability_limit"])
    assert any(
        line["item"] == "damages"
        and line["amount"] > lowest
        and known.policies[known.claims[line["claim_id"]]["policy_id"]]["liability_limit"] == lowest
        for line in latest.values()
    )
    huge = [line for line in latest.values() if line["amount"] >= 50_000_000]
    assert huge and all(
        known.policies[known.claims[line["claim_id"]]["policy_id"]]["liability_limit"] >= 2 * line["amount"]
        for line in huge
    )


def test_two_cyber_events_reach_the_event_layer_and_a_claim_the_per_risk_layer(
    default_book: tuple[Path, dict, dict],
) -> None:
    """REINSURANCE.md on the sample: two cyber events (cat_event_id) over several policies and
    reporting months, each above the 2026 event layer's retention in total with every claim's
    retained part under the per-risk retention; and a claim alone above the per-risk retention."""
    _, _, checked = default_book
    known: Known = checked["known"]
    year = BOOK.programme.year("2026")
    assert year.event_layer is not None
    share = year.ceded_share
    amounts: Counter[str] = Counter()
    for line in {line["line_id"]: line for line in checked["accepted"]["lines"]}.values():
        amounts[line["claim_id"]] += line["amount"]
    events: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for claim in known.claims.values():
        if claim["cat_event_id"]:
            events[claim["cat_event_id"]].append(claim)
    assert len(events) == 2
    for claims in events.values():
        assert len({claim["policy_id"] for claim in claims}) >= 4
        assert len({claim["_month"] for claim in claims}) >= 2
        retained = [amounts[claim["claim_id"]] * (1 - share) for claim in claims]
        assert all(r < year.risk_layer.retention for r in retained)
        assert sum(retained) > year.event_layer.retention + year.risk_layer.aggregate_deductible
    alone = [c for c in known.claims.values() if not c["cat_event_id"] and known.policies[c["policy_id"]]["plan"]]
    assert any(amounts[c["claim_id"]] * (1 - share) > year.risk_layer.retention + 10_000_000 for c in alone)


def test_restatements(default_book: tuple[Path, dict, dict]) -> None:
    _, result, checked = default_book
    accepted = checked["accepted"]
    versions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for policy in accepted["policies"]:
        versions[policy["policy_id"]].append(policy)
    restated = [v for v in versions.values() if len(v) > 1]
    assert any(v[-1]["cancel_date"] and not v[0]["cancel_date"] for v in restated)
    adjusted = [v for v in restated if v[-1]["actual_revenue"] is not None]
    assert any(v[-1]["actual_revenue"] > v[0]["revenue"] for v in adjusted)
    assert any(v[-1]["actual_revenue"] < v[0]["revenue"] for v in adjusted)
    assert result["notes"]["actual_revenue_outside_bands"] in versions
    claim_months = Counter(c["claim_id"] for c in accepted["claims"])
    assert max(claim_months.values()) >= 2
    line_versions: dict[str, list[int]] = defaultdict(list)
    for line in accepted["lines"]:
        line_versions[line["line_id"]].append(line["amount"])
    assert any(len(set(amounts)) > 1 for amounts in line_versions.values())
    assert result["restated"]["policies_cancelled"] and result["restated"]["lines"]


def test_clean_book_scales_with_the_number_of_policies(tmp_path: Path) -> None:
    """The --clean mode is the benchmark book: canonical headers, no bad rows, ~3 lines per policy."""
    result = generate_book(tmp_path, policies=1_500, messy=False)
    assert result["bad_rows"] == [] and not (tmp_path / "expected_rejections.json").exists()
    assert result["policies"] == 1_500
    assert 2.4 <= result["lines"] / result["policies"] <= 3.8
    assert sum(r["policies"] for r in result["rows"].values()) >= 1_500
    head, rows = read_sheet(tmp_path / "2026-07" / "claims.xlsx", "lines")
    assert head == list(KINDS["lines"])
    assert all(isinstance(row["spent_date"], dt.date) and isinstance(row["amount"], int) for row in rows)


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--output", str(tmp_path), "--policies", "30", "--months", "2", "--clean", "--seed", "3"]) == 0
    assert sorted(_files(tmp_path)) == [f"{m}/{f}" for m in ("2026-04", "2026-05") for f in sorted(FILES)]
    assert "30 policies" in capsys.readouterr().err


def test_committed_second_cover_holder_is_what_the_generator_writes(tmp_path: Path) -> None:
    """sample_data/osaka-mga/ (the second cover-holder, in its own layout) is regenerated by make sample."""
    result = generate_foreign_book(tmp_path)
    generated = _files(tmp_path)
    committed = _files(SAMPLE_ROOT / "osaka-mga")
    assert sorted(committed) == sorted(generated) and "layout.toml" in generated
    assert [name for name in generated if committed[name] != generated[name]] == []
    assert len(result["files"]) == 24 and len(result["bad_rows"]) == 2


def test_the_second_cover_holder_is_in_its_own_layout(tmp_path: Path) -> None:
    generate_foreign_book(tmp_path, policies=30, months=2, seed=5)
    workbook = CalamineWorkbook.from_path(str(tmp_path / "2026-04" / "事故明細_202604.xlsx"))
    assert workbook.sheet_names == ["事故", "明細"]
    rows = CalamineWorkbook.from_path(str(tmp_path / "2026-04" / "契約明細_202604.xlsx")).get_sheet_by_name("契約")
    title, headers, *cells = rows.to_python()
    assert str(title[0]).startswith("大阪MGA 契約明細") and headers[0] == "証券No." and "備考" in headers
    products = {row[headers.index("商品コード")] for row in cells}
    assert products == {"CYB-W", "LEAK-S", "CYB-X"}  # CYB-X: the intended bad row of the first month
    assert all(re.fullmatch(r"\d{2}/\d{2}/\d{4}", str(row[headers.index("始期日")])) for row in cells)


def test_command_line_with_two_cover_holders(tmp_path: Path) -> None:
    assert main(["--output", str(tmp_path), "--policies", "30", "--months", "2", "--clean", "--coverholders"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["osaka-mga", "tokyo-agency"]
    assert (tmp_path / "tokyo-agency" / "2026-05" / "claims.xlsx").is_file()
    assert (tmp_path / "osaka-mga" / "layout.toml").is_file()
