"""A full disk while debug is toggled (issue 16 item 2): undo first, record after, and `off`
says so when it could not restore. The disk is a real 64 KiB tmpfs filled to the last byte
while the simulated Asterisk runs a command (needs root for the mount)."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from callctl.cli import Console, main
from callctl.debug.service import DebugService
from callctl.errors import AsteriskUnavailable
from support.fake_ami import FakeAmiServer, FakeAsterisk

T0 = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


class SmallDisk:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.filler = root / "filler"

    def fill(self) -> None:
        """Write until the file system says ENOSPC, down to the last byte."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            for size in (4096, 1):
                with contextlib.suppress(OSError):
                    while os.write(fd, b"\0" * size):
                        pass
        finally:
            os.close(fd)
        probe = os.open(self.root / "probe", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            with pytest.raises(OSError) as info:
                os.write(probe, b"\0" * 4096)
            assert info.value.errno == errno.ENOSPC
        finally:
            os.close(probe)
            os.unlink(self.root / "probe")

    def free(self) -> None:
        self.filler.unlink(missing_ok=True)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    try:
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(mnt)],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as err:
        pytest.skip(f"cannot mount a tmpfs here: {err}")
    try:
        yield SmallDisk(mnt)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def svc(server: FakeAmiServer, state_dir: Path) -> DebugService:
    return DebugService(server.config(), state_dir=state_dir, clock=lambda: T0)


@pytest.mark.parametrize("when", ["logger add channel dbg", "core set debug 5"])
async def test_disk_fills_during_on_everything_is_undone(server, disk, when):
    ast = server.ast
    with ast.left_as_found():  # undone although nothing could be recorded
        cmd = next(c for c in ("logger add channel dbg", "core set debug 5") if c == when)
        server.on_run[
            f"{cmd} notice,warning,error,debug,verbose,trace" if "logger" in cmd else cmd
        ] = disk.fill
        s = svc(server, disk.root / "debug")
        with pytest.raises(AsteriskUnavailable, match="rolled back") as info:
            await s.on(name="dbg")
    assert "No space left" in info.value.message
    disk.free()
    assert not s.status()["on"]  # and no file claims debug is on


async def test_disk_full_at_off_still_restores_and_says_what_it_could_not_record(server, disk):
    ast = server.ast
    with ast.left_as_found():
        s = svc(server, disk.root / "debug")
        await s.on(name="dbg")
        disk.fill()
        res = await s.off()
        assert res.action == "stopped"
    assert any("state file" in w and "No space left" in w for w in res.warnings)
    assert not s.status()["on"]


async def test_off_says_not_restored_when_asterisk_kept_the_change(server, tmp_path):
    ast = server.ast
    s = svc(server, tmp_path)
    await s.on(name="dbg")
    server.lie["logger remove channel dbg"] = ["Removed dynamic logger channel 'dbg'"]
    with pytest.raises(AsteriskUnavailable, match=r"NOT restored: logger channel .*dbg"):
        await s.off()
    assert any(n.endswith("/dbg") for n, _, _ in ast.channels)
    left = s.store.load()
    assert left is not None  # kept: a later `off` can finish
    await s.off()
    assert not any(n.endswith("/dbg") for n, _, _ in ast.channels)


def test_cli_off_never_claims_restored_when_it_was_not(tmp_path, monkeypatch):
    import asyncio

    ast = FakeAsterisk()
    loop = asyncio.new_event_loop()
    srv = FakeAmiServer(ast)
    loop.run_until_complete(srv.start())
    t = threading.Thread(target=loop.run_forever, daemon=True)
    t.start()
    monkeypatch.setenv("CALLCTL_AMI_PORT", str(srv.port))
    monkeypatch.setenv("CALLCTL_AMI_USER", "callctl")
    monkeypatch.setenv("CALLCTL_AMI_SECRET", "s3cret")
    monkeypatch.setenv("CALLCTL_STATE_DIR", str(tmp_path))

    def cli(*argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        rc = main(list(argv), Console(stdout=out, stderr=err))
        return rc, out.getvalue(), err.getvalue()

    try:
        assert cli("debug", "on", "--name", "dbg")[0] == 0
        srv.lie["core set debug off"] = ["Core debug was 5 and is now OFF."]
        rc, out, err = cli("debug", "off")
    finally:
        asyncio.run_coroutine_threadsafe(srv.stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        t.join(5)
        loop.close()
    assert rc != 0
    assert "prior state restored" not in out
    assert "NOT restored: core debug is 5, not 0" in err


async def test_off_after_an_on_that_could_not_record_its_first_step(server, tmp_path):
    """The audit's leftover: the file says nothing is applied, the channel is there."""
    ast = server.ast
    with ast.left_as_found():
        s = svc(server, tmp_path)
        await s.on(name="dbg")
        st = s.store.load()
        assert st is not None
        st.status, st.applied = "turning_on", []
        s.store.save(st)
        ast.core_debug, ast.pj_level, ast.pjsip_logger = 0, 2, False  # only the channel stayed
        res = await s.off()
        assert res.action == "stopped"
