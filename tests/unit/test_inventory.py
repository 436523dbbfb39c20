"""The inventory of an input folder (pipeline/io/inventory.py): what is read, what is not and why,
and the name a near miss should have — opening nothing."""

from __future__ import annotations

import pytest

from pipeline.errors import FatalInputError
from pipeline.io.inventory import inventory, month_name


@pytest.mark.parametrize(
    ("name", "meant"),
    [
        ("2026-5", "2026-05"),
        ("2026-05 ", "2026-05"),
        ("２０２６-０５", "2026-05"),
        ("2026年5月", "2026-05"),
        ("2026_05", "2026-05"),
        ("2026-13", None),
        ("April", None),
        ("2026-00", None),
    ],
)
def test_month_names(name, meant):
    assert month_name(name) == meant


def test_what_is_read_and_what_is_not(tmp_path):
    month = tmp_path / "2026-04"
    month.mkdir()
    for name in (
        "policies.xlsx",
        "claims.xlsx",
        "lines.parquet",
        "Policies.XLSX",
        "claims.xlsm",
        "~$claims.xlsx",
        "notes.txt",
    ):
        (month / name).write_bytes(b"")
    (month / "old").mkdir()
    for name in ("2026-5", "2026-13", "misc"):
        (tmp_path / name).mkdir()
    (tmp_path / "2026-06").write_text("a file named like a month")
    (tmp_path / "2026-07").symlink_to(tmp_path / "nowhere")
    (tmp_path / ".DS_Store").write_bytes(b"")
    found = inventory(tmp_path)
    assert found.months == ("2026-04",)
    assert [(f.file, f.sheets) for f in found.files] == [
        ("2026-04/policies.xlsx", ("policies",)),
        ("2026-04/claims.xlsx", ("claims", "lines")),
        ("2026-04/lines.parquet", ("lines",)),
    ]
    not_read = {entry.path: (entry.reason, entry.should_be) for entry in found.not_read}
    assert not_read == {
        ".DS_Store": ("hidden", ""),
        "2026-04/Policies.XLSX": ("names are lower case", "policies.xlsx"),
        "2026-04/claims.xlsm": ("a .xlsm file is not read: save it as an Excel workbook (.xlsx)", "claims.xlsx"),
        "2026-04/notes.txt": (not_read["2026-04/notes.txt"][0], ""),
        "2026-04/old": (not_read["2026-04/old"][0], ""),
        "2026-04/~$claims.xlsx": ("an Excel lock file: the workbook was open when it was copied", ""),
        "2026-13": ("not a month: months are 01 to 12", ""),
        "2026-5": ("not a YYYY-MM month folder", "2026-05"),
        "2026-06": ("a month folder's name, but it is not a folder", ""),
        "2026-07": (not_read["2026-07"][0], ""),
        "misc": ("not a YYYY-MM month folder", ""),
    }
    assert not_read["2026-07"][0].startswith("a month folder's name, but it is a broken symbolic link (it points to")
    assert not_read["2026-04/notes.txt"][0].startswith("not a bordereau file; a month folder holds policies.xlsx")


@pytest.mark.parametrize("target", ["gone.xlsx", "claims.xlsx"])
def test_a_broken_or_looping_link_of_an_input_file_is_one_line(tmp_path, target):
    (tmp_path / "2026-04").mkdir()
    (tmp_path / "2026-04" / "claims.xlsx").symlink_to(target)
    with pytest.raises(
        FatalInputError, match=r"^2026-04/claims.xlsx: is a (broken symbolic link|symbolic link that points to itself)"
    ):
        inventory(tmp_path)
