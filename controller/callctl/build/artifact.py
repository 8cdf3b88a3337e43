"""Deployable artefacts: one finished build packed into a versioned, reproducible tarball.

    DEST/asterisk-VERSION-KEY.tar.gz          asterisk-VERSION-KEY/{artifact.json,
                                                manifest.json, prefix/...}
    DEST/asterisk-VERSION-KEY.tar.gz.sha256   `sha256sum -c` format

Packing is deterministic (sorted entries, owner root, every mtime the build's time, gzip
header without name or time): the same build always gives the same bytes, so a sha256 names
an artefact. artifact.json lists the shared libraries the build needs from the system and
the Debian packages that provided them on the build host (what the ansible role installs).
"""

from __future__ import annotations

import calendar
import gzip
import io
import json
import os
import re
import shutil
import stat
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callctl.build.fileutil import sha256_file
from callctl.errors import IntegrityError, StateError

ARTIFACT_FORMAT = 1
SUFFIX = ".tar.gz"
Progress = Callable[[str], None]

_NEEDED = re.compile(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]")
_LDD = re.compile(r"\s*(\S+) => (/\S+) \(0x[0-9a-f]+\)")  # fullmatch
_DPKG = re.compile(r"([^:\s,]+)(?::[a-z0-9]+)?: (/\S+)")  # fullmatch
_SAFE = re.compile(r"[^A-Za-z0-9._+-]")
# State an Asterisk leaves in its compiled-in default folders when someone runs it from the
# cache's prefix without -C: never part of the installation, and never the same twice.
RUNTIME_STATE = ("var/run/", "var/log/", "var/spool/", "var/lib/asterisk/astdb.sqlite3")


@dataclass(frozen=True)
class Artifact:
    path: Path
    sha256: str

    @property
    def name(self) -> str:
        return self.path.name[: -len(SUFFIX)]

    @property
    def sha256_path(self) -> Path:
        return self.path.with_name(self.path.name + ".sha256")

    def as_dict(self) -> dict[str, str]:
        return {
            "path": str(self.path),
            "sha256": self.sha256,
            "sha256_file": str(self.sha256_path),
            "name": self.name,
        }


def artifact_name(manifest: dict[str, Any]) -> str:
    version = _SAFE.sub("_", str(manifest["versions"]["asterisk"]))
    return f"asterisk-{version}-{manifest['key']}"


def build_epoch(manifest: dict[str, Any]) -> int:
    """The build's own time: the mtime of every entry, so repacking changes nothing."""
    try:
        return calendar.timegm(time.strptime(str(manifest["built_at"]), "%Y-%m-%dT%H:%M:%SZ"))
    except (KeyError, ValueError):
        return 0


# -- what the build needs from the system (pure parsers, then the commands) ---------------


def parse_needed(readelf_output: str) -> set[str]:
    """DT_NEEDED sonames from `readelf -d` output (one or many files)."""
    return set(_NEEDED.findall(readelf_output))


def parse_ldd(ldd_output: str) -> dict[str, str]:
    """soname -> resolved path from `ldd` output; unresolved ("not found") are left out."""
    found: dict[str, str] = {}
    for line in ldd_output.splitlines():
        m = _LDD.fullmatch(line)
        if m:
            found.setdefault(m.group(1), m.group(2))
    return found


def parse_dpkg_search(output: str) -> dict[str, str]:
    """path -> package from `dpkg -S PATH...` output (arch qualifiers dropped)."""
    owners: dict[str, str] = {}
    for line in output.splitlines():
        m = _DPKG.fullmatch(line.strip())
        if m:
            owners[m.group(2)] = m.group(1)
    return owners


def _usrmerge_variants(path: str) -> list[str]:
    # dpkg registers a library under /lib or /usr/lib, whichever its package ships.
    if path.startswith("/usr/lib/"):
        return [path, path[len("/usr") :]]
    if path.startswith("/lib/"):
        return [path, "/usr" + path]
    return [path]


def _elf_files(root: Path) -> list[Path]:
    out = []
    for p in _walk(root):
        if p.is_file() and not p.is_symlink():
            with p.open("rb") as f:
                if f.read(4) == b"\x7fELF":
                    out.append(p)
    return out


def _run(args: list[str], env: dict[str, str] | None = None) -> str:
    if not shutil.which(args[0]):
        return ""
    return subprocess.run(args, capture_output=True, text=True, env=env).stdout


def runtime_needs(prefix: Path) -> dict[str, Any]:
    """Shared libraries the build takes from the system, and their Debian packages here."""
    elves = [str(p) for p in _elf_files(prefix)]
    own = {p.name for p in (prefix / "lib").glob("*.so*")}
    needed = parse_needed(_run(["readelf", "-d", *elves])) - own
    env = {**os.environ, "LD_LIBRARY_PATH": str(prefix / "lib")}
    resolved = {k: v for k, v in parse_ldd(_run(["ldd", *elves], env)).items() if k in needed}
    queries = sorted({v for p in resolved.values() for v in _usrmerge_variants(p)})
    owners = parse_dpkg_search(_run(["dpkg", "-S", *queries])) if queries else {}
    libraries = {}
    for soname in sorted(needed):
        path = resolved.get(soname)
        package = (
            next((owners[v] for v in _usrmerge_variants(path) if v in owners), None)
            if path
            else None
        )
        libraries[soname] = {"path": path, "package": package}
    return {
        "libraries": libraries,
        "packages": sorted({str(v["package"]) for v in libraries.values() if v["package"]}),
        "unresolved": sorted(k for k, v in libraries.items() if not v["package"]),
    }


# -- packing -------------------------------------------------------------------------------


def _walk(root: Path) -> Iterator[Path]:
    """Every entry below root in sorted order; symlinks to directories are not followed."""
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        yield entry
        if entry.is_dir() and not entry.is_symlink():
            yield from _walk(entry)


def _tarinfo(name: str, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime, info.uid, info.gid, info.uname, info.gname = mtime, 0, 0, "root", "root"
    return info


def _is_runtime_state(rel: str, st: os.stat_result) -> bool:
    if stat.S_ISSOCK(st.st_mode) or stat.S_ISFIFO(st.st_mode):
        return True
    return not stat.S_ISDIR(st.st_mode) and rel.startswith(RUNTIME_STATE)


def _add_tree(tar: tarfile.TarFile, root: Path, arcroot: str, mtime: int) -> list[str]:
    """Add root's tree; returns the runtime-state files it left out."""
    top = _tarinfo(arcroot, mtime)
    top.type, top.mode = tarfile.DIRTYPE, 0o755
    tar.addfile(top)
    skipped = []
    for p in _walk(root):
        rel = p.relative_to(root).as_posix()
        info = _tarinfo(f"{arcroot}/{rel}", mtime)
        st = p.lstat()
        if _is_runtime_state(rel, st):
            skipped.append(rel)
            continue
        if stat.S_ISLNK(st.st_mode):
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, os.readlink(p), 0o777
            tar.addfile(info)
        elif stat.S_ISDIR(st.st_mode):
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        elif stat.S_ISREG(st.st_mode):
            # Keep only the executable bit: group/other write or setuid never ship.
            info.mode, info.size = (0o755 if st.st_mode & 0o111 else 0o644), st.st_size
            with p.open("rb") as f:
                tar.addfile(info, f)
        else:
            raise StateError(f"cannot pack {p}: not a file, directory or symlink")
    return skipped


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: int) -> None:
    info = _tarinfo(name, mtime)
    info.mode, info.size = 0o644, len(data)
    tar.addfile(info, io.BytesIO(data))


def _write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.unlink(missing_ok=True)
    try:
        write(tmp)
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def pack(build_dir: Path, dest_dir: Path, progress: Progress = lambda _: None) -> Artifact:
    """Pack a finished build (CACHE/builds/KEY) into DEST; returns the artefact."""
    manifest_path = build_dir / "manifest.json"
    prefix = build_dir / "prefix"
    if not manifest_path.is_file() or not (prefix / "sbin" / "asterisk").is_file():
        raise StateError(
            f"{build_dir} is not a finished build (no manifest or no sbin/asterisk)",
            hint="run `callctl build` first",
        )
    manifest_bytes = manifest_path.read_bytes()
    manifest = json.loads(manifest_bytes)
    name, mtime = artifact_name(manifest), build_epoch(manifest)
    progress(f"artifact: finding the system libraries {name} needs")
    meta = {
        "format": ARTIFACT_FORMAT,
        "name": name,
        "key": manifest["key"],
        "asterisk_version": manifest["versions"]["asterisk"],
        "build_prefix": manifest.get("prefix", str(prefix)),
        "runtime": runtime_needs(prefix),
    }
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / f"{name}{SUFFIX}"

    skipped: list[str] = []

    def write(tmp: Path) -> None:
        with (
            tmp.open("wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            _add_bytes(
                tar,
                f"{name}/artifact.json",
                (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode(),
                mtime,
            )
            _add_bytes(tar, f"{name}/manifest.json", manifest_bytes, mtime)
            skipped.extend(_add_tree(tar, prefix, f"{name}/prefix", mtime))

    progress(f"artifact: packing {prefix} into {path}")
    _write_atomic(path, write)
    if skipped:
        progress(
            f"artifact: left out {len(skipped)} runtime file(s) an Asterisk run from the "
            f"cache's prefix wrote: {', '.join(skipped[:5])}"
        )
    digest = sha256_file(path)
    art = Artifact(path, digest)
    _write_atomic(
        art.sha256_path, lambda tmp: tmp.write_text(f"{digest}  {path.name}\n", encoding="utf-8")
    )
    progress(f"artifact: {path.name} sha256 {digest}")
    return art


def read_sha256_file(path: Path) -> str:
    try:
        first = path.read_text(encoding="utf-8").split()
    except OSError as exc:
        raise IntegrityError(f"cannot read {path}: {exc}") from None
    if not first or not re.fullmatch(r"[0-9a-f]{64}", first[0]):
        raise IntegrityError(f"{path} does not start with a sha256")
    return first[0]


def verify(path: Path) -> Artifact:
    """Check an artefact against the .sha256 beside it."""
    art = Artifact(path, sha256_file(path))
    expected = read_sha256_file(art.sha256_path)
    if expected != art.sha256:
        raise IntegrityError(
            f"{path.name}: sha256 {art.sha256} does not match {art.sha256_path.name} ({expected})",
            hint="the artefact is corrupt or not the one that was built",
        )
    return art


def members(path: Path) -> list[tarfile.TarInfo]:
    """The tar entries of an artefact, in archive order (for checks and tests)."""
    with tarfile.open(path, "r:gz") as tar:
        return tar.getmembers()
