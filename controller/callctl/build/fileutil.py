"""Small filesystem helpers shared by the build manager."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import secrets
import shutil
from collections import deque
from collections.abc import Iterator
from pathlib import Path


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    # md5 is only ever asked for by Asterisk's own tarball check, not for security.
    h = hashlib.new(algorithm, usedforsecurity=algorithm != "md5")
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    return file_digest(path, "sha256")


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a text file, read in constant memory; "" if it cannot be read."""
    try:
        with path.open("r", encoding="utf-8", errors="replace") as f:
            return "".join(deque(f, maxlen=lines))
    except OSError:
        return ""


def sha256_tree(root: Path) -> str:
    """Content hash of a directory: relative paths, modes and contents, in sorted order."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in sorted(filenames):
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                h.update(f"L {rel} {os.readlink(p)}\n".encode())
                continue
            h.update(f"F {rel} {p.stat().st_mode & 0o111:o} {sha256_file(p)}\n".encode())
    return h.hexdigest()


def rmtree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def single_top_dir(path: Path) -> Path:
    """The one directory a tarball unpacked into: a real one, never a symlink (a patch or a
    fix-up applied "inside" it would write wherever the link points)."""
    entries = [p for p in path.iterdir() if not p.name.startswith(".")]
    dirs = [p for p in entries if p.is_dir() and not p.is_symlink()]
    if len(dirs) != 1 or len(entries) != 1:
        names = ", ".join(sorted(p.name for p in entries)[:5])
        raise ValueError(f"expected one top-level directory, found: {names or 'nothing'}")
    return dirs[0]


def check_contained(top: Path) -> None:
    """Refuse (ValueError) a tree with a symlink whose target leaves it.

    Sources hold relative links (CHANGES.md -> ChangeLogs/...); one to /etc or ../../x would
    let the build's own writes (fix-ups, the pjproject patch folder, md5 files) land outside
    the scratch tree. Each link is judged where it sits, so chains are covered too.
    """
    root = os.path.normpath(top)
    for dirpath, dirnames, filenames in os.walk(top):  # does not descend into linked dirs
        for name in (*dirnames, *filenames):
            link = os.path.join(dirpath, name)
            if not os.path.islink(link):
                continue
            target = os.readlink(link)
            resolved = os.path.normpath(os.path.join(dirpath, target))
            if os.path.isabs(target) or not resolved.startswith(root + os.sep):
                rel = os.path.relpath(link, root)
                raise ValueError(f"{rel} is a symlink out of the source tree (to {target})")


_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def create_new(path: Path, data: bytes, mode: int) -> None:
    """Write a file that must not exist yet, with `mode` from its first byte.

    O_EXCL|O_NOFOLLOW: a file or symlink someone planted at `path` is an error, never
    written through (its owner's mode would stay, or the write would land elsewhere).
    """
    fd = os.open(path, _NEW_FILE, mode)
    try:
        os.fchmod(fd, mode)  # exactly `mode`, whatever the umask
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    os.close(fd)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


PARTIAL = ".partial"


@contextlib.contextmanager
def partial(dest: Path, *, directory: bool = False) -> Iterator[Path]:
    """A unique temp path next to `dest` (a file, or a folder), locked while in use.

    The lock (flock) tells the clean-up of interrupted builds (`unlocked_partial`) that
    a live writer owns it; a name of its own keeps concurrent writers of the same `dest`
    apart. Whatever is left at the temp path when the block ends is removed.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}{PARTIAL}")
        if directory:
            tmp.mkdir()
            fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        else:
            fd = os.open(tmp, _NEW_FILE, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            # A clean-up may have removed it between creation and the lock: start again.
            if os.stat(tmp).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    else:
        raise OSError(f"could not claim a temp file next to {dest}")
    try:
        yield tmp
    finally:
        with contextlib.suppress(OSError):
            rmtree(tmp)
        os.close(fd)


def unlocked_partial(path: Path) -> bool:
    """True when no live writer holds the partial at `path` (see `partial`)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)
    return True
