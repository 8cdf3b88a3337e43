"""`callctl run` as a real process: signals (first SIGTERM drains, second forces), its log
lines, and the debug-expiry check it runs before anything else."""

from __future__ import annotations

import asyncio
import io
import json
import signal
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest
from callctl.cli import Console, main
from support.daemon_proc import DaemonProcess
from support.daemon_rig import (
    ROUTING,
    Rig,
    daemon_config,
    make_rig,
    running,
    sipp_wait,
    wait_clean,
)

pytestmark = pytest.mark.asterisk


@pytest.fixture
def rig(sandbox_factory, tmp_path: Path) -> Rig:  # type: ignore[no-untyped-def]
    return make_rig(sandbox_factory, tmp_path)


class Proc(DaemonProcess):
    """`callctl run` against the rig's sandbox (started), logging to a file; read from the
    test's loop."""

    def __init__(self, rig: Rig, *extra: str) -> None:
        config = rig.workdir / "routing.yaml"
        config.write_text(ROUTING.replace("RING", "10"))
        standin = ["--standin", "alice@example.org/a=ph-a"]
        super().__init__(rig.sb.name, rig.workdir, config, [*standin, *extra])
        self.start()

    @property
    def popen(self) -> subprocess.Popen[bytes]:
        assert self.proc is not None
        return self.proc

    async def http_health(self) -> tuple[int, dict[str, object]]:
        async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{self.port}/health") as r:
            return r.status, json.loads(await r.text())

    async def wait_exit(self, timeout: float) -> int:
        return await asyncio.to_thread(self.popen.wait, timeout)


async def wait_calls(proc: Proc, n: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while (await proc.http_health())[1].get("active_calls") != n:
        assert time.monotonic() < deadline, f"never {n} active calls"
        await asyncio.sleep(0.05)


async def test_sigterm_drains_then_exits_when_calls_end(rig: Rig) -> None:
    proc = Proc(rig)
    try:
        await asyncio.to_thread(proc.wait_ready, 20)
        with rig.carrier("carrier-a", "uas_ring_answer.xml", pause_ms=0, calls=2) as carrier:
            first = rig.caller("5551230000", pause_ms=3000).start()
            await wait_calls(proc, 1)
            proc.popen.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.3)
            status, doc = await proc.http_health()
            assert status == 503 and doc["draining"] is True
            # a new call while draining is refused at once (503), not left ringing
            late = await sipp_wait(rig.caller("5551230000").start(), 10)
            assert late.successful == 0
            assert proc.popen.poll() is None  # still serving the first call
            assert (await sipp_wait(first)).successful == 1  # it ends normally
            assert await proc.wait_exit(10) == 0
            carrier.stop()
        text = proc.log.read_text()
        assert "event=daemon.draining" in text and "reason=draining" in text
        assert "event=daemon.stopped" in text
        lines = [ln for ln in text.splitlines() if ln.strip()]
        assert all(ln.startswith("ts=") and " level=" in ln for ln in lines), text
        assert rig.sb.ari_password not in text and rig.sb.ami_secret not in text
        await wait_clean(rig.sb)
    finally:
        proc.kill()


async def test_second_sigterm_forces_and_hangs_up(rig: Rig) -> None:
    proc = Proc(rig, "--drain-timeout", "60")
    try:
        await asyncio.to_thread(proc.wait_ready, 20)
        with rig.carrier("carrier-a", "uas_ring_answer.xml", pause_ms=0) as carrier:
            caller = rig.caller("5551230000", pause_ms=60000, timeout_s=70).start()
            await wait_calls(proc, 1)
            proc.popen.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.5)
            assert proc.popen.poll() is None  # draining: waits for the call
            started = time.monotonic()
            proc.popen.send_signal(signal.SIGTERM)
            assert await proc.wait_exit(10) == 0
            assert time.monotonic() - started < 5
            assert (await sipp_wait(carrier, 10)).returncode == 0  # got its BYE
            caller.stop()
        assert "event=daemon.forced" in proc.log.read_text()
        await wait_clean(rig.sb)
    finally:
        proc.kill()


def _cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(list(argv), Console(stdout=out, stderr=out))
    return status, out.getvalue()


async def test_daemon_started_after_expiry_turns_debug_off_first(rig: Rig, tmp_path: Path) -> None:
    sb = rig.sb
    secret = tmp_path / "ami.secret"  # never on a command line (issue 16 item 7)
    secret.touch(mode=0o600)
    secret.write_text(sb.ami_secret)
    ami = [
        "--ami-host",
        sb.ami_host,
        "--ami-port",
        str(sb.ami_port),
        "--ami-user",
        sb.ami_user,
        "--ami-secret-file",
        str(secret),
        "--state-dir",
        str(tmp_path / "dbg"),
    ]
    status, text = await asyncio.to_thread(_cli, "debug", "on", "--for", "10s", *ami)
    assert status == 0, text
    assert "Debug level: 0" not in sb.rx("core show settings")
    await asyncio.sleep(10.5)  # expired, and nothing is running to turn it off
    config = daemon_config(sb, debug_watch=True, debug_state_dir=tmp_path / "dbg")
    async with running(config):
        settings = sb.rx("core show settings")
        assert any(
            ln.split(":")[-1].strip() in ("0", "off")
            for ln in settings.splitlines()
            if "Debug level" in ln
        ), settings
        assert "callctl-debug" not in sb.rx("logger show channels")
