"""An echo call from the rig's client, and reading Asterisk's `full` log while a call runs."""

from __future__ import annotations

import asyncio
from typing import Any

from .client import Call, JingleClient

ECHO_PACKETS = 150  # 3 s of 20 ms PCMU
ICE_TIMEOUT = 10.0
ECHO_LOSS = 5


def full_log(sandbox: Any) -> str:
    path = sandbox.log_dir / "full"
    return path.read_text(errors="replace") if path.is_file() else ""


async def wait_log(sandbox: Any, predicate: Any, timeout: float = 5.0) -> str:
    """The `full` log once `predicate(text)` holds (Asterisk's logger writes asynchronously)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    text = full_log(sandbox)
    while not predicate(text) and loop.time() < deadline:
        await asyncio.sleep(0.2)
        text = full_log(sandbox)
    return text


async def assert_logged(sandbox: Any, line: str, *, absent: str = "") -> str:
    """Asterisk's `full` log gets `line` (waited for) and, with `absent`, not that text.
    Returns the log."""
    log = await wait_log(sandbox, lambda t: line in t)
    assert line in log, f"not in the full log: {line!r}"
    assert not absent or absent not in log, f"in the full log: {absent!r}"
    return log


async def echo_call(client: JingleClient, asterisk_jid: str) -> Call:
    """Call Asterisk, wait for answer and ICE, send 3 s of PCMU, wait for the echo to drain."""
    call = await client.call(asterisk_jid)
    await asyncio.wait_for(call.accepted.wait(), 15)
    await echo(call)
    return call


async def echo(call: Call, packets: int = ECHO_PACKETS, ice_timeout: float = ICE_TIMEOUT) -> None:
    """An answered call's media: ICE completes at the client, `packets` of PCMU go out and
    come back but for ECHO_LOSS (the last ones may still be in flight)."""
    assert await call.wait_ice(ice_timeout), f"client ICE: {call.ice_error or 'timeout'}"
    await send_and_drain(call, packets)
    assert call.counter.pcmu >= packets - ECHO_LOSS, call.counter


async def send_and_drain(call: Call, packets: int) -> int:
    """Send `packets` of PCMU and wait (up to 1 s) until as many came back; returns how many
    were sent. The caller judges the echo count (`call.counter.pcmu`)."""
    sent = await call.send_media(packets)
    for _ in range(50):
        if call.counter.pcmu >= packets:
            break
        await asyncio.sleep(0.02)
    return sent
