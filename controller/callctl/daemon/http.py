"""The daemon's loopback HTTP API: /health, /metrics, GET /calls, DELETE /calls/{id}.

Bound to a loopback address only (checked at start). `/health` and `/metrics` are open to
local monitoring (they hold no number, JID or secret); `GET /calls` (numbers and JIDs) and
`DELETE /calls/{id}` (ends a call) want `Authorization: Bearer <token>`, the token the
daemon writes at start to a 0600 file in a private folder (`token_path`): who can read that
file may list and end calls, any other local user may not.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

from aiohttp import web

from callctl import paths
from callctl.errors import UsageError
from callctl.fsutil import private_dir, read_private, write_atomic

API_VERSION = "1"
TOKEN_ENV = "CALLCTL_API_TOKEN_FILE"


def token_path(port: int) -> Path:
    """Where the daemon listening on `port` keeps its API token (`$CALLCTL_API_TOKEN_FILE`,
    else `$CALLCTL_STATE/api/PORT.token`): the CLI finds it the same way."""
    env = os.environ.get(TOKEN_ENV)
    return Path(env) if env else paths.state_dir() / "api" / f"{port}.token"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def write_token(path: Path, token: str) -> None:
    """0600 from its first byte, in a folder checked private (callctl.fsutil)."""
    with private_dir(path.parent) as fd:
        write_atomic(fd, path.name, token.encode("ascii"))


def read_token(path: Path) -> str | None:
    """The token in `path` (None when there is none); the folder must be private."""
    if not path.parent.is_dir():
        return None
    with private_dir(path.parent, create=False) as fd:
        data = read_private(fd, path.name)
    return data.decode("ascii", "replace").strip() if data is not None else None


def remove_token(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def check_loopback(host: str) -> None:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise UsageError(
            f"the daemon's HTTP API must listen on loopback, not {host!r}",
            hint="use 127.0.0.1 (or ::1)",
        )


def make_app(
    *,
    health: Callable[[], dict[str, Any]],
    metrics: Callable[[], str],
    calls: Callable[[], list[dict[str, object]]],
    hangup: Callable[[str], bool],
    token: str,
    refresh: Callable[[], Awaitable[None]] | None = None,
) -> web.Application:
    expected = f"Bearer {token}".encode()

    def authorised(request: web.Request) -> bool:
        given = request.headers.get("Authorization", "").encode("latin-1", "replace")
        return hmac.compare_digest(given, expected)

    def refused() -> web.Response:
        return _json(
            {"version": API_VERSION, "error": "an API token is needed (see callctl calls)"},
            status=401,
        )

    async def get_health(_: web.Request) -> web.Response:
        doc = health()
        return _json({"version": API_VERSION, **doc}, status=200 if doc["ready"] else 503)

    async def get_metrics(_: web.Request) -> web.Response:
        return web.Response(
            text=metrics(),
            content_type="text/plain",
            charset="utf-8",
            headers={"X-Prometheus-Format": "0.0.4"},
        )

    async def get_calls(request: web.Request) -> web.Response:
        if not authorised(request):
            return refused()
        if refresh is not None:
            await refresh()
        return _json({"version": API_VERSION, "calls": calls()})

    async def delete_call(request: web.Request) -> web.Response:
        if not authorised(request):
            return refused()
        call_id = request.match_info["call_id"]
        if not hangup(call_id):
            return _json(
                {"version": API_VERSION, "error": f"no active call {call_id!r}"}, status=404
            )
        return _json({"version": API_VERSION, "hangup": call_id}, status=202)

    app = web.Application()
    app.router.add_get("/health", get_health)
    app.router.add_get("/metrics", get_metrics)
    app.router.add_get("/calls", get_calls)
    app.router.add_delete("/calls/{call_id}", delete_call)
    return app


def _json(doc: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(doc, sort_keys=True), status=status, content_type="application/json"
    )


# -- serving, bounded -------------------------------------------------------------------------

MAX_CONNECTIONS = 128  # far below the 1,024 descriptors of a default unit: ARI/AMI keep theirs
MAX_AGE = 30.0  # s a connection may last: requests here are small, a trickling one is cut
KEEPALIVE = 5.0  # s an idle kept-alive connection may wait for its next request


class _Closed(asyncio.Protocol):
    """A connection over the cap: closed at once, so it holds no descriptor."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cast(asyncio.Transport, transport).abort()


class _Guarded(asyncio.Protocol):
    """aiohttp's handler for one connection, counted, and closed after MAX_AGE."""

    def __init__(self, guard: ConnectionGuard, inner: Any) -> None:
        self.guard, self.inner = guard, inner
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.guard.active += 1
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.guard.max_age, cast(asyncio.Transport, transport).abort)
        self.inner.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.active -= 1
        if self._timer is not None:
            self._timer.cancel()
        self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return cast(bool | None, self.inner.eof_received())

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class ConnectionGuard:
    """A protocol factory around aiohttp's: at most `limit` connections at once (more are
    closed on arrival), each one at most `max_age` seconds (a client trickling its request
    a byte at a time is cut)."""

    def __init__(
        self, factory: Callable[[], Any], *, limit: int = MAX_CONNECTIONS, max_age: float = MAX_AGE
    ) -> None:
        self.factory, self.limit, self.max_age = factory, limit, max_age
        self.active = 0
        self.refused = 0

    def __call__(self) -> asyncio.Protocol:
        if self.active >= self.limit:
            self.refused += 1
            return _Closed()
        return _Guarded(self, self.factory())


class Serving:
    """The API served on host:port through a ConnectionGuard; `close()` ends it."""

    def __init__(self, runner: web.AppRunner, server: asyncio.Server, guard: ConnectionGuard):
        self.runner, self.server, self.guard = runner, server, guard
        self.port = int(server.sockets[0].getsockname()[1]) if server.sockets else 0

    async def close(self) -> None:
        self.server.close()
        await self.runner.cleanup()  # also ends the connections still open
        await self.server.wait_closed()


async def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    limit: int = MAX_CONNECTIONS,
    max_age: float = MAX_AGE,
) -> Serving:
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=KEEPALIVE)
    await runner.setup()
    guard = ConnectionGuard(runner.server, limit=limit, max_age=max_age)  # type: ignore[arg-type]
    server = await asyncio.get_running_loop().create_server(guard, host, port)
    return Serving(runner, server, guard)
