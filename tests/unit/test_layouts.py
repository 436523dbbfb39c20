"""The layout loader's checks and the mapping of a cover-holder's sheet onto the contract (LAYOUTS.md)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from pipeline.errors import FatalInputError
from pipeline.io.layouts import (
    SheetLayout,
    contract_headers,
    coverholder_bordereaux,
    coverholders,
    load_layout,
    mapped_values,
    months_with_no_bordereau,
    read_coverholder_month,
)
from pipeline.parse import parse_date, parse_yen
from pipeline.products import DEFAULT_PRODUCTS_DIR, ProductBook, load_products
from tests.layout_books import LAYOUT_TOML, book, write_foreign


@pytest.fixture(scope="module")
def products() -> ProductBook:
    return load_products(DEFAULT_PRODUCTS_DIR)


def _layout(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "layout.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _error(tmp_path: Path, text: str, products: ProductBook) -> str:
    with pytest.raises(FatalInputError) as raised:
        load_layout(_layout(tmp_path, text), "folder-name", products)
    message = str(raised.value)
    assert "\n" not in message and message.startswith(str(tmp_path / "layout.toml"))
    return message


def test_the_layout_of_layouts_md_loads(tmp_path: Path, products: ProductBook) -> None:
    layout = load_layout(_layout(tmp_path, LAYOUT_TOML), "folder-name", products)
    assert layout.coverholder == "osaka-mga" and layout.name == "大阪MGA"
    assert [s.sheet for s in layout.sheets] == ["policies", "claims", "lines"]
    policies = layout.sheet("policies")
    assert policies is not None and policies.header_row == 2 and policies.sheet_name == "契約"
    assert policies.values["product"] == {"CY": "cyber_security", "LL": "leak_lite"}
    assert policies.constants == {"payment_method": "lump_sum"}
    assert layout.sheet("lines").sheet_name == 2  # type: ignore[union-attr]
    assert layout.date_formats == ("%d/%m/%Y",) and layout.thousands_separator == "."
    assert len(layout.sha256) == 64


def test_the_code_defaults_to_the_folder_name(tmp_path: Path, products: ProductBook) -> None:
    text = '[files.policies]\nfile = "p.xlsx"\n'
    layout = load_layout(_layout(tmp_path, text), "tokyo-agency", products)
    assert layout.coverholder == "tokyo-agency" and layout.name == "tokyo-agency"


@pytest.mark.parametrize(
    ("text", "entry"),
    [
        (
            '[files.policies]\nfile = "p.xlsx"\n[files.policies.columns]\npolicy_no = "No."\n',
            "files.policies.columns.policy_no: unknown contract column",
        ),
        ('[files.contracts]\nfile = "p.xlsx"\n', "files.contracts: unknown contract sheet"),
        (
            '[files.policies]\nfile = "p.xlsx"\n[files.policies.columns]\npolicy_id = "No."\ninsured_name = "no."\n',
            "files.policies.columns.insured_name: header 'no.' is also mapped to 'policy_id'",
        ),
        (
            '[files.policies]\nfile = "p.xlsx"\n[files.policies.values.product]\n"CY" = "cyber_premium"\n',
            "files.policies.values.product.CY: unknown code 'cyber_premium'",
        ),
        (
            '[files.lines]\nfile = "c.xlsx"\n[files.lines.values.item]\n"弁護士" = "lawyers"\n',
            "unknown code 'lawyers' for item",
        ),
        (
            '[files.policies]\nfile = "p.xlsx"\n[files.policies.constants]\npayment_method = "monthly"\n',
            "files.policies.constants.payment_method: unknown code 'monthly'",
        ),
        (
            '[files.policies]\nfile = "p.xlsx"\n[files.policies.constants]\nperiod_start = "someday"\n',
            "files.policies.constants.period_start: 'someday' is not a valid period_start",
        ),
        (
            '[files.policies]\nfile = "p.xlsx"\n[files.policies.columns]\npayment_method = "払込"\n'
            '[files.policies.constants]\npayment_method = "lump_sum"\n',
            "two values for one column",
        ),
        ('[files.policies]\nfile = "p.xlsx"\nheader_row = 0\n', "files.policies.header_row"),
        ('[files.policies]\nfile = "p.xlsx"\nsheet = 0\n', "files.policies.sheet"),
        ('[files.policies]\nsheet = "契約"\n', "files.policies.file: missing"),
        ('[files.policies]\nfile = "p.xlsx"\ncolour = "red"\n', "files.policies.colour: unknown entry"),
        ('colour = "red"\n[files.policies]\nfile = "p.xlsx"\n', "colour: unknown entry"),
        ('[files.policies]\nfile = "p.xlsx"\n[formats]\ndates = ["%d/%m"]\n', "formats.dates"),
        ('[files.policies]\nfile = "p.xlsx"\n[formats]\nthousands_separator = "_"\n', "formats.thousands_separator"),
        ('name = "x"\n', "files: no [files.<sheet>] table"),
        ('[files.policies\nfile = "p.xlsx"\n', "not valid TOML"),
        (
            '[files.policies]\nfile = "p.xlsx"\nignore = ["証券No."]\n'
            '[files.policies.columns]\npolicy_id = "証券No."\n',
            "both mapped and ignored",
        ),
    ],
)
def test_a_wrong_entry_names_the_layout_file_and_the_entry(
    tmp_path: Path, products: ProductBook, text: str, entry: str
) -> None:
    assert entry in _error(tmp_path, text, products)


def test_a_glob_matching_two_files_in_a_month_stops_the_run(tmp_path: Path, products: ProductBook) -> None:
    write_foreign(tmp_path / "osaka", "2026-05", book())
    (tmp_path / "osaka" / "2026-05" / "契約明細_copy.xlsx").write_bytes(b"x")
    holder = coverholders(tmp_path, products)[0]
    with pytest.raises(FatalInputError, match=r"layout.toml: files.policies.file: '契約明細_\*.xlsx' matches 2 files"):
        coverholder_bordereaux(holder, "2026-05")


def test_a_glob_matching_no_file_in_any_month_stops_the_run(tmp_path: Path, products: ProductBook) -> None:
    write_foreign(tmp_path / "osaka", "2026-05", book(), LAYOUT_TOML.replace("契約明細_*.xlsx", "contracts_*.xlsx"))
    holder = coverholders(tmp_path, products)[0]
    with pytest.raises(FatalInputError, match=r"files.policies.file: 'contracts_\*.xlsx' matches no file"):
        coverholder_bordereaux(holder, "2026-05")


def test_files_no_layout_claims_and_empty_months_are_listed(tmp_path: Path, products: ProductBook) -> None:
    write_foreign(tmp_path / "osaka", "2026-05", book())
    (tmp_path / "osaka" / "2026-05" / "メモ.txt").write_text("x")
    (tmp_path / "osaka" / "2026-06").mkdir()
    (tmp_path / "osaka" / "2026-06" / "契約_202606.xlsx").write_bytes(b"x")
    holder = coverholders(tmp_path, products)[0]
    found = coverholder_bordereaux(holder, "2026-06")
    assert [entry.path for entry in found.not_read] == ["osaka/2026-05/メモ.txt", "osaka/2026-06/契約_202606.xlsx"]
    assert {entry.reason for entry in found.not_read} == {"no file pattern of layout.toml matches it"}
    assert months_with_no_bordereau(holder, found) == ("osaka/2026-06",)
    assert [f.file for f in found.files] == ["osaka/2026-05/契約明細_202605.xlsx", "osaka/2026-05/事故明細_202605.xlsx"]


def test_two_cover_holders_with_one_code_stop_the_run(tmp_path: Path, products: ProductBook) -> None:
    write_foreign(tmp_path / "osaka", "2026-05", book())
    write_foreign(tmp_path / "kobe", "2026-05", book())
    with pytest.raises(FatalInputError, match="coverholder: 'osaka-mga' is also the code of"):
        coverholders(tmp_path, products)


def test_a_sheet_is_read_under_its_header_row_with_title_rows_counted(tmp_path: Path, products: ProductBook) -> None:
    write_foreign(tmp_path / "osaka", "2026-05", book())
    holder = coverholders(tmp_path, products)[0]
    found = coverholder_bordereaux(holder, "2026-05")
    sheets = {s.sheet: s for s in read_coverholder_month(holder, found, "2026-05")}
    policies = sheets["policies"]
    assert policies.file == "osaka/2026-05/契約明細_202605.xlsx"
    assert policies.frame["excel_row"].tolist() == [3, 4]  # title row 1, headers row 2
    assert policies.frame["policy_id"].tolist() == ["P001", "P002"]
    assert policies.frame["product"].tolist() == ["cyber_security", "leak_lite"]  # value map
    assert policies.frame["payment_method"].tolist() == ["lump_sum", "lump_sum"]  # constant
    assert "備考" not in policies.frame.columns and "備考" not in policies.extra_columns  # ignored
    assert dict(policies.headers)["policy_id"] == "証券No."
    assert policies.typed["product"].tolist() == ["CY", "LL"]
    assert policies.date_formats == ("%d/%m/%Y",) and policies.thousands_separator == "."
    assert sheets["lines"].frame["line_id"].tolist() == ["L001", "L002", "L003", "L004"]  # sheet 2 by position


def test_headers_are_renamed_and_constants_added() -> None:
    layout = SheetLayout(
        sheet="policies",
        file="x.xlsx",
        sheet_name=1,
        columns={"policy_id": "証券No."},
        constants={"payment_method": "lump_sum"},
    )
    headers, written = contract_headers(["証券No. ", "商品", None], layout)
    assert headers == ["policy_id", "商品", None, "payment_method"]
    assert written == {"policy_id": "証券No. "}


def test_a_value_map_replaces_their_codes_and_keeps_the_rest_as_typed() -> None:
    cells = pd.Series(["CY", " ＣＹ ", "LL", "cyber_security", "XX", ""], dtype=object)
    mapped = mapped_values(cells, {"CY": "cyber_security", "LL": "leak_lite"})
    assert mapped.tolist() == ["cyber_security", "cyber_security", "leak_lite", "cyber_security", "XX", ""]


def test_a_value_map_compares_codes_width_only_never_nfkc() -> None:
    cells = pd.Series(["10", "１０", "⑩", "10\u2070", "ＣＹ－Ｗ", "ｶﾞ"], dtype=object)
    mapped = mapped_values(cells, {"10": "cyber_security", "CY-W": "leak_lite", "ガ": "leak_lite"})
    assert mapped.tolist() == ["cyber_security", "cyber_security", "⑩", "10\u2070", "leak_lite", "leak_lite"]


def test_extra_date_formats_extend_the_contract_spellings() -> None:
    cells = pd.Series(["01/04/2026", "2026-04-02", "31/02/2026", "4/1/2026x"], dtype=object)
    values, errors = parse_date(cells, formats=("%d/%m/%Y",))
    assert values.iloc[0] == pd.Timestamp(dt.date(2026, 4, 1)) and values.iloc[1] == pd.Timestamp(dt.date(2026, 4, 2))
    assert errors.iloc[:2].isna().all() and errors.iloc[2:].notna().all()
    assert "%d/%m/%Y" in errors.iloc[2]
    _, contract_errors = parse_date(cells.iloc[:1])
    assert contract_errors.notna().all()  # without the layout, dd/mm/yyyy is not a date


def test_a_thousands_separator_extends_the_contract_spellings() -> None:
    cells = pd.Series(["1.234.567", "1,234,567", "¥2.000円", "1.5", "12.34"], dtype=object)
    values, errors = parse_yen(cells, thousands_separator=".")
    assert values.iloc[:3].tolist() == [1_234_567, 1_234_567, 2_000]
    assert errors.iloc[:3].isna().all() and errors.iloc[3:].notna().all()
    _, contract_errors = parse_yen(cells.iloc[:1])
    assert contract_errors.notna().all()
