"""Secrets on disk: configs and the state file are 0600 from their first byte, temp files are
never written through a planted file or symlink, and the sandbox folders are ours alone."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from callctl.errors import StateError
from callctl.sandbox import render, state
from callctl.sandbox.state import make_private_root, write_state
from support.sandbox_state import planted_state


def test_secret_configs_are_never_readable_by_others_while_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Record the mode of each file at the moment its bytes are written.
    seen: dict[str, int] = {}
    real_write = os.write

    def spy(fd: int, data: bytes) -> int:
        seen[os.readlink(f"/proc/self/fd/{fd}")] = stat.S_IMODE(os.fstat(fd).st_mode)
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", spy)
    umask = os.umask(0o022)
    try:
        render.write_configs(
            tmp_path, {"manager.conf": "secret = x\n", "http.conf": "[general]\n"}, {"manager.conf"}
        )
    finally:
        os.umask(umask)
        monkeypatch.undo()
    assert seen[str(tmp_path / "manager.conf")] == 0o600
    assert stat.S_IMODE((tmp_path / "manager.conf").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "http.conf").stat().st_mode) == 0o644


def test_a_planted_config_or_symlink_is_refused_not_written_through(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("")
    (tmp_path / "manager.conf").symlink_to(target)
    with pytest.raises(FileExistsError):
        render.write_configs(tmp_path, {"manager.conf": "secret = x\n"}, {"manager.conf"})
    assert target.read_text() == ""


def test_state_file_temp_is_exclusive_and_the_result_0600(tmp_path: Path) -> None:
    # A squatter pre-creates the old fixed temp name, world-writable, and a symlink trap.
    planted = tmp_path / ".state.json.tmp"
    planted.write_text("")
    planted.chmod(0o666)
    write_state(planted_state(tmp_path))
    path = tmp_path / "state.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["ami_secret"] == "ami-secret"
    assert planted.read_text() == ""  # never written through
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == [planted.name]


def test_sandbox_folders_are_created_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLCTL_STATE", str(tmp_path / "st"))
    root = state.sandbox_root("t1")
    make_private_root(root)
    for d in (tmp_path / "st", tmp_path / "st" / "sb", root):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700


@pytest.mark.parametrize("which", ["state", "sb", "root"])
def test_a_squatted_world_writable_folder_is_refused(
    which: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLCTL_STATE", str(tmp_path / "st"))
    root = state.sandbox_root("t1")
    squatted = {"state": tmp_path / "st", "sb": tmp_path / "st" / "sb", "root": root}[which]
    squatted.mkdir(parents=True)
    squatted.chmod(0o777)
    with pytest.raises(StateError, match="writable by other users"):
        make_private_root(root)


def test_a_symlinked_sandbox_root_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLCTL_STATE", str(tmp_path / "st"))
    (tmp_path / "st" / "sb").mkdir(parents=True)
    (tmp_path / "etc").mkdir()
    state.sandbox_root("t1").symlink_to(tmp_path / "etc")
    with pytest.raises(StateError):
        make_private_root(state.sandbox_root("t1"))
