"""pytest fixture of the real-browser rig (registered in tests/conftest.py's pytest_plugins).

`await webrtc_browser("chromium" | "firefox", user="alice", resource=None, renomination=False)`
starts a headless browser in the test's rig namespace (`jingle_net`), logged in to the rig's
prosody (`prosody_server`) over WebSocket through a relay on the veth. Every browser is closed
after the test; a browser that cannot start fails the test (BrowserError).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from support.jingle.netns import RigNet
from support.jingle.prosody import Prosody

from .browser import BrowserClient
from .relay import tcp_relay

BrowserFactory = Callable[..., Awaitable[BrowserClient]]
WS_PATH = "/xmpp-websocket"  # prosody's mod_websocket


@pytest.fixture
async def webrtc_browser(
    prosody_server: Prosody, jingle_net: RigNet
) -> AsyncIterator[BrowserFactory]:
    started: list[BrowserClient] = []
    async with contextlib.AsyncExitStack() as stack:
        port = await stack.enter_async_context(
            tcp_relay(jingle_net.host_addr, ("127.0.0.1", prosody_server.http_port))
        )
        url = f"ws://{jingle_net.host_addr}:{port}{WS_PATH}"

        async def make(
            kind: str,
            user: str = "alice",
            resource: str | None = None,
            renomination: bool = False,
        ) -> BrowserClient:
            account = prosody_server.accounts[user]
            client = BrowserClient(
                kind,
                jingle_net.name,
                f"{account.jid}/{resource or 'w-' + kind}",
                account.password,
                url,
                renomination=renomination,
            )
            started.append(client)
            await client.start()
            return client

        try:
            yield make
        finally:
            for client in started:
                await client.close()
