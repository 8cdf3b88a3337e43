"""Private directories and atomic files for state that other local users must not touch.

- `open_private_dir(path)` creates a directory 0700 (or checks an existing one) and returns
  an open descriptor of it: a directory, not a symlink, not writable by group or others,
  owned by us. Every later operation is relative to that descriptor, so swapping the path
  for something else after the check changes nothing.
- `write_atomic(dir_fd, name, data)` writes through a temporary file opened
  O_CREAT|O_EXCL|O_NOFOLLOW at 0600 from its first byte, fsyncs it, renames it over `name`
  and fsyncs the directory: a crash leaves the old or the new content, never a torn file.

root may use a directory owned by a service account (a systemd StateDirectory such as
/var/lib/callctl/debug, owned by the daemon's user) when every folder above it is owned
by root or that account and writable by nobody else; files root creates there are handed
to that account, so the daemon can still read and replace them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

from callctl.errors import StateError

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _loose(st: os.stat_result) -> bool:
    return bool(st.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def _trusted_chain(path: Path, owner: int) -> bool:
    """Every folder above `path` owned by root or `owner` and writable by nobody else."""
    for parent in path.parents:
        try:
            st = os.lstat(parent)
        except OSError:
            return False
        if stat.S_ISLNK(st.st_mode) or st.st_uid not in (0, owner) or _loose(st):
            return False
    return True


def check_private(st: os.stat_result, path: Path) -> None:
    """Refuse a directory that is not ours alone (see the module docstring)."""
    what = f"state folder {path}"
    if not stat.S_ISDIR(st.st_mode):
        raise StateError(f"{what} is not a folder")
    if _loose(st):
        raise StateError(
            f"{what} is writable by other users (mode {stat.S_IMODE(st.st_mode):o})",
            hint=f"check who changed it, then `chmod 700 {path}`",
        )
    euid = os.geteuid()
    if st.st_uid == euid:
        return
    if euid == 0 and _trusted_chain(path, st.st_uid):
        return
    raise StateError(
        f"{what} belongs to uid {st.st_uid}, not to this user (uid {euid})",
        hint="another user may have created it to feed callctl forged state; remove it, "
        "or run callctl as its owner",
    )


def _hand_to_service_account(path: Path) -> None:
    """root made `path` in a service account's folder: give it to that account (see above)."""
    if os.geteuid() != 0:
        return
    parent = os.lstat(path.parent)
    if parent.st_uid != 0 and _trusted_chain(path, parent.st_uid) and not _loose(parent):
        os.chown(path, parent.st_uid, parent.st_gid, follow_symlinks=False)


def open_private_dir(path: Path, *, create: bool = True) -> int:
    """A descriptor of `path`, checked private; created 0700 (parents 0755) when missing."""
    if create:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        else:
            _hand_to_service_account(path)
    try:
        fd = os.open(path, _DIR_FLAGS)
    except OSError as err:
        raise StateError(f"cannot open state folder {path}: {err.strerror}") from None
    try:
        check_private(os.fstat(fd), path)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def private_dir(path: Path, *, create: bool = True) -> Iterator[int]:
    fd = open_private_dir(path, create=create)
    try:
        yield fd
    finally:
        os.close(fd)


def fsync_dir(dir_fd: int) -> None:
    os.fsync(dir_fd)


def write_atomic(dir_fd: int, name: str, data: bytes, *, mode: int = 0o600) -> None:
    """Replace `name` in the directory `dir_fd` with `data`, atomically and durably."""
    owner = os.fstat(dir_fd).st_uid
    tmp = f".{name}.{secrets.token_hex(6)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, mode, dir_fd=dir_fd)
    try:
        try:
            os.fchmod(fd, mode)  # a umask cannot widen it, but may narrow it: say exactly
            if owner != os.geteuid():
                os.fchown(fd, owner, -1)  # root writing in a service account's folder
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    fsync_dir(dir_fd)


def read_private(dir_fd: int, name: str) -> bytes | None:
    """The content of a regular file `name` (no symlinks), or None when absent."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise StateError(f"{name} is not a regular file")
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read()
    finally:
        os.close(fd)


def open_lock(dir_fd: int, name: str) -> int:
    """A lock file's descriptor (for flock), created 0600, never through a symlink."""
    owner = os.fstat(dir_fd).st_uid
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(name, flags, 0o600, dir_fd=dir_fd)
    if owner != os.geteuid():
        with contextlib.suppress(OSError):
            os.fchown(fd, owner, -1)
    return fd
