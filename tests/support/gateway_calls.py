"""Calls through callctl's XMPP gateway on the interop matrix's machinery: the patched
Asterisk routed by the daemon, trunk carrier-a towards a SIPp phone, and the test's Gateway
(support.xmppgw) as the router's component. A test module binds the fixtures by name
(`gateway_calls = support.gateway_calls.gateway_calls`, next to xmppgw's fixtures; likewise
`callctl_events`, the daemon's log events) and says only what its call does differently:
whom the client calls, whom a DID rings, what the devices do while it rings.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from callctl.routing import RoutingConfig
from callctl.xmppgw import Gateway

from support.jingle.client import JingleClient
from support.jingle.fixtures import AsteriskFactory
from support.jingle.matrix import (
    CellSpec,
    Matrix,
    MatrixResult,
    RoutedAsterisk,
    matrix,
    parse_routing,
    routed_asterisk,
    routing_text,
)

RIG_DOMAIN = "jingle.test"  # the rig prosody's users' domain
DID_ROUTING_JID = f"alice@{RIG_DOMAIN}"  # the DID rings the bare JID: every device of alice


@dataclass(frozen=True)
class GatewayCalls:
    routed: RoutedAsterisk
    gateway: Gateway
    workdir: Path

    @asynccontextmanager
    async def matrix(self, clients: dict[str, JingleClient]) -> AsyncIterator[Matrix]:
        """The matrix's daemon for `clients`, routing through the test's Gateway."""
        async with matrix("patched", self.routed, clients, self.workdir) as m:
            m.daemon.router.gateway = self.gateway
            yield m

    async def call_out(self, profile: str, client: JingleClient, callee: str) -> MatrixResult:
        """`client` calls `callee` (a JID of the gateway) and the daemon routes it."""
        async with self.matrix({profile: client}) as m:
            m.ast = replace(self.routed.ast, jid=callee)
            return await m.run(CellSpec(profile, "out", 0.0))

    async def call_in(
        self,
        profile: str,
        client: JingleClient,
        config: Callable[[str], RoutingConfig] | None = None,
        devices: Coroutine[Any, Any, Any] | None = None,
    ) -> tuple[MatrixResult, Any]:
        """The phone calls `profile`'s DID; `config(did)` replaces the matrix's routing (the
        DID ringing `client`'s full JID) and `devices` runs while the call rings. Returns the
        cell's result and what `devices` returned (None without it)."""
        async with self.matrix({profile: client}) as m:
            if config is not None:
                m.daemon.router.config = config(m.dids[profile])
            task = asyncio.create_task(devices) if devices is not None else None
            result = await m.run(CellSpec(profile, "in", 0.0))
            outcome = await asyncio.wait_for(task, 5) if task is not None else None
        return result, outcome

    def did_rings(self, jid: str, ring_timeout: int = 30) -> Callable[[str], RoutingConfig]:
        """A routing `config` for call_in: the DID rings `jid` for up to `ring_timeout` s."""
        endpoint = self.routed.ast.endpoint
        return lambda did: parse_routing(
            routing_text(RIG_DOMAIN, endpoint, {did: jid}, ring_timeout)
        )


@pytest.fixture
async def gateway_calls(
    asterisk_build: Any, tmp_path: Path, gateway: Gateway, jingle_asterisk: AsteriskFactory
) -> GatewayCalls:
    return GatewayCalls(await routed_asterisk(jingle_asterisk, asterisk_build), gateway, tmp_path)


Events = Callable[[str], list[str]]


@pytest.fixture
def callctl_events(caplog: pytest.LogCaptureFixture) -> Events:
    """`callctl_events("call.start")`: callctl's `event=call.start` log lines so far (INFO
    and up of the `callctl` loggers are captured from the start of the test)."""
    caplog.set_level(logging.INFO, logger="callctl")
    return lambda event: [
        r.getMessage() for r in caplog.records if f"event={event}" in r.getMessage()
    ]
