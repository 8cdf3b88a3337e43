"""The daemon's loopback HTTP API: /health, /metrics, GET /calls, DELETE /calls/{id}.

Bound to a loopback address only (checked at start): `DELETE /calls/{id}` ends a call, and
there is no authentication beyond "you are on this machine".
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from callctl.errors import UsageError

API_VERSION = "1"


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
    refresh: Callable[[], Awaitable[None]] | None = None,
) -> web.Application:
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

    async def get_calls(_: web.Request) -> web.Response:
        if refresh is not None:
            await refresh()
        return _json({"version": API_VERSION, "calls": calls()})

    async def delete_call(request: web.Request) -> web.Response:
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
