"""pytest fixtures of the NAT rig. A test module imports them by name:
`from support.nat.fixtures import jingle_net, nat_clients, nat_net  # noqa: F401`.

`jingle_net` is overridden to be the NAT topology's WAN network, so the Jingle rig's
`jingle_asterisk` fixture configures Asterisk unchanged on the public side (its only host
candidate is `wan.host_addr`); `nat_clients` puts the client's media behind the router.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from support.jingle.client import JingleClient
from support.jingle.fixtures import ClientFactory
from support.jingle.netns import RigNet
from support.jingle.profiles import PROFILES, Profile
from support.jingle.prosody import Prosody
from support.webrtc.browser import BrowserClient
from support.webrtc.fixtures import WS_PATH
from support.webrtc.relay import tcp_relay

from . import topology
from .coturn import Coturn, coturn
from .ice import IceServers, connection_factory
from .topology import NatNet


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


@pytest.fixture
async def nat_clients(
    request: pytest.FixtureRequest, prosody_server: Prosody, nat_net: NatNet
) -> AsyncIterator[ClientFactory]:
    """`await nat_clients(user, profile="plain", resource=None, stun=False, turn=None,
    **options)`: a JingleClient whose media sockets are in the client namespace (behind the
    NAT) and which sends checks only to the public side (Asterisk, coturn). `stun=True` and
    `turn="udp"|"tcp"` start the `nat_turn` coturn and gather srflx/relay candidates from it.
    `options` go to JingleClient."""
    started: list[JingleClient] = []

    async def make(
        user: str,
        profile: str | Profile = "plain",
        resource: str | None = None,
        *,
        stun: bool = False,
        turn: str | None = None,
        **options: Any,
    ) -> JingleClient:
        prof = PROFILES[profile] if isinstance(profile, str) else profile
        account = prosody_server.accounts[user]
        if stun or turn:
            server: Coturn = request.getfixturevalue("nat_turn")
            servers = ice_servers(server, user, stun=stun, turn=turn)
            options["ice_factory"] = connection_factory(servers, nat_net.client_socket)
        client = JingleClient(
            f"{account.jid}/{resource or prof.name}",
            account.password,
            server=("127.0.0.1", prosody_server.port),
            profile=prof,
            socket_factory=nat_net.lan.udp_socket,
            candidate_allowed=nat_net.reachable,
            **options,
        )
        started.append(client)
        await client.start()
        return client

    yield make
    for client in started:
        await client.stop()


@pytest.fixture
async def nat_browser(
    prosody_server: Prosody, nat_net: NatNet
) -> AsyncIterator[Callable[..., Awaitable[BrowserClient]]]:
    """`await nat_browser("chromium" | "firefox", user="alice")`: a real browser (the webrtc
    rig's driver and page) in the client namespace, behind the NAT. Its WebSocket to prosody
    goes through the NAT to a relay on the public side (TCP, which every kind but udp-blocked
    lets out). The page has no ICE servers: host candidates only. Closed after the test."""
    started: list[BrowserClient] = []
    async with contextlib.AsyncExitStack() as stack:
        port = await stack.enter_async_context(
            tcp_relay(nat_net.wan.host_addr, ("127.0.0.1", prosody_server.http_port))
        )
        url = f"ws://{nat_net.wan.host_addr}:{port}{WS_PATH}"

        async def make(kind: str, user: str = "alice") -> BrowserClient:
            account = prosody_server.accounts[user]
            client = BrowserClient(
                kind, nat_net.lan.name, f"{account.jid}/nat-{kind}", account.password, url
            )
            started.append(client)
            await client.start()
            return client

        try:
            yield make
        finally:
            for client in started:
                await client.close()
