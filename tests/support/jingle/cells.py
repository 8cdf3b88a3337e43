"""One interop cell: a client and an Asterisk echo, one call, one verdict from both sides.

The client side alone cannot tell a working Asterisk from a broken one: aioice completes as
soon as its own checks are answered, and chan_motif sends media to the first candidate even
when its ICE fails. So a cell also reads Asterisk's pjnath verdict for that call from the log.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import observe
from .asterisk_conf import AsteriskJingle
from .client import Call, JingleClient, JingleError
from .echo import send_and_drain
from .originate import call_from_asterisk

ICE_AFTER_ACCEPT_LIMIT = 2.0  # issue 6: ICE completes on both sides within 2 s of answer
SETUP_TIMEOUT = 30.0  # longest ring plus slack
MIN_ECHO_SHARE = 0.95
LOG_SETTLE = 1.0  # Asterisk writes its log asynchronously


@dataclass
class CellResult:
    direction: str  # "out": client calls Asterisk; "in": Asterisk calls the client
    profile: str
    client_ice: bool = False
    ice_after_accept: float | None = None
    asterisk_ice: list[str] = field(default_factory=list)  # pjnath verdicts for this call
    sent: int = 0
    received: int = 0
    rejected: str = ""
    terminate_reason: str = ""
    ao2_errors: int = 0
    error: str = ""
    # The interop matrix (jingle.matrix) also times Asterisk's side and counts the RTP on the
    # phone leg; cells without a phone leave these unset and are judged without them.
    ring: float = 0.0
    asterisk_ice_after_accept: float | None = None  # last pjnath Success, from the log
    asterisk_timed: bool = False  # require asterisk_ice_after_accept within the limit
    leg_tx: int | None = None  # RTP Asterisk sent to the phone (its RTP statistics)
    leg_rx: int | None = None  # RTP Asterisk received from the phone (SIPp's echo)
    phone_echoed: int | None = None  # RTP SIPp itself counted and echoed (its screen)
    srtp: bool = False  # the call's media was DTLS-SRTP (keyed; `received` counts decrypted)

    @property
    def passed(self) -> bool:
        return (
            not self.error
            and self.client_ice
            and bool(self.asterisk_ice)
            and all(v == "Success" for v in self.asterisk_ice)
            and self.ice_after_accept is not None
            and self.ice_after_accept < ICE_AFTER_ACCEPT_LIMIT
            and (
                not self.asterisk_timed
                or (
                    self.asterisk_ice_after_accept is not None
                    and self.asterisk_ice_after_accept < ICE_AFTER_ACCEPT_LIMIT
                )
            )
            and self.sent > 0
            and self.received >= MIN_ECHO_SHARE * self.sent
            and all(
                n is None or n >= MIN_ECHO_SHARE * self.sent
                for n in (self.leg_tx, self.leg_rx, self.phone_echoed)
            )
        )

    def why(self) -> str:
        """A one-line account of the cell, for assertion messages and reports."""
        return (
            f"{self.profile}/{self.direction}: passed={self.passed} client_ice={self.client_ice} "
            f"srtp={self.srtp} "
            f"after_accept={self.ice_after_accept} asterisk_ice={self.asterisk_ice} "
            + (
                f"ring={self.ring:g} asterisk_after_accept={self.asterisk_ice_after_accept} "
                f"leg_tx={self.leg_tx} leg_rx={self.leg_rx} sipp_echoed={self.phone_echoed} "
                if self.asterisk_timed
                else ""
            )
            + f"rtp={self.received}/{self.sent} rejected={self.rejected!r} "
            f"terminate={self.terminate_reason!r} ao2={self.ao2_errors} error={self.error!r}"
        )


async def place(client: JingleClient, ast: AsteriskJingle, timeout: float = SETUP_TIMEOUT) -> Call:
    """The client calls Asterisk; returns once it is accepted or ended (or after `timeout`)."""
    call = await client.call(ast.jid)
    accepted = asyncio.ensure_future(call.accepted.wait())
    ended = asyncio.ensure_future(call.terminated.wait())
    await asyncio.wait({accepted, ended}, timeout=timeout, return_when="FIRST_COMPLETED")
    for fut in (accepted, ended):
        fut.cancel()
    return call


async def end_call(call: Call | None, result: CellResult) -> None:
    """How the cell's call ended (the client rejected it? why terminated?), then hang up."""
    if call is None:
        return
    result.rejected = call.rejected
    result.terminate_reason = call.terminate_reason
    with contextlib.suppress(JingleError):
        await call.hangup()


async def _receive(client: JingleClient, sandbox: Any, ast: AsteriskJingle, ring: float) -> Call:
    await call_from_asterisk(sandbox, ast.dial(client.full_jid), "Echo")
    call = await client.next_incoming(timeout=10)
    await call.ring()
    await asyncio.sleep(ring)
    await call.accept()
    return call


async def run_cell(
    client: JingleClient,
    sandbox: Any,
    ast: AsteriskJingle,
    direction: str,
    *,
    ring: float = 0.0,
    packets: int = 100,
    setup_timeout: float = SETUP_TIMEOUT,
) -> CellResult:
    """One call and its verdict. For "out" the ring time is the dialplan's (`answer_delay` of
    the sandbox); for "in" the client rings `ring` seconds before it accepts. `setup_timeout`
    bounds the wait for the answer of a call the client places (raise it for rings > 25 s)."""
    result = CellResult(direction=direction, profile=client.profile.name)
    tail = observe.LogTail(Path(sandbox.log_dir) / "full")
    call: Call | None = None
    try:
        if direction == "out":
            call = await place(client, ast, setup_timeout)
        else:
            call = await _receive(client, sandbox, ast, ring)
        if call.accepted.is_set() and not call.terminated.is_set():
            result.client_ice = await call.wait_ice(ICE_AFTER_ACCEPT_LIMIT + 8)
            result.ice_after_accept = call.ice_after_accept
        if result.client_ice and not call.terminated.is_set():
            result.sent = await send_and_drain(call, packets)
        result.received = call.counter.pcmu
    except (JingleError, TimeoutError) as exc:
        result.error = str(exc) or type(exc).__name__
    finally:
        await end_call(call, result)
        await asyncio.sleep(LOG_SETTLE)
        log = tail.read()
        result.asterisk_ice = observe.ice_completions(log)
        result.ao2_errors = len(observe.ao2_errors(log))
    return result
