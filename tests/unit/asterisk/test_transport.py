"""ARI's transports against a small real HTTP server on loopback: the lean pool's wire
format, error mapping, the bound on open connections, and which requests are retried."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
from callctl.asterisk.ari import (
    AriAuthError,
    AriClient,
    AriConflict,
    AriCredentials,
    AriNotFound,
    AriUnavailable,
)
from callctl.asterisk.transport import PooledTransport

PASSWORD = "s3cret-pw"
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[AriCredentials]:
    """An HTTP server on loopback running `handler` for each connection; yields the ARI
    credentials that reach it."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield AriCredentials(f"http://127.0.0.1:{port}/ari", "u", PASSWORD)
    finally:
        server.close()
        await server.wait_closed()


async def read_head(reader: asyncio.StreamReader) -> str | None:
    """A request's head, or None once the client has closed the connection."""
    try:
        return (await reader.readuntil(b"\r\n\r\n")).decode()
    except (asyncio.IncompleteReadError, ConnectionError):
        return None


class Server:
    """Answers from a script of (status, body, extra headers); records every request."""

    def __init__(self, script: list[tuple[int, str, str]]) -> None:
        self.script = script
        self.requests: list[str] = []
        self.connections = 0
        self.stack = AsyncExitStack()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        while self.script:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(
                next(
                    (
                        ln.split(b":")[1]
                        for ln in head.split(b"\r\n")
                        if ln.lower().startswith(b"content-length")
                    ),
                    b"0",
                )
            )
            body = await reader.readexactly(length) if length else b""
            self.requests.append((head + body).decode())
            status, text, extra = self.script.pop(0)
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Length: {len(text)}\r\n{extra}\r\n{text}".encode()
            )
            await writer.drain()
            if "close" in extra:
                break
        writer.close()

    async def __aenter__(self) -> AriClient:
        creds = await self.stack.enter_async_context(serving(self.handle))
        return await self.stack.enter_async_context(AriClient(creds, pooled=True))

    async def __aexit__(self, *exc: object) -> None:
        await self.stack.aclose()


async def test_requests_reuse_one_connection_and_decode_json() -> None:
    server = Server([(200, '{"id": "b1"}', ""), (204, "", ""), (200, "[1, 2]", "")])
    async with server as ari:
        assert await ari.create_bridge(bridge_id="b1") == {"id": "b1"}
        assert await ari.set_variable("c1", "CALLERID(all)", '"+1" <+1>') is None
        assert await ari.request(
            "PUT", "/applications/callctl/eventFilter", body={"allowed": [{"type": "Dial"}]}
        ) == [1, 2]
    assert server.connections == 1
    first, second, third = server.requests
    assert first.startswith("POST /ari/bridges/b1?type=mixing HTTP/1.1\r\n")
    assert "Authorization: Basic dTpzM2NyZXQtcHc=\r\n" in first
    assert "variable=CALLERID%28all%29&value=%22%2B1%22+%3C%2B1%3E" in second
    assert json.loads(third.split("\r\n\r\n", 1)[1]) == {"allowed": [{"type": "Dial"}]}


@pytest.mark.parametrize(
    ("status", "error"),
    [(404, AriNotFound), (409, AriConflict), (401, AriAuthError), (500, AriUnavailable)],
)
async def test_errors_map_like_the_aiohttp_client(status: int, error: type[Exception]) -> None:
    async with Server([(status, '{"message": "nope"}', "")]) as ari:
        with pytest.raises(error) as info:
            await ari.hangup("c1")
    assert PASSWORD not in str(info.value)


async def test_closed_connection_is_not_reused() -> None:
    server = Server([(204, "", "Connection: close\r\n"), (204, "", "")])
    async with server as ari:
        await ari.answer("c1")
        await ari.answer("c2")
    assert server.connections == 2 and len(server.requests) == 2


async def test_unreachable_and_dropped_mid_request() -> None:
    ari = AriClient(AriCredentials("http://127.0.0.1:1/ari", "u", PASSWORD), pooled=True)
    with pytest.raises(AriUnavailable) as info:
        await ari.answer("c1")
    assert PASSWORD not in info.value.message
    await ari.close()

    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()  # request read, no answer: it may have run, so it is not re-sent

    async with serving(drop) as creds, AriClient(creds, pooled=True) as ari:
        with pytest.raises(AriUnavailable):
            await ari.dial("c1", timeout=5)


async def test_a_request_without_answer_is_retried_only_when_safe() -> None:
    """A dropped GET (or other idempotent request) is tried again and succeeds; a dropped
    POST that may have run (dial, continue) is not re-sent: the caller decides."""
    seen: list[str] = []
    drop = {2, 4}  # the 2nd and 4th requests are read, then their connection is closed

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (head := await read_head(reader)) is not None:
            seen.append(head.split(" ", 2)[1])
            if len(seen) in drop:
                break
            writer.write(OK)
            await writer.drain()
        writer.close()

    async with serving(serve) as creds:
        for pooled in (True, False):
            seen.clear()
            async with AriClient(creds, pooled=pooled) as ari:
                assert await ari.channel("c0") == {}
                assert await ari.channel("c1") == {}  # dropped once (kept-alive), tried again
                with pytest.raises(AriUnavailable):
                    await ari.dial("c1", timeout=5)  # dropped: may have run, not re-sent
            assert seen == [
                "/ari/channels/c0",
                "/ari/channels/c1",
                "/ari/channels/c1",
                "/ari/channels/c1/dial?timeout=5",
            ], pooled


async def test_sessions_refused_past_asterisks_limit_lower_the_ceiling_and_are_retried() -> None:
    """Asterisk closes a new HTTP session over its sessionlimit before reading it: the pool
    then keeps fewer connections open, and the refused request (never read) is sent again."""
    limit = 2
    sessions = 0
    answered = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sessions, answered
        if sessions >= limit:
            writer.close()  # refused unread, as Asterisk's http.c does
            return
        sessions += 1
        try:
            while await read_head(reader) is not None:
                await asyncio.sleep(0.01)
                answered += 1
                writer.write(OK)
                await writer.drain()
        finally:
            sessions -= 1
            writer.close()

    async with (
        serving(serve) as creds,
        AriClient(creds, pooled=True, max_connections=6, attempts=5) as ari,
    ):
        results = await asyncio.gather(*(ari.dial(f"c{n}") for n in range(20)))
        transport = ari.transport
        assert isinstance(transport, PooledTransport)
        assert transport.refused >= 1 and transport.ceiling <= limit
    assert results == [None] * 20 and answered == 20  # every dial ran, none twice


@pytest.mark.parametrize("pooled", [True, False])
async def test_open_connections_stay_within_the_bound_and_the_backlog_waits(pooled: bool) -> None:
    """A burst of requests (a backlog after a stall) opens at most `max_connections`
    connections: Asterisk refuses sessions past its http.conf sessionlimit."""
    open_now = 0
    most = 0
    release = asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_now, most
        open_now += 1
        most = max(most, open_now)
        try:
            while await read_head(reader) is not None:
                await release.wait()
                writer.write(OK)
                await writer.drain()
        finally:
            open_now -= 1
            writer.close()

    async with serving(hold) as creds, AriClient(creds, pooled=pooled, max_connections=3) as ari:
        burst = [asyncio.ensure_future(ari.channel(f"c{n}")) for n in range(12)]
        for _ in range(50):  # let every request reach the server or the queue
            await asyncio.sleep(0)
        await asyncio.sleep(0.05)
        assert 1 <= most <= 3
        release.set()
        assert await asyncio.gather(*burst) == [{}] * 12
    assert most <= 3
