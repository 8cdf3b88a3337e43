"""Unpacking a hash-pinned source: the tree a patch is applied to is a real folder inside the
scratch area, with no symlink out of it (the hash says who made the tarball, not that it is
harmless)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from callctl.build.fileutil import sha256_file
from callctl.build.sources import ResolvedSource
from callctl.build.spec import SourceSpec
from callctl.errors import UsageError


def _tarball(tmp_path: Path, build: dict[str, str | None]) -> ResolvedSource:
    """A tarball of `build`: relative path -> file text, or "->target" for a symlink."""
    content = tmp_path / "content"
    for rel, text in build.items():
        p = content / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if text is None:
            p.mkdir()
        elif text.startswith("->"):
            p.symlink_to(text[2:])
        else:
            p.write_text(text)
    archive = tmp_path / "src.tar.gz"
    subprocess.run(["tar", "-czf", str(archive), "-C", str(content), "."], check=True)
    sha = sha256_file(archive)
    spec = SourceSpec(kind="tarball", path=archive, sha256=sha)
    return ResolvedSource("asterisk", spec, sha, archive, None, str(archive))


def test_a_tarball_whose_only_top_entry_is_a_symlink_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    src = _tarball(tmp_path, {"asterisk-22.10.1": f"->{outside}"})
    with pytest.raises(UsageError, match="one top-level directory"):
        src.unpack(tmp_path / "scratch")


@pytest.mark.parametrize("target", ["/etc", "../../../outside", "../.."])
def test_a_symlink_out_of_the_tree_is_refused(tmp_path: Path, target: str) -> None:
    src = _tarball(
        tmp_path,
        {"asterisk-22.10.1/main/x.c": "x", "asterisk-22.10.1/third-party": f"->{target}"},
    )
    with pytest.raises(UsageError, match="third-party is a symlink out of the source tree"):
        src.unpack(tmp_path / "scratch")


def test_links_inside_the_tree_are_kept(tmp_path: Path) -> None:
    src = _tarball(
        tmp_path,
        {
            "asterisk-22.10.1/ChangeLogs/ChangeLog.md": "log",
            "asterisk-22.10.1/CHANGES.md": "->ChangeLogs/ChangeLog.md",
            "asterisk-22.10.1/apps/app_voicemail_imap.c": "->../CHANGES.md",
        },
    )
    top = src.unpack(tmp_path / "scratch")
    assert top == tmp_path / "scratch" / "asterisk-22.10.1"
    assert (top / "apps" / "app_voicemail_imap.c").read_text() == "log"
