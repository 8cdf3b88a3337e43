"""The whole loop on a real stock Asterisk: `debug on`, a real Jingle call through the rig,
`debug off`, then `ice analyze` on the file `debug on` made.

Each client profile reproduces one of the seed's failures against stock Asterisk; the analyzer
must name it from the real pjnath/Asterisk lines. (The rig's "conversations" profile cannot
reach nomination on stock: its single rtcp-mux component makes Asterisk skip the checklist;
the renomination signature is tested on real pjnath output from the ICE harness in
test_icelog.py.)
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from callctl.asterisk.ami import AmiConfig
from callctl.debug.service import DebugService
from callctl.icelog.cli import analyze_file
from support.jingle.client import JingleError

pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.slow,
]

SAVE = os.environ.get("CALLCTL_SAVE_ICE_LOGS")  # copy the debug logs there (fixtures)


async def call_under_debug(
    build: Any,
    jingle_asterisk: Any,
    jingle_clients: Any,
    tmp_path: Path,
    profile: str,
) -> tuple[dict[str, Any], Any, bool]:
    sandbox, ast = await jingle_asterisk(build, answer_delay=1.0, expect_frack=True)
    cfg = AmiConfig(sandbox.ami_host, sandbox.ami_port, sandbox.ami_user, sandbox.ami_secret)
    svc = DebugService(cfg, state_dir=tmp_path)
    on = await svc.on(name=f"cct-{profile}", duration=timedelta(minutes=5))
    ok = False
    try:
        client = await jingle_clients("alice", profile)
        call = await client.call(ast.jid)
        await asyncio.wait_for(call.accepted.wait(), 15)
        ok = await call.wait_ice(12.0)
        if ok:
            await call.send_media(50)
        await call.hangup()
    except (JingleError, TimeoutError) as err:  # stock Asterisk may break the call itself
        print(f"call with profile {profile} broke: {err}")
    finally:
        await asyncio.sleep(1.0)  # Asterisk's logger thread writes asynchronously
        await svc.off()
    log = Path(on.state.log_file)
    if SAVE:
        kind = "stock" if "stock" in str(getattr(build, "manifest", {})) else "patched"
        shutil.copy(log, Path(SAVE) / f"asterisk-jingle-{kind}-{profile}.debug.log")
    return analyze_file(log).report(), sandbox, ok


DebugCall = Callable[[Any, str], Awaitable[tuple[dict[str, Any], Any, bool]]]


@pytest.fixture
def debug_call(jingle_asterisk: Any, jingle_clients: Any, tmp_path: Path) -> DebugCall:
    """`await debug_call(build, profile)`: call_under_debug with the rig's fixtures."""

    def call(build: Any, profile: str) -> Awaitable[tuple[dict[str, Any], Any, bool]]:
        return call_under_debug(build, jingle_asterisk, jingle_clients, tmp_path, profile)

    return call


async def test_plain_call_is_a_clean_success(
    asterisk_build_stock: Any, debug_call: DebugCall
) -> None:
    rep, _, ok = await debug_call(asterisk_build_stock, "plain")
    assert ok  # the client's ICE completes (Asterisk's may not: role Unknown, issue 8)
    assert rep["sessions_total"] >= 1
    last = rep["sessions"][-1]
    assert last["components"] == 2 and last["role"] == "Unknown"
    assert [c["state"] for c in last["checklist"]] == ["Succeeded", "Succeeded"]
    assert "ice-role-unknown" in rep["signatures"]
    assert "component-2-only" not in rep["signatures"]


async def test_firefox_style_trickle_is_named_component_2_only(
    asterisk_build_stock: Any, debug_call: DebugCall
) -> None:
    rep, _, _ = await debug_call(asterisk_build_stock, "firefox")
    assert "component-2-only" in rep["signatures"], rep["signatures"]


async def test_conversations_profile_on_stock_never_runs_checks(
    asterisk_build_stock: Any, debug_call: DebugCall
) -> None:
    """Stock cannot get as far as nomination with this client: it muxes RTCP (1 component),
    Asterisk's session has 2, and the checklist is skipped. The analyzer must say that, not
    guess renomination."""
    rep, _, _ = await debug_call(asterisk_build_stock, "conversations")
    assert "rtcp-mux-one-component" in rep["signatures"], rep["signatures"]
    assert "no-nomination-renomination" not in rep["signatures"]


@pytest.mark.parametrize("profile", ["plain", "firefox", "conversations"])
async def test_patched_build_calls_are_clean(
    profile: str,
    asterisk_build: Any,
    debug_call: DebugCall,
) -> None:
    """With callctl's series the same calls negotiate ICE on Asterisk's side, and the analyzer
    names nothing. (The client side is the Jingle rig's business: its "firefox" profile still
    waits for a component 2 that the patched Asterisk no longer offers when RTCP is muxed.)"""
    rep, _, ok = await debug_call(asterisk_build, profile)
    assert ok or profile == "firefox"
    assert rep["signatures"] == {}, rep["signatures"]
    last = rep["sessions"][-1]
    assert last["outcome"] == "success" and last["role"] in ("Controlled", "Controlling")
    assert last["nominations"]
