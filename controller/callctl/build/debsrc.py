"""Debian source packages: parsing .dsc files (pure) and fetching with apt (I/O).

Unstable is configured as deb-src only (scripts/install-deps.sh); apt verifies the download
against the signed Sources index, and we verify each file against the .dsc's Checksums-Sha256.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from callctl.build.fileutil import partial, rmtree, sha256_file
from callctl.errors import IntegrityError, UsageError


@dataclass(frozen=True)
class DscFile:
    name: str
    sha256: str
    size: int


def parse_dsc_checksums(text: str) -> list[DscFile]:
    files: list[DscFile] = []
    in_block = False
    for line in text.splitlines():
        if line.startswith("Checksums-Sha256:"):
            in_block = True
            continue
        if in_block:
            if not line.startswith(" "):
                break
            parts = line.split()
            if len(parts) == 3:
                files.append(DscFile(parts[2], parts[0], int(parts[1])))
    return files


def version_without_epoch(version: str) -> str:
    return version.split(":", 1)[1] if ":" in version else version


def newest_source_version(package: str) -> str:
    out = _run(["apt-cache", "showsrc", "--only-source", package], what="apt-cache showsrc")
    versions = re.findall(r"^Version: (\S+)$", out, flags=re.M)
    if not versions:
        raise UsageError(
            f"no Debian source package {package!r} is known to apt",
            hint="run scripts/install-deps.sh: it adds unstable as deb-src only",
        )
    best: str = versions[0]
    for v in versions[1:]:
        if subprocess.run(["dpkg", "--compare-versions", v, "gt", best]).returncode == 0:
            best = v
    return best


def _run(cmd: list[str], *, what: str, cwd: Path | None = None) -> str:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    except FileNotFoundError:
        raise UsageError(f"{cmd[0]} not found: Debian sources need apt") from None
    if proc.returncode != 0:
        raise UsageError(
            f"{what} failed: {(proc.stderr or proc.stdout).strip()[-500:]}",
            hint="is unstable configured as deb-src? run scripts/install-deps.sh",
        )
    return proc.stdout


def verify_download(dest: Path, dsc: Path) -> list[DscFile]:
    files = parse_dsc_checksums(dsc.read_text(encoding="utf-8", errors="replace"))
    if not files:
        raise IntegrityError(f"{dsc} lists no Checksums-Sha256")
    for f in files:
        p = dest / f.name
        if not p.is_file():
            raise IntegrityError(f"{p} is missing from the Debian source download")
        actual = sha256_file(p)
        if actual != f.sha256:
            raise IntegrityError(
                f"sha256 mismatch for {p.name}: expected {f.sha256}, got {actual}",
                hint=f"remove {dest} and run again to download it afresh",
            )
    return files


def fetch(package: str, version: str, downloads: Path) -> tuple[Path, list[DscFile]]:
    """Download (once) and verify a Debian source package; returns its folder and files."""
    dest = downloads / "debian" / f"{package}_{version_without_epoch(version)}"
    dsc = dest / f"{package}_{version_without_epoch(version)}.dsc"
    if dsc.is_file():
        try:
            return dest, verify_download(dest, dsc)
        except IntegrityError:
            pass  # a partial or damaged earlier download: fetch again
    with partial(dest, directory=True) as tmp:
        _run(
            ["apt-get", "source", "--download-only", "-qq", f"{package}={version}"],
            what=f"apt-get source {package}={version}",
            cwd=tmp,
        )
        files = verify_download(tmp, tmp / dsc.name)
        rmtree(dest)
        tmp.rename(dest)
    return dest, files
