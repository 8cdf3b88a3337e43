"""pytest fixtures of the NAT rig. A test module imports all of them (they override the
Jingle rig's `jingle_net`, so never from conftest.py):
`from support.nat.fixtures import *  # noqa: F403` (and `NatRig` by name for annotations).

`jingle_net` is overridden to be the NAT topology's WAN network, so the Jingle rig's
`jingle_asterisk` fixture configures Asterisk unchanged on the public side (its only host
candidate is `wan.host_addr`); `nat_clients` puts the client's media behind the router.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from support.jingle.client import JingleClient
from support.jingle.fixtures import AsteriskFactory, ClientFactory, RigAsterisk, rig_client
from support.jingle.netns import RigNet
from support.jingle.profiles import Profile
from support.jingle.prosody import Prosody
from support.webrtc.browser import BrowserClient
from support.webrtc.fixtures import WS_PATH
from support.webrtc.relay import tcp_relay

from . import topology
from .cells import RING_EXPR
from .coturn import Coturn, coturn
from .ice import IceServers, connection_factory
from .topology import NatNet

__all__ = [
    "jingle_net",
    "nat_asterisk",
    "nat_browser",
    "nat_clients",
    "nat_net",
    "nat_rig",
    "nat_turn",
]


@pytest.fixture
def nat_net() -> Iterator[NatNet]:
    """A router namespace (port-restricted to start with; `set_kind()` between calls) and a
    client namespace behind it."""
    with topology.nat_network() as net:
        yield net


@pytest.fixture
def jingle_net(nat_net: NatNet) -> RigNet:
    """The Jingle rig's network is the NAT's public side: Asterisk at wan.host_addr."""
    return nat_net.wan


# The builds a NAT test compares, by the name its results file and README use.
BUILDS = {
    "stock": "asterisk_build_stock",
    "minus-ice": "asterisk_build_minus_ice",  # the series without 0050 and 0100
    "patched": "asterisk_build",
}


@pytest.fixture
async def nat_asterisk(
    request: pytest.FixtureRequest, jingle_asterisk: AsteriskFactory
) -> Callable[[str], Awaitable[RigAsterisk]]:
    """`await nat_asterisk("stock" | "minus-ice" | "patched")`: a rig Asterisk of that build
    on the NAT's public side whose dialplan rings `${NATRIG_RING}` (cells.RING_EXPR, set per
    call by the cells). Stock logs FRACK lines, which the sandbox fixture then tolerates."""

    async def make(flavour: str) -> RigAsterisk:
        build: Any = request.getfixturevalue(BUILDS[flavour])
        return await jingle_asterisk(build, answer_delay=RING_EXPR, expect_frack=flavour == "stock")

    return make


@pytest.fixture
def nat_turn(nat_net: NatNet) -> Iterator[Coturn]:
    """coturn on the NAT's public side (wan.host_addr:3478, UDP and TCP, use-auth-secret)."""
    with coturn(nat_net.wan) as server:
        yield server


def ice_servers(server: Coturn, user: str, *, stun: bool, turn: str | None) -> IceServers:
    """What a client is given: coturn as STUN server and/or TURN over `turn` ("udp"/"tcp"),
    with fresh REST credentials."""
    username, password = server.credentials(user)
    return IceServers(
        stun=server.address if stun else None,
        turn=server.address if turn else None,
        turn_username=username,
        turn_password=password,
        turn_transport=turn or "udp",
    )


def browser_turn(server: Coturn, user: str) -> list[dict[str, str]]:
    """coturn as the page's TURN server over TCP (RTCIceServer), fresh REST credentials."""
    username, password = server.credentials(user)
    host, port = server.address
    url = f"turn:{host}:{port}?transport=tcp"
    return [{"urls": url, "username": username, "credential": password}]


@pytest.fixture
async def nat_clients(
    request: pytest.FixtureRequest, prosody_server: Prosody, nat_net: NatNet
) -> AsyncIterator[ClientFactory]:
    """`await nat_clients(user, profile="plain", resource=None, stun=False, turn=None,
    **options)`: a JingleClient whose media sockets are in the client namespace (behind the
    NAT) and which sends checks only to the public side (Asterisk, coturn). `stun=True` and
    `turn="udp"|"tcp"` start the `nat_turn` coturn and gather srflx/relay candidates from it.
    `options` go to JingleClient."""
    stack = contextlib.AsyncExitStack()

    async def make(
        user: str,
        profile: str | Profile = "plain",
        resource: str | None = None,
        *,
        stun: bool = False,
        turn: str | None = None,
        **options: Any,
    ) -> JingleClient:
        if stun or turn:
            server: Coturn = request.getfixturevalue("nat_turn")
            servers = ice_servers(server, user, stun=stun, turn=turn)
            options["ice_factory"] = connection_factory(servers, nat_net.client_socket)
        client = rig_client(
            prosody_server,
            user,
            profile,
            resource,
            nat_net.lan.udp_socket,
            nat_net.reachable,
            **options,
        )
        stack.push_async_callback(client.stop)  # stopped after the test, started or not
        await client.start()
        return client

    async with stack:
        yield make


@pytest.fixture
async def nat_browser(
    prosody_server: Prosody, nat_net: NatNet
) -> AsyncIterator[Callable[..., Awaitable[BrowserClient]]]:
    """`await nat_browser("chromium" | "firefox", user="alice")`: a real browser (the webrtc
    rig's driver and page) in the client namespace, behind the NAT. Its WebSocket to prosody
    goes through the NAT to a relay on the public side (TCP, which every kind but udp-blocked
    lets out). The page has no ICE servers: host candidates only. Closed after the test."""
    async with contextlib.AsyncExitStack() as stack:
        port = await stack.enter_async_context(
            tcp_relay(nat_net.wan.host_addr, ("127.0.0.1", prosody_server.http_port))
        )
        url = f"ws://{nat_net.wan.host_addr}:{port}{WS_PATH}"

        async def make(
            kind: str, user: str = "alice", ice_servers: list[dict[str, str]] | None = None
        ) -> BrowserClient:
            # Behind the NAT: the browser runs in the client namespace, its resource nat-KIND.
            login = prosody_server.accounts[user]
            jid = f"{login.jid}/nat-{kind}{'-turn' if ice_servers else ''}"
            browser = BrowserClient(
                kind, nat_net.lan.name, jid, login.password, url, ice_servers=ice_servers or []
            )
            stack.push_async_callback(browser.close)  # closed even if it failed to start
            await browser.start()
            return browser

        yield make


@dataclass(frozen=True)
class NatRig:
    """What a NAT test uses, in one fixture: the topology, Asterisk by build name, emulated
    clients and real browsers behind the NAT."""

    request: pytest.FixtureRequest  # the test's (results go to its session's basetemp)
    net: NatNet
    asterisk: Callable[[str], Awaitable[RigAsterisk]]
    clients: ClientFactory
    browsers: Callable[..., Awaitable[BrowserClient]]


@pytest.fixture
def nat_rig(
    request: pytest.FixtureRequest,
    nat_net: NatNet,
    nat_asterisk: Callable[[str], Awaitable[RigAsterisk]],
    nat_clients: ClientFactory,
    nat_browser: Callable[..., Awaitable[BrowserClient]],
) -> NatRig:
    return NatRig(request, nat_net, nat_asterisk, nat_clients, nat_browser)
