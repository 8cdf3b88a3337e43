"""`callctl debug` against a real sandbox Asterisk (built by the build manager)."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from callctl.asterisk.ami import AmiConfig
from callctl.debug.service import DebugExpiryWatcher, DebugService, credentials_from
from callctl.errors import AsteriskUnavailable
from callctl.paths import REPO_ROOT

pytestmark = pytest.mark.asterisk

REPO = REPO_ROOT


@pytest.fixture
def sandbox(sandbox_factory, asterisk_build_stock):
    """Debug toggling does not depend on callctl's patches: the stock build is enough (and is
    not rebuilt whenever the patch series changes)."""
    return sandbox_factory(build=asterisk_build_stock)


OPTIONS = REPO / "tests" / "support" / "sipp" / "scenarios" / "uac_options.xml"


def ami_of(sb, secret: str | None = None) -> AmiConfig:
    return AmiConfig(
        sb.ami_host,
        sb.ami_port,
        sb.ami_user,
        sb.ami_secret if secret is None else secret,
        timeout=5.0,
    )


def observe(sb) -> dict[str, object]:
    """What the issue says must read as before after `off`."""
    settings = sb.rx("core show settings")
    debug = re.search(r"Debug level:\s+(\d+)", settings)
    channels = sb.rx("logger show channels")
    rows = sorted(
        line.rstrip()
        for line in channels.splitlines()
        if re.search(r"\s(File|Console|Syslog)\s", line)
    )
    return {
        "debug": debug.group(1) if debug else None,
        "pjproject": sb.rx("pjproject show log level").strip(),
        "channels": rows,
    }


def sip_options(sb) -> None:
    if shutil.which("sipp") is None:
        pytest.skip("sipp not installed")
    assert OPTIONS.is_file(), OPTIONS  # a missing scenario sends nothing, silently
    subprocess.run(
        [
            "sipp",
            "-sf",
            str(OPTIONS),
            "-m",
            "1",
            "-s",
            "probe",
            "-i",
            "127.0.0.1",
            "-p",
            "0",
            "-timeout",
            "10",
            "-nostdin",
            "-trace_err",
            f"{sb.ami_host}:{sb.sip_port}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=sb.root,
    )  # any final answer (200/401/404) will do; the SIP traffic is what is logged


def wait_for(path: Path, pattern: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        if path.is_file():
            text = path.read_text(errors="replace")
            if re.search(pattern, text):
                return text
        time.sleep(0.2)
    return text


async def test_on_changes_everything_and_off_restores_it(sandbox, tmp_path):
    before = observe(sandbox)
    svc = DebugService(ami_of(sandbox), state_dir=tmp_path)
    res = await svc.on(name="cct-dbg", duration=timedelta(minutes=5))
    log_file = Path(res.state.log_file)
    assert log_file.parent == sandbox.log_dir.resolve() or log_file.parent == sandbox.log_dir
    during = observe(sandbox)
    assert during["debug"] == "5"
    assert during["pjproject"] == "pjproject log level is 5."
    assert any(row.startswith(str(log_file)[:35]) for row in during["channels"])  # type: ignore[union-attr]
    sip_options(sandbox)
    text = wait_for(log_file, r"<--- (Received|Transmitting) SIP (request|response)")
    assert re.search(r"<--- (Received|Transmitting) SIP (request|response)", text), text[-2000:]
    assert re.search(r"^\[[^\]]+\] DEBUG\[\d+\]", text, re.M)  # debug level lines too
    off = await svc.off()
    assert off.action == "stopped"
    assert observe(sandbox) == before
    size = log_file.stat().st_size
    sip_options(sandbox)
    time.sleep(1.0)
    assert log_file.stat().st_size == size  # nothing more is written once off


async def test_prior_non_default_state_is_restored(sandbox, tmp_path):
    sandbox.rx("pjproject set log level 3")
    sandbox.rx("core set debug 2")
    sandbox.rx("pjsip set logger on")
    before = observe(sandbox)
    assert before["pjproject"] == "pjproject log level is 3." and before["debug"] == "2"
    svc = DebugService(ami_of(sandbox), state_dir=tmp_path)
    await svc.on(name="cct-dbg2", pjsip_logger_was="on")
    assert observe(sandbox)["pjproject"] == "pjproject log level is 5."
    await svc.off()
    assert observe(sandbox) == before
    # the pjsip logger that was on before stays on: SIP traffic still reaches `full`
    full = sandbox.log_dir / "full"
    mark = full.stat().st_size if full.is_file() else 0
    sip_options(sandbox)
    deadline = time.monotonic() + 10
    new = ""
    while time.monotonic() < deadline:
        new = full.read_text(errors="replace")[mark:] if full.is_file() else ""
        if "SIP request" in new or "SIP response" in new:
            break
        time.sleep(0.2)
    assert "SIP request" in new or "SIP response" in new


async def test_expiry_fires(sandbox, tmp_path):
    before = observe(sandbox)
    offset = timedelta(0)

    def clock() -> datetime:
        return datetime.now(UTC) + offset

    svc = DebugService(ami_of(sandbox), state_dir=tmp_path, clock=clock)
    await svc.on(name="cct-exp", duration=timedelta(seconds=10))
    watcher = DebugExpiryWatcher(credentials_from(svc.ami), state_dir=tmp_path, clock=clock)
    assert await watcher.check_once() == []
    assert observe(sandbox)["debug"] == "5"
    offset = timedelta(seconds=11)
    results = await watcher.check_once()
    assert [r.reason for r in results] == ["expired"]
    assert observe(sandbox) == before


async def test_login_refused_changes_nothing(sandbox, tmp_path):
    before = observe(sandbox)
    svc = DebugService(ami_of(sandbox, secret="not-the-secret"), state_dir=tmp_path)
    with pytest.raises(AsteriskUnavailable, match="refused"):
        await svc.on()
    assert observe(sandbox) == before


async def test_command_rejected_mid_sequence_rolls_back(sandbox, tmp_path):
    sandbox.rx("module unload res_pjsip_logger.so")
    before = observe(sandbox)
    svc = DebugService(ami_of(sandbox), state_dir=tmp_path)
    with pytest.raises(AsteriskUnavailable, match="rolled back") as info:
        await svc.on(name="cct-rej")
    assert "pjsip set logger on" in info.value.message
    assert observe(sandbox) == before
    assert not svc.status()["on"]


async def test_asterisk_down_is_a_clear_error(sandbox, tmp_path):
    cfg = ami_of(sandbox)
    sandbox.stop()
    svc = DebugService(cfg, state_dir=tmp_path)
    with pytest.raises(AsteriskUnavailable, match="cannot connect to AMI"):
        await svc.on()


@pytest.mark.slow
async def test_expiry_fires_in_real_time_with_the_watcher_running(sandbox, tmp_path):
    """No fake clock: `on --for 10s`, the daemon's watcher task turns it off by itself."""
    import asyncio

    before = observe(sandbox)
    svc = DebugService(ami_of(sandbox), state_dir=tmp_path)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await svc.on(name="cct-rt", duration=timedelta(seconds=10))
    watcher = DebugExpiryWatcher(credentials_from(svc.ami), state_dir=tmp_path, interval=5.0)
    task = asyncio.create_task(watcher.run())
    try:
        while not watcher.turned_off and loop.time() - t0 < 20:
            await asyncio.sleep(0.05)
        t_off = loop.time() - t0
    finally:
        task.cancel()
    assert [r.reason for r in watcher.turned_off] == ["expired"]
    assert 10.0 <= t_off < 12.0, t_off  # not before its time, and promptly after
    assert observe(sandbox) == before
