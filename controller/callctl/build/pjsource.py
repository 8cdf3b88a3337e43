"""Turning a pjproject source into what Asterisk's bundled build expects.

Asterisk's third-party/pjproject unpacks `pjproject-VERSION.tar.bz2` from the download cache,
checks its md5 against `pjproject-VERSION.tar.bz2.md5`, then applies every
`third-party/pjproject/patches/*.patch` in name order. We repack whatever pjproject source the
spec names into that tarball (once per source sha256) and write the md5 Asterisk will check.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from callctl.build.buildenv import step_environment
from callctl.build.fileutil import file_digest, partial, single_top_dir
from callctl.errors import UsageError


def bundled_version(asterisk_tree: Path) -> str:
    text = (asterisk_tree / "third-party" / "versions.mak").read_text(encoding="utf-8")
    m = re.search(r"^PJPROJECT_VERSION=(\S+)$", text, flags=re.M)
    if not m:
        raise UsageError(f"{asterisk_tree}: third-party/versions.mak names no PJPROJECT_VERSION")
    return m.group(1)


def shipped_patches(asterisk_tree: Path) -> list[Path]:
    return sorted((asterisk_tree / "third-party" / "pjproject" / "patches").glob("*.patch"))


def fix_up(tree: Path) -> list[str]:
    """Make a repacked tree buildable. Returns what was changed, for the manifest."""
    changes = []
    # Debian's dfsg tarball removes bdimad_dev.c but pjmedia's Makefile still links it.
    bdimad = tree / "pjmedia" / "src" / "pjmedia-audiodev" / "bdimad_dev.c"
    makefile = tree / "pjmedia" / "build" / "Makefile"
    if not bdimad.exists() and makefile.exists():
        text = makefile.read_text(encoding="utf-8")
        if " bdimad_dev.o" in text:
            makefile.write_text(text.replace(" bdimad_dev.o", ""), encoding="utf-8")
            changes.append("pjmedia/build/Makefile: dropped bdimad_dev.o (source absent)")
    return changes


def unpacked_top(unpack_dir: Path, version: str) -> Path:
    top = single_top_dir(unpack_dir)  # a real folder, never a symlink
    want = unpack_dir / f"pjproject-{version}"
    if top != want:
        top.rename(want)
    return want


def repack(tree: Path, out_dir: Path, version: str) -> Path:
    """tar.bz2 the tree as pjproject-VERSION/ into out_dir (atomically)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    dest = out_dir / f"pjproject-{version}.tar.bz2"
    with partial(dest) as tmp:
        _tar_reproducibly(tree, tmp)
        tmp.rename(dest)
    return dest


def _tar_reproducibly(tree: Path, tmp: Path) -> None:
    # Fixed owner and order keep the archive's bytes reproducible for the same input.
    subprocess.run(
        [
            "tar",
            "--sort=name",
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--mtime=@0",
            "-cjf",
            str(tmp),
            "-C",
            str(tree.parent),
            tree.name,
        ],
        check=True,
        capture_output=True,
        env=step_environment(os.environ, {"LC_ALL": "C"}),  # no TAR_OPTIONS, BZIP2
    )


def install_into_asterisk(tarball: Path, asterisk_tree: Path, cache_dir: Path) -> None:
    """Put the tarball in Asterisk's download cache and write the md5 it checks."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / tarball.name
    if target.resolve() != tarball.resolve():
        shutil.copy2(tarball, target)
    md5 = asterisk_tree / "third-party" / "pjproject" / f"{tarball.name}.md5"
    md5.write_text(f"{file_digest(target, 'md5')}  {tarball.name}\n", encoding="utf-8")
