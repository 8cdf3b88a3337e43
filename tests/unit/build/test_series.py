from pathlib import Path

import pytest
from callctl.build.series import check_names, load_series, parse_series_text, patch_subject
from callctl.errors import UsageError


def test_series_text_ignores_comments_and_blanks() -> None:
    assert parse_series_text("# head\n\n0100-a.patch  # why\n0110-b.patch\n") == [
        "0100-a.patch",
        "0110-b.patch",
    ]


def test_names_must_sort_in_series_order() -> None:
    assert any("order" in p for p in check_names(["0110-b.patch", "0100-a.patch"]))


def test_names_need_the_four_digit_form() -> None:
    problems = check_names(["fix.patch", "100-a.patch", "0100-../x.patch", "0100-a.patch\n"])
    assert len([p for p in problems if "NNNN" in p]) == 4


def test_collision_with_shipped_patches_is_refused() -> None:
    shipped = ["0000-configure-ssl-library-path.patch", "0010-x.patch", "0020-y.patch"]
    assert any("collides" in p for p in check_names(["0010-mine.patch"], existing=shipped))
    assert check_names(["0100-mine.patch"], existing=shipped) == []


def test_duplicates_are_refused() -> None:
    assert any("twice" in p for p in check_names(["0100-a.patch", "0100-a.patch"]))


def test_load_series_hashes_each_patch(tmp_path: Path) -> None:
    (tmp_path / "0100-a.patch").write_text("Subject: [PATCH 1/2] pjnath: do a\n thing\n\n")
    (tmp_path / "series").write_text("0100-a.patch\n")
    series = load_series(tmp_path / "series", "pjproject")
    assert series.names == ["0100-a.patch"]
    assert len(series.patches[0].sha256) == 64
    assert series.patches[0].subject == "pjnath: do a thing"


def test_load_series_reports_every_missing_file(tmp_path: Path) -> None:
    (tmp_path / "series").write_text("0100-a.patch\n0110-b.patch\n")
    with pytest.raises(UsageError) as err:
        load_series(tmp_path / "series", "asterisk")
    assert "0100-a.patch" in err.value.message and "0110-b.patch" in err.value.message


def test_no_series_is_an_empty_series() -> None:
    assert load_series(None, "asterisk").patches == ()


def test_subject_without_header_is_empty() -> None:
    assert patch_subject("--- a/x\n+++ b/x\n") == ""
