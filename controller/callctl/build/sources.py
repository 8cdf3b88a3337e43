"""Resolving and unpacking the Asterisk and pjproject sources a spec names.

Resolution yields a sha256 for each source (the cache key needs it before anything is built),
verifying tarballs BEFORE they are unpacked. Debian sources come from one source package:
Asterisk is the `.orig.tar.xz`, the bundled pjproject the `.orig-Xpjproject.tar.xz` component.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from callctl.build import debsrc
from callctl.build.buildenv import step_environment
from callctl.build.fileutil import (
    check_contained,
    partial,
    sha256_file,
    sha256_tree,
    single_top_dir,
)
from callctl.build.spec import SourceSpec
from callctl.errors import IntegrityError, UsageError


@dataclass(frozen=True)
class ResolvedSource:
    role: str  # asterisk | pjproject
    spec: SourceSpec
    sha256: str
    archive: Path | None  # a verified tarball, or None for a directory source
    directory: Path | None
    origin: str  # human description, e.g. "debian asterisk=1:22.10.1+dfsg..."

    def unpack(self, into: Path) -> Path:
        """Unpack (or copy) into `into` and return the source's top directory."""
        into.mkdir(parents=True, exist_ok=True)
        if self.directory is not None:
            dest = into / self.directory.name
            shutil.copytree(
                self.directory, dest, symlinks=True, ignore=shutil.ignore_patterns(".git")
            )
            return _contained(dest, str(self.directory))
        assert self.archive is not None
        # Re-check: the cached file could have changed since resolution.
        if sha256_file(self.archive) != self.sha256:
            raise IntegrityError(f"{self.archive} changed after it was verified")
        proc = subprocess.run(
            ["tar", "-xf", str(self.archive), "-C", str(into)],
            capture_output=True,
            text=True,
            env=step_environment(os.environ, {"LC_ALL": "C"}),  # no TAR_OPTIONS
        )
        if proc.returncode != 0:
            raise UsageError(f"cannot unpack {self.archive}: {proc.stderr.strip()[-300:]}")
        try:
            top = single_top_dir(into)
        except ValueError as exc:
            raise UsageError(f"{self.archive}: {exc}") from None
        return _contained(top, str(self.archive))


def _contained(top: Path, origin: str) -> Path:
    try:
        check_contained(top)
    except ValueError as exc:
        raise UsageError(f"{origin}: {exc}", hint="nothing was patched or built") from None
    return top


def _verify_tarball(path: Path, expected: str, role: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise IntegrityError(
            f"{role} tarball {path} has sha256 {actual}, the spec expects {expected}",
            hint="nothing was unpacked; check the file or fix the sha256 in the spec",
        )


def _download(url: str, sha256: str, downloads: Path, role: str) -> Path:
    name = url.rstrip("/").rsplit("/", 1)[-1] or f"{role}.tar"
    dest = downloads / "tarballs" / sha256 / name
    if dest.is_file() and sha256_file(dest) == sha256:
        return dest
    with partial(dest) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=60) as resp, tmp.open("wb") as out:
                shutil.copyfileobj(resp, out)
        except OSError as exc:
            raise UsageError(f"cannot download {role} tarball {url}: {exc}") from None
        _verify_tarball(tmp, sha256, role)
        tmp.rename(dest)
    return dest


def resolve_sources(
    asterisk: SourceSpec, pjproject: SourceSpec, downloads: Path
) -> tuple[ResolvedSource, ResolvedSource]:
    deb_dir: Path | None = None
    deb_files: dict[str, str] = {}
    version = ""
    if asterisk.kind == "debian":
        assert asterisk.package
        version = asterisk.version or debsrc.newest_source_version(asterisk.package)
        deb_dir, files = debsrc.fetch(asterisk.package, version, downloads)
        deb_files = {f.name: f.sha256 for f in files}

    def one(spec: SourceSpec, role: str) -> ResolvedSource:
        if spec.kind == "debian":
            assert deb_dir is not None
            suffix = ".orig.tar.xz" if role == "asterisk" else ".orig-Xpjproject.tar.xz"
            names = [n for n in deb_files if n.endswith(suffix)]
            if len(names) != 1:
                raise UsageError(f"the Debian source package has no {role} tarball (*{suffix})")
            return ResolvedSource(
                role,
                spec,
                deb_files[names[0]],
                deb_dir / names[0],
                None,
                f"debian {asterisk.package}={version} ({names[0]})",
            )
        if spec.kind == "tarball":
            assert spec.sha256
            if spec.path is not None:
                if not spec.path.is_file():
                    raise UsageError(f"{role} tarball {spec.path} does not exist")
                _verify_tarball(spec.path, spec.sha256, role)
                return ResolvedSource(role, spec, spec.sha256, spec.path, None, str(spec.path))
            assert spec.url
            path = _download(spec.url, spec.sha256, downloads, role)
            return ResolvedSource(role, spec, spec.sha256, path, None, spec.url)
        assert spec.path is not None
        if not spec.path.is_dir():
            raise UsageError(f"{role} source directory {spec.path} does not exist")
        return ResolvedSource(
            role, spec, sha256_tree(spec.path), None, spec.path, f"directory {spec.path}"
        )

    return one(asterisk, "asterisk"), one(pjproject, "pjproject")
