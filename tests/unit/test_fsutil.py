"""callctl.fsutil: private folders and atomic, no-follow, 0600-from-the-first-byte files."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from callctl import fsutil
from callctl.errors import StateError


@pytest.fixture
def umask0():
    old = os.umask(0)
    yield
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_private_dir_is_created_0700_even_with_umask_0(tmp_path, umask0):
    with fsutil.private_dir(tmp_path / "a" / "debug"):
        pass
    assert mode(tmp_path / "a" / "debug") == 0o700


@pytest.mark.parametrize("bad_mode", [0o770, 0o707, 0o777, 0o1777])
def test_a_folder_others_can_write_is_refused(tmp_path, bad_mode):
    d = tmp_path / "d"
    d.mkdir()
    os.chmod(d, bad_mode)
    with pytest.raises(StateError, match="writable by other users"):
        fsutil.open_private_dir(d)


def test_a_symlinked_folder_is_refused(tmp_path):
    (tmp_path / "real").mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(StateError, match="cannot open"):
        fsutil.open_private_dir(tmp_path / "link")


def test_file_is_0600_from_its_first_byte(tmp_path, umask0, monkeypatch):
    seen: list[int] = []
    real_write = os.write

    def spy(fd: int, data: bytes) -> int:
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        return real_write(fd, data)

    with fsutil.private_dir(tmp_path / "d") as dfd:
        monkeypatch.setattr(os, "write", spy)
        fsutil.write_atomic(dfd, "s.json", b"secret")
        monkeypatch.undo()
    assert seen == [0o600]
    assert mode(tmp_path / "d" / "s.json") == 0o600
    assert (tmp_path / "d" / "s.json").read_bytes() == b"secret"


def test_a_planted_symlink_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    d = tmp_path / "d"
    d.mkdir(mode=0o700)
    (d / "s.json").symlink_to(victim)
    with fsutil.private_dir(d) as dfd:
        fsutil.write_atomic(dfd, "s.json", b"new")
        assert fsutil.read_private(dfd, "s.json") == b"new"
    assert victim.read_bytes() == b"keep"
    assert not (d / "s.json").is_symlink()


def test_reading_through_a_symlink_is_refused(tmp_path):
    d = tmp_path / "d"
    d.mkdir(mode=0o700)
    (tmp_path / "x").write_bytes(b"{}")
    (d / "s.json").symlink_to(tmp_path / "x")
    with fsutil.private_dir(d) as dfd, pytest.raises(OSError):
        fsutil.read_private(dfd, "s.json")


def test_old_content_stays_when_the_rename_fails_and_no_temp_is_left(tmp_path, monkeypatch):
    with fsutil.private_dir(tmp_path / "d") as dfd:
        fsutil.write_atomic(dfd, "s.json", b"old")

        def full(*a: object, **k: object) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(os, "replace", full)
        with pytest.raises(OSError):
            fsutil.write_atomic(dfd, "s.json", b"new")
    assert (tmp_path / "d" / "s.json").read_bytes() == b"old"
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["s.json"]


def test_the_folder_is_fsynced_after_the_rename(tmp_path, monkeypatch):
    synced: list[bool] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real_fsync(fd)

    with fsutil.private_dir(tmp_path / "d") as dfd:
        monkeypatch.setattr(os, "fsync", spy)
        fsutil.write_atomic(dfd, "s.json", b"x")
    assert synced == [False, True]  # the file, then its folder


def test_lock_file_is_0600_and_never_followed(tmp_path, umask0):
    d = tmp_path / "d"
    with fsutil.private_dir(d) as dfd:
        os.close(fsutil.open_lock(dfd, "s.lock"))
        assert mode(d / "s.lock") == 0o600
        (d / "t.lock").symlink_to(tmp_path / "elsewhere")
        with pytest.raises(OSError):
            fsutil.open_lock(dfd, "t.lock")
    assert not (tmp_path / "elsewhere").exists()


@pytest.fixture
def service_home() -> Iterator[Path]:
    """A folder like /var/lib/callctl: owned by a service account (nobody), below folders
    only root can write (a private folder in root's home, not world-writable /tmp)."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    home = Path.home()
    if os.lstat(home).st_uid != 0 or not fsutil._trusted_chain(home / "x", 0):
        pytest.skip("root's home is not a trusted folder here")
    base = Path(tempfile.mkdtemp(prefix=".callctl-fsutil-", dir=home))
    try:
        service = base / "callctl"
        service.mkdir(mode=0o750)
        os.chown(service, 65534, 65534)
        yield service
    finally:
        shutil.rmtree(base)


def test_root_makes_the_folder_for_the_service_account_that_owns_the_parent(service_home):
    """The CLI run by root and the daemon/timer run as the service account share one folder:
    what root creates there is handed to the account, or the daemon could not read it."""
    debug = service_home / "debug"
    with fsutil.private_dir(debug) as dfd:
        fsutil.write_atomic(dfd, "s.json", b"{}")
        os.close(fsutil.open_lock(dfd, "s.json.lock"))
    for p in (debug, debug / "s.json", debug / "s.json.lock"):
        assert os.lstat(p).st_uid == 65534, p
    assert mode(debug) == 0o700 and mode(debug / "s.json") == 0o600


def test_root_does_not_trust_a_service_folder_below_world_writable_tmp(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    service = tmp_path / "callctl"
    service.mkdir(mode=0o750)
    os.chown(service, 65534, 65534)
    debug = service / "debug"
    debug.mkdir(mode=0o700)
    os.chown(debug, 65534, 65534)
    with pytest.raises(StateError, match="belongs to uid 65534"):
        fsutil.open_private_dir(debug)
