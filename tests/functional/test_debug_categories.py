"""`callctl debug on --category` against a real sandbox Asterisk (issue 17 item 3): the media
debug categories log a real call's RTP and ICE lines while the core debug level stays where
it was, and `off` turns them off again (a second call logs none)."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from callctl.asterisk.ami import AmiConfig
from callctl.debug.service import DebugService
from callctl.sandbox.manager import free_port
from support.sipp import run_uac

pytestmark = pytest.mark.asterisk

CALLER_IP = "127.0.0.2"
ANSWER = """
[t-answer]
exten => _X.,1,Answer()
 same => n,Wait(1)
 same => n,Hangup()
"""
# res_rtp_asterisk.c: ast_debug_rtp(1, "(%p) RTP allocated port %d\n", ...) and
# ast_debug_ice(2, "(%p) ICE add candidate: %s, %d\n", ...), logged at DEBUG.
RTP_LINE = re.compile(r"DEBUG\[\d+\].*res_rtp_asterisk\.c: \(0x[0-9a-f]+\) RTP allocated port")
ICE_LINE = re.compile(r"DEBUG\[\d+\].*res_rtp_asterisk\.c: \(0x[0-9a-f]+\) ICE add candidate")


@pytest.fixture
def sandbox(sandbox_factory, asterisk_build_stock):  # type: ignore[no-untyped-def]
    return sandbox_factory(
        build=asterisk_build_stock,
        phones=[{"name": "caller", "host": CALLER_IP, "context": "t-answer"}],
        dialplan_extra={"t-answer.conf": ANSWER},
    )


def ami_of(sb) -> AmiConfig:  # type: ignore[no-untyped-def]
    return AmiConfig(sb.ami_host, sb.ami_port, sb.ami_user, sb.ami_secret, timeout=5.0)


def call(sb, workdir: Path) -> None:  # type: ignore[no-untyped-def]
    result = run_uac(
        scenario="uac_call.xml",
        local_ip=CALLER_IP,
        local_port=free_port(CALLER_IP),
        workdir=workdir,
        remote=f"127.0.0.1:{sb.sip_port}",
        service="100",
        pause_ms=200,
        timeout_s=20,
    )
    assert result.successful == 1, result.log


def core_debug(sb) -> str:  # type: ignore[no-untyped-def]
    m = re.search(r"Debug level:\s+(\d+)", sb.rx("core show settings"))
    assert m
    return m.group(1)


def wait_for(path: Path, pattern: re.Pattern[str], timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace") if path.is_file() else ""
        if pattern.search(text):
            break
        time.sleep(0.2)
    return text


async def test_categories_log_media_without_the_core_debug_level(sandbox, tmp_path):
    sb = sandbox
    before = (core_debug(sb), sb.rx("pjproject show log level").strip())
    assert before[0] == "0"
    svc = DebugService(ami_of(sb), state_dir=tmp_path / "st")
    res = await svc.on(
        name="cct-cat", duration=timedelta(minutes=5), categories=("ice", "dtls", "stun", "rtp")
    )
    assert res.state.planned == ["channel", "categories", "pjproject", "pjsip_logger"]
    assert core_debug(sb) == "0"  # the core debug level is not raised
    assert sb.rx("pjproject show log level").strip() == "pjproject log level is 5."
    log = Path(res.state.log_file)
    call(sb, tmp_path / "call1")
    text = wait_for(log, RTP_LINE)
    assert RTP_LINE.search(text), text[-3000:]
    assert ICE_LINE.search(text), text[-3000:]
    off = await svc.off()
    assert off.action == "stopped"
    assert (core_debug(sb), sb.rx("pjproject show log level").strip()) == before
    # `full` logs DEBUG too: with the categories off again, a second call adds no RTP lines.
    full = sb.log_dir / "full"
    during = len(RTP_LINE.findall(full.read_text(errors="replace")))
    assert during >= 1  # the categories reached `full` while they were on
    call(sb, tmp_path / "call2")
    time.sleep(1.5)  # Asterisk's logger thread writes asynchronously
    assert len(RTP_LINE.findall(full.read_text(errors="replace"))) == during


async def test_a_category_set_by_hand_before_is_restored(sandbox, tmp_path):
    sb = sandbox
    sb.rx("core set debug category rtp")  # on before, as the operator says
    svc = DebugService(ami_of(sb), state_dir=tmp_path / "st")
    await svc.on(name="cct-cat2", categories=("ice", "rtp"), categories_were=("rtp",))
    await svc.off()
    full = sb.log_dir / "full"
    old = full.read_text(errors="replace")
    call(sb, tmp_path / "call")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        new = full.read_text(errors="replace")[len(old) :]
        if RTP_LINE.search(new):
            break
        time.sleep(0.2)
    time.sleep(1.0)
    new = full.read_text(errors="replace")[len(old) :]
    assert RTP_LINE.search(new), new[-3000:]  # rtp was on before: restored, not switched off
    assert not ICE_LINE.search(new)  # ice was off before: off again
