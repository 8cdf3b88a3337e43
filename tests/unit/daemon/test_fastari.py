"""The daemon's lean ARI transport against a small real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import json

import pytest
from callctl.ari import AriAuthError, AriConflict, AriCredentials, AriNotFound, AriUnavailable
from callctl.daemon.fastari import FastAriClient

PASSWORD = "s3cret-pw"


class Server:
    """Answers from a script of (status, body, extra headers); records every request."""

    def __init__(self, script: list[tuple[int, str, str]]) -> None:
        self.script = script
        self.requests: list[str] = []
        self.connections = 0
        self.server: asyncio.Server | None = None

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

    async def __aenter__(self) -> FastAriClient:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.client = FastAriClient(AriCredentials(f"http://127.0.0.1:{port}/ari", "u", PASSWORD))
        return self.client

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def test_requests_reuse_one_connection_and_decode_json() -> None:
    server = Server([(200, '{"id": "b1"}', ""), (204, "", ""), (200, "[1, 2]", "")])
    async with server as ari:
        assert await ari.create_bridge(bridge_id="b1") == {"id": "b1"}
        assert (
            await ari.request(
                "POST",
                "/channels/c1/variable",
                params={"variable": "CALLERID(all)", "value": '"+1" <+1>'},
            )
            is None
        )
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


async def test_closed_connection_is_not_reused_and_nothing_is_resent() -> None:
    server = Server([(204, "", "Connection: close\r\n"), (204, "", "")])
    async with server as ari:
        await ari.answer("c1")
        await ari.answer("c2")
    assert server.connections == 2 and len(server.requests) == 2


async def test_unreachable_and_dropped_mid_request() -> None:
    ari = FastAriClient(AriCredentials("http://127.0.0.1:1/ari", "u", PASSWORD))
    with pytest.raises(AriUnavailable) as info:
        await ari.answer("c1")
    assert PASSWORD not in info.value.message

    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()  # request read, no answer: it may have run, so it is not re-sent

    server = await asyncio.start_server(drop, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    ari = FastAriClient(AriCredentials(f"http://127.0.0.1:{port}/ari", "u", PASSWORD))
    with pytest.raises(AriUnavailable):
        await ari.dial("c1", timeout=5)
    await ari.close()
    server.close()
    await server.wait_closed()
