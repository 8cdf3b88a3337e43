"""ARI client parts that need no Asterisk: credentials, event parsing, error mapping and
retries (against a tiny fake server on loopback)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

import pytest
from aiohttp import web
from callctl.asterisk.ari import (
    AriAuthError,
    AriBadRequest,
    AriClient,
    AriConflict,
    AriCredentials,
    AriDisconnected,
    AriInvalidState,
    AriNotFound,
    AriRequestError,
    AriUnavailable,
    parse_event,
)
from callctl.errors import ExitStatus, UsageError

SECRET = "s3cret-Password"
StartServer = Callable[..., Awaitable[AriClient]]


# -- credentials ---------------------------------------------------------------------------


def test_password_is_not_in_repr() -> None:
    creds = AriCredentials("http://127.0.0.1:8088/ari", "callctl", SECRET)
    assert SECRET not in repr(creds)
    assert SECRET not in repr(AriClient(creds))


@pytest.mark.parametrize(
    "url",
    [
        "http://callctl:pw@127.0.0.1:8088/ari",
        "ftp://127.0.0.1/ari",
        "http:///ari",
        "http://127.0.0.1:8088/ari?api_key=a:b",
    ],
)
def test_bad_urls_are_refused_without_echoing_them(url: str) -> None:
    with pytest.raises(UsageError) as caught:
        AriCredentials(url, "callctl", SECRET)
    assert "pw@" not in caught.value.message and "api_key" not in caught.value.message


def test_exit_statuses() -> None:
    assert AriUnavailable("x").status is ExitStatus.UNAVAILABLE
    assert AriAuthError("x").status is ExitStatus.UNAVAILABLE
    assert AriDisconnected("x").status is ExitStatus.UNAVAILABLE
    assert AriNotFound("x", http_status=404, ari_message="").status is ExitStatus.ERROR


# -- events --------------------------------------------------------------------------------


def test_parse_event() -> None:
    event = parse_event(
        json.dumps(
            {
                "type": "StasisStart",
                "application": "callctl",
                "args": ["from-trunk", "+1555"],
                "channel": {"id": "c1", "name": "PJSIP/x"},
            }
        )
    )
    assert event is not None
    assert (event.type, event.application, event.channel_id, event.args) == (
        "StasisStart",
        "callctl",
        "c1",
        ["from-trunk", "+1555"],
    )
    bare = parse_event('{"type": "ApplicationReplaced"}')
    assert bare is not None and bare.channel is None and bare.channel_id is None
    assert bare.args == []


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"no": "type"}', '{"type": 3}'])
def test_parse_event_ignores_junk(text: str, caplog: pytest.LogCaptureFixture) -> None:
    assert parse_event(text) is None
    assert "ignored" in caplog.text


# -- a fake ARI on loopback, for answers a healthy Asterisk never gives ----------------------


async def fake_ari(aiohttp_routes: list[web.RouteDef]) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.add_routes(aiohttp_routes)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = cast(Any, site._server).sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}/ari"


@pytest.fixture
async def ari_server() -> AsyncIterator[StartServer]:
    runners: list[web.AppRunner] = []
    clients: list[AriClient] = []

    async def start(routes: list[web.RouteDef], request_timeout: float = 2.0) -> AriClient:
        runner, url = await fake_ari(routes)
        runners.append(runner)
        client = AriClient(AriCredentials(url, "callctl", SECRET), request_timeout=request_timeout)
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()
    for runner in runners:
        await runner.cleanup()


def answer(status: int, body: str, content_type: str = "application/json") -> web.RouteDef:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, text=body, content_type=content_type)

    return web.get("/ari/channels/x", handler)


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (400, '{"message": "Invalid reason"}', AriBadRequest, "refused with 400: Invalid reason"),
        (422, '{"message": "Endpoint not found"}', AriBadRequest, "422: Endpoint not found"),
        (404, '{"message": "Channel not found"}', AriNotFound, "404: Channel not found"),
        (409, '{"message": "not in Stasis"}', AriConflict, "409: not in Stasis"),
        (412, '{"message": "bad state"}', AriInvalidState, "412: bad state"),
        (418, "teapot", AriRequestError, "418: teapot"),
        (401, '{"message": "Authentication required"}', AriAuthError, "user 'callctl'"),
        (503, "", AriUnavailable, "failed with 503"),
        (200, "<html>", AriUnavailable, "not JSON"),
    ],
)
async def test_http_answers_map_to_errors(
    ari_server: StartServer,
    status: int,
    body: str,
    error: type[Exception],
    text: str,
) -> None:
    ari = await ari_server([answer(status, body)])
    with pytest.raises(error) as caught:
        await ari.channel("x")
    assert text in str(caught.value)
    assert type(caught.value) is error
    assert SECRET not in str(caught.value)


async def test_slow_answer_is_unavailable(ari_server: StartServer) -> None:
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.json_response({})

    ari = await ari_server([web.get("/ari/asterisk/info", slow)], 0.2)
    with pytest.raises(AriUnavailable, match=r"cannot reach ARI at .* \(GET /asterisk/info\)"):
        await ari.asterisk_info()


async def test_requests_carry_basic_auth_and_params(
    ari_server: StartServer,
) -> None:
    seen: dict[str, Any] = {}

    async def originate(request: web.Request) -> web.Response:
        seen["auth"] = request.headers.get("Authorization")
        seen["query"] = dict(request.query)
        seen["body"] = await request.json()
        return web.json_response({"id": "c1"})

    ari = await ari_server([web.post("/ari/channels", originate)])
    await ari.originate(
        "PJSIP/+15550104477@carrier-a",
        app_args=["a", "b"],
        timeout=30,
        variables={"CALLCTL_LEG": "trunk"},
    )
    assert seen["auth"].startswith("Basic ")
    assert seen["query"] == {
        "endpoint": "PJSIP/+15550104477@carrier-a",
        "app": "callctl",
        "appArgs": "a,b",
        "timeout": "30",
    }
    assert seen["body"] == {"variables": {"CALLCTL_LEG": "trunk"}}


async def test_websocket_drop_raises_disconnected(
    ari_server: StartServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    async def events(request: web.Request) -> web.WebSocketResponse:
        assert request.query["app"] == "callctl" and request.query["subscribeAll"] == "false"
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str("garbage")
        await ws.send_bytes(b"\x00\x01")
        await ws.send_str('{"type": "StasisStart", "channel": {"id": "c1"}}')
        await ws.close()
        return ws

    ari = await ari_server([web.get("/ari/events", events)])
    stream = await ari.connect_events(wait_registered=None)
    first = await anext(stream)
    assert first.type == "StasisStart" and first.channel_id == "c1"
    with pytest.raises(AriDisconnected, match="closed"):
        await anext(stream)
    assert SECRET not in caplog.text


async def test_event_stream_outlives_the_request_timeout(
    ari_server: StartServer,
) -> None:
    async def events(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await asyncio.sleep(0.8)
        await ws.send_str('{"type": "Late"}')
        async for _ in ws:
            pass
        return ws

    # REST calls time out after 0.2 s; the event stream must not.
    ari = await ari_server([web.get("/ari/events", events)], 0.2)
    stream = await ari.connect_events(wait_registered=None)
    assert (await anext(stream)).type == "Late"
    await stream.close()


def registering_ari(registered_after: int) -> list[web.RouteDef]:
    """Events that stay open, and an app that shows up after `registered_after` lookups."""
    lookups = 0

    async def events(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for _ in ws:
            pass
        return ws

    async def application(request: web.Request) -> web.Response:
        nonlocal lookups
        lookups += 1
        if lookups > registered_after:
            return web.json_response({"name": request.match_info["name"]})
        return web.json_response({"message": "Application not found"}, status=404)

    return [web.get("/ari/events", events), web.get("/ari/applications/{name}", application)]


async def test_connect_waits_until_the_app_is_registered(
    ari_server: StartServer,
) -> None:
    ari = await ari_server(registering_ari(registered_after=3))
    stream = await ari.connect_events()
    assert await ari.is_registered()
    await stream.close()


async def test_connect_gives_up_if_the_app_never_registers(
    ari_server: StartServer,
) -> None:
    ari = await ari_server(registering_ari(registered_after=10**6))
    with pytest.raises(AriUnavailable, match=r"'callctl' not registered 0\.3 s after"):
        await ari.connect_events(wait_registered=0.3)
