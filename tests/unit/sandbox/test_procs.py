"""runs_with: a recorded pid is ours only while /proc shows our program with our config."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from callctl.sandbox.procs import runs_with


@pytest.fixture
def sleeper(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    # `sleep` takes its duration as the "config": any argument serves.
    proc = subprocess.Popen(["sleep", "30"])
    cmdline = Path(f"/proc/{proc.pid}/cmdline")
    deadline = time.monotonic() + 10
    while not cmdline.read_bytes().startswith(b"sleep\0"):  # until the fork has exec'd
        assert time.monotonic() < deadline, "sleep did not start"
        time.sleep(0.01)
    try:
        yield proc.pid, Path("30")
    finally:
        proc.kill()
        proc.wait()


def test_running_program_with_its_config_is_ours(sleeper: tuple[int, Path]) -> None:
    pid, arg = sleeper
    assert runs_with(pid, "sleep", arg)


def test_other_config_or_program_is_not_ours(sleeper: tuple[int, Path]) -> None:
    pid, arg = sleeper
    assert not runs_with(pid, "sleep", Path("31"))
    assert not runs_with(pid, "asterisk", arg)


def test_program_name_is_looked_for_only_where_told(sleeper: tuple[int, Path]) -> None:
    # The name "30" ends the second argument: found with name_within=2 only.
    pid, arg = sleeper
    assert not runs_with(pid, "30", arg)
    assert runs_with(pid, "30", arg, name_within=2)


def test_exited_process_is_not_ours() -> None:
    proc = subprocess.Popen(["sleep", "0"])
    proc.wait()
    assert not runs_with(proc.pid, "sleep", Path("0"))
