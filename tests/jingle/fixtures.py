"""pytest fixtures of the Jingle rig. tests/conftest.py imports them by name:

from jingle.fixtures import jingle_clients, jingle_net, prosody_server  # noqa: F401
"""

from __future__ import annotations

import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from . import netns
from .client import JingleClient
from .profiles import PROFILES, Profile
from .prosody import Prosody

# Accounts on the test prosody: Asterisk's res_xmpp logs in as the first; clients use the rest.
ASTERISK_USER = "asterisk"
CLIENT_USERS = ("alice", "bob")

ClientFactory = Callable[..., Awaitable[JingleClient]]


def _require(tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.fail(f"the Jingle rig needs `{tool}` on PATH")


@pytest.fixture(scope="session")
def prosody_server() -> Iterator[Prosody]:
    """A prosody on 127.0.0.1 with accounts `asterisk`, `alice`, `bob` (password `pw-USER`)."""
    _require("prosody")
    _require("prosodyctl")
    server = Prosody.prepare()
    try:
        for user in (ASTERISK_USER, *CLIENT_USERS):
            server.register(user, f"pw-{user}")
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def jingle_net() -> Iterator[netns.RigNet]:
    """A fresh namespace + veth /30 (Asterisk side `host_addr`, client side `ns_addr`)."""
    _require("ip")
    with netns.rig_network() as net:
        yield net


@pytest.fixture
async def jingle_clients(
    prosody_server: Prosody, jingle_net: netns.RigNet
) -> AsyncIterator[ClientFactory]:
    """`await jingle_clients(user, profile="chromium", side="ns", resource=None)`.

    side="ns": media sockets inside the namespace (the normal case, talking to Asterisk);
    side="host": media on the root end of the veth (a second client playing the far end).
    Every client logs in before it is returned and is disconnected after the test.
    """
    started: list[JingleClient] = []

    async def make(
        user: str,
        profile: str | Profile = "chromium",
        side: str = "ns",
        resource: str | None = None,
    ) -> JingleClient:
        prof = PROFILES[profile] if isinstance(profile, str) else profile
        account = prosody_server.accounts[user]
        factory = jingle_net.udp_socket if side == "ns" else _host_socket_factory(jingle_net)
        client = JingleClient(
            f"{account.jid}/{resource or prof.name}",
            account.password,
            server=("127.0.0.1", prosody_server.port),
            profile=prof,
            socket_factory=factory,
            candidate_allowed=jingle_net.contains,
        )
        started.append(client)
        await client.start()
        return client

    yield make
    for client in started:
        await client.stop()


def _host_socket_factory(net: netns.RigNet) -> Callable[[], socket.socket]:

    def factory() -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((net.host_addr, 0))
        sock.setblocking(False)
        return sock

    return factory
