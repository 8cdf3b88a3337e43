"""An echo call from the rig's client, and reading Asterisk's `full` log while a call runs."""

from __future__ import annotations

import asyncio
from typing import Any

from .client import Call, JingleClient

ECHO_PACKETS = 150  # 3 s of 20 ms PCMU
ICE_TIMEOUT = 10.0


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


async def echo_call(client: JingleClient, asterisk_jid: str) -> Call:
    """Call Asterisk, wait for answer and ICE, send 3 s of PCMU, wait for the echo to drain."""
    call = await client.call(asterisk_jid)
    await asyncio.wait_for(call.accepted.wait(), 15)
    assert await call.wait_ice(ICE_TIMEOUT), f"client ICE: {call.ice_error or 'timeout'}"
    await call.send_media(ECHO_PACKETS)
    for _ in range(50):  # drain: up to 1 s
        if call.counter.pcmu >= ECHO_PACKETS:
            break
        await asyncio.sleep(0.02)
    return call
