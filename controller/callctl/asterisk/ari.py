"""A typed async client for the Asterisk REST Interface (ARI).

    AriClient          typed REST calls and the events WebSocket of one Stasis app
    EventStream        `async for event in stream`: one WebSocket connection's events
    Event              one event; `parse_event(text)` makes one from a WebSocket message

REST goes through a callctl.asterisk.transport (aiohttp, or the pooled one the daemon uses),
bounded in connections and requests in flight. A request that got no answer is retried when
that is safe: it is idempotent (GET, PUT, DELETE, or said so by the typed method) or it
certainly never reached Asterisk. The events WebSocket stays on aiohttp. Reconnecting is the
caller's: see callctl.asterisk.reconnect.

Errors (every one a CallctlError, none carrying credentials):

    AsteriskUnavailable
    └── AriUnavailable        ARI cannot be reached, timed out, or answered 5xx  (exit 6)
        ├── AriAuthError      401/403: the user or password is wrong            (exit 6)
        └── AriDisconnected   the events WebSocket closed under us               (exit 6)
    AriRequestError           Asterisk refused this request (4xx)                (exit 1)
    ├── AriBadRequest         400, 422: parameters invalid
    ├── AriNotFound           404: no such channel, bridge, app ...
    ├── AriConflict           409: e.g. the channel is not in a Stasis app
    └── AriInvalidState       412: e.g. answering a channel that is already up

The password lives only in the Authorization header: it is never in a URL, a message, a repr or a
log line. Asterisk drops Stasis events while no WebSocket is connected for the app, so after
any reconnect the caller must re-read channels and bridges.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import quote, urlsplit

import aiohttp

from callctl.asterisk.closing import ClosesOnExit
from callctl.asterisk.connect import DEFAULT_APP, ENV_PASSWORD, ENV_USER
from callctl.asterisk.reconnect import retry_policy
from callctl.asterisk.transport import (
    DEFAULT_MAX_CONNECTIONS,
    AiohttpTransport,
    PooledTransport,
    Request,
    Transport,
    TransportError,
    TransportSettings,
    basic_auth,
)
from callctl.errors import AsteriskUnavailable, CallctlError, UsageError

log = logging.getLogger("callctl.asterisk.ari")

JSON = dict[str, Any]


# -- errors --------------------------------------------------------------------------------


class AriUnavailable(AsteriskUnavailable):
    pass


class AriAuthError(AriUnavailable):
    pass


class AriDisconnected(AriUnavailable):
    pass


class AriRequestError(CallctlError):
    """Asterisk understood the request and refused it; `http_status` and `ari_message` say why."""

    def __init__(
        self, message: str, *, http_status: int, ari_message: str, hint: str | None = None
    ):
        super().__init__(message, hint=hint)
        self.http_status = http_status
        self.ari_message = ari_message


class AriBadRequest(AriRequestError):
    pass


class AriNotFound(AriRequestError):
    pass


class AriConflict(AriRequestError):
    pass


class AriInvalidState(AriRequestError):
    pass


_BY_STATUS: dict[int, type[AriRequestError]] = {
    400: AriBadRequest,
    404: AriNotFound,
    409: AriConflict,
    412: AriInvalidState,
    422: AriBadRequest,
}


# -- credentials ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AriCredentials:
    """Where ARI is and who to log in as. The password is kept out of repr and messages."""

    url: str  # e.g. http://127.0.0.1:8088/ari
    user: str
    password: str = field(repr=False)
    app: str = DEFAULT_APP

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"ARI URL must be http(s)://host:port/ari, got {parts.scheme}://...")
        if parts.username or parts.password:
            # A URL with user:pass@ ends up in logs and tracebacks; refuse it outright.
            raise UsageError(
                "the ARI URL must not contain credentials",
                hint=f"set {ENV_USER} and {ENV_PASSWORD} (or a 0600 file) instead",
            )
        if parts.query or parts.fragment:
            raise UsageError("the ARI URL must not have a query or fragment")
        if not self.user or any(c in self.user for c in ":\r\n"):
            raise UsageError("the ARI user must be non-empty, without ':' or line breaks")

    @property
    def base(self) -> str:
        return self.url.rstrip("/")


# -- events --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One ARI event. `data` is the whole JSON object, `type` its "type" field."""

    type: str
    data: JSON

    @property
    def application(self) -> str | None:
        return cast(str | None, self.data.get("application"))

    @property
    def channel(self) -> JSON | None:
        value = self.data.get("channel")
        return cast(JSON, value) if isinstance(value, dict) else None

    @property
    def channel_id(self) -> str | None:
        chan = self.channel
        return cast(str, chan["id"]) if chan and isinstance(chan.get("id"), str) else None

    @property
    def args(self) -> list[str]:
        value = self.data.get("args")
        return [str(a) for a in value] if isinstance(value, list) else []


def parse_event(text: str) -> Event | None:
    """An Event from one WebSocket text message; None (and a warning) if it is not one."""
    try:
        data = json.loads(text)
    except ValueError:
        log.warning("ARI sent a message that is not JSON (%d bytes); ignored", len(text))
        return None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        log.warning("ARI sent JSON without an event type; ignored")
        return None
    return Event(data["type"], data)


class EventStream:
    """The events of one WebSocket connection. Ends quietly on close(); raises
    AriDisconnected if Asterisk or the network ends it."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, where: str) -> None:
        self._ws = ws
        self._where = where
        self._closing = False

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        while True:
            msg = await self._ws.receive()
            if msg.type == aiohttp.WSMsgType.TEXT:
                event = parse_event(cast(str, msg.data))
                if event is not None:
                    return event
                continue
            if msg.type in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
                continue
            if msg.type == aiohttp.WSMsgType.BINARY:
                log.warning("ARI sent a binary WebSocket message; ignored")
                continue
            if self._closing:
                raise StopAsyncIteration
            code = self._ws.close_code
            raise AriDisconnected(
                f"ARI event WebSocket {self._where} closed (message {msg.type.name}, "
                f"close code {code})",
                hint="Asterisk restarted or the network dropped; reconnect and reconcile",
            )

    @property
    def closed(self) -> bool:
        return self._ws.closed

    async def close(self) -> None:
        self._closing = True
        await self._ws.close()


# -- client --------------------------------------------------------------------------------


def _path_part(value: str) -> str:
    # IDs go into URL paths: quote everything, so "a/../b" or "?x" cannot change the target.
    return quote(value, safe="")


def _clean_params(params: Mapping[str, object | None]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            out[key] = ",".join(str(v) for v in value)
        else:
            out[key] = str(value)
    return out


_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})


class AriClient(ClosesOnExit):
    """ARI for one Stasis application. Use as `async with AriClient(creds) as ari:`.

    `pooled=True` (plain http only) sends REST over the lean kept-alive pool instead of
    aiohttp; `max_connections` bounds open connections (and so requests in flight) either
    way; `attempts` is how often a request that got no answer is tried when safe."""

    def __init__(
        self,
        credentials: AriCredentials,
        *,
        request_timeout: float = 10.0,
        heartbeat: float = 10.0,
        pooled: bool = False,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        attempts: int = 3,
        transport: Transport | None = None,
    ) -> None:
        self.credentials = credentials
        auth = basic_auth(credentials.user, credentials.password)
        self._headers = {"Authorization": auth}
        self._request_timeout = request_timeout
        self._heartbeat = heartbeat
        self._attempts = max(1, attempts)
        if transport is None:
            kind = PooledTransport if pooled else AiohttpTransport
            transport = kind(
                TransportSettings(credentials.base, auth, request_timeout, max_connections)
            )
        self.transport = transport
        self._ws_session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"AriClient(url={self.credentials.base!r}, user={self.credentials.user!r})"

    async def close(self) -> None:
        await self.transport.close()
        if self._ws_session is not None:
            await self._ws_session.close()
        self._ws_session = None

    # -- requests -------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, object | None] | None = None,
        body: JSON | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """One REST call; returns the decoded JSON (None for 204). `path` is below /ari.

        Retried (a few times, quickly) when no answer came and running it twice is harmless:
        `idempotent` defaults to True for GET, HEAD, PUT and DELETE."""
        request = Request(
            method,
            path,
            _clean_params(params or {}),
            json.dumps(body).encode() if body is not None else None,
        )
        safe = method in _IDEMPOTENT_METHODS if idempotent is None else idempotent

        def retryable(err: BaseException) -> bool:
            return isinstance(err, TransportError) and (safe or not err.sent)

        policy = retry_policy(
            retryable, what=f"ARI {request.where}", base=0.05, cap=0.5, max_attempts=self._attempts
        )
        try:
            async for attempt in policy:
                with attempt:
                    status, text = await self.transport.send(request)
        except TransportError as err:
            raise AriUnavailable(
                f"cannot reach ARI at {self.credentials.base} ({request.where}): {err.reason}",
                hint="is Asterisk running, with http.conf and ari.conf enabled?",
            ) from None
        log.debug("ARI %s -> %d", request.where, status)
        if status >= 300:
            raise self._error(request.where, status, text)
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise AriUnavailable(
                f"ARI {request.where} answered {status} with a body that is not JSON"
            ) from None

    def _error(self, where: str, status: int, text: str) -> CallctlError:
        ari_message = ""
        try:
            doc = json.loads(text)
            if isinstance(doc, dict):
                ari_message = str(doc.get("message", "") or doc.get("error", ""))
        except ValueError:
            ari_message = text.strip()[:200]
        said = f": {ari_message}" if ari_message else ""
        if status in (401, 403):
            return AriAuthError(
                f"ARI refused the credentials of user {self.credentials.user!r} ({where})",
                hint="check the ari.conf user and the password callctl was given",
            )
        if status >= 500:
            return AriUnavailable(f"ARI {where} failed with {status}{said}")
        cls = _BY_STATUS.get(status, AriRequestError)
        return cls(
            f"ARI {where} refused with {status}{said}", http_status=status, ari_message=ari_message
        )

    async def _json_object(self, method: str, path: str, **kw: Any) -> JSON:
        value = await self.request(method, path, **kw)
        if not isinstance(value, dict):
            raise AriUnavailable(
                f"ARI {method} {path} returned {type(value).__name__}, not an object"
            )
        return value

    async def _json_list(self, method: str, path: str, **kw: Any) -> list[JSON]:
        value = await self.request(method, path, **kw)
        if not isinstance(value, list):
            raise AriUnavailable(f"ARI {method} {path} returned {type(value).__name__}, not a list")
        return [cast(JSON, v) for v in value]

    # -- events ---------------------------------------------------------------------------

    async def connect_events(self, *, wait_registered: float | None = 5.0) -> EventStream:
        """Open /ari/events for our app only (subscribeAll=false), which registers the app.

        Asterisk registers the app just after the WebSocket upgrade; unless `wait_registered`
        is None, this returns only once GET /applications/{app} shows it (so a health check
        or an originate right after cannot race the registration).
        """
        if self._ws_session is None or self._ws_session.closed:
            # Bounds the handshake; the stream lives as long as the connection (tested).
            timeout = aiohttp.ClientTimeout(total=self._request_timeout)
            self._ws_session = aiohttp.ClientSession(timeout=timeout)
        app = self.credentials.app
        where = f"{self.credentials.base}/events?app={app}"
        try:
            ws = await self._ws_session.ws_connect(
                self.credentials.base + "/events",
                params={"app": app, "subscribeAll": "false"},
                headers=self._headers,
                heartbeat=self._heartbeat,
            )
        except aiohttp.WSServerHandshakeError as err:
            if err.status in (401, 403):
                raise AriAuthError(
                    f"ARI refused the credentials of user {self.credentials.user!r} "
                    f"(WebSocket {where})"
                ) from None
            raise AriUnavailable(f"ARI event WebSocket {where} refused: {err.status}") from None
        except (aiohttp.ClientError, TimeoutError) as err:
            raise AriUnavailable(
                f"cannot open the ARI event WebSocket {where}: {type(err).__name__}"
            ) from None
        stream = EventStream(ws, where)
        if wait_registered is not None:
            try:
                await self.wait_registered(wait_registered)
            except BaseException:
                await stream.close()
                raise
        log.info("ARI events connected for app %s", app)
        return stream

    # -- REST: asterisk and applications ---------------------------------------------------

    async def asterisk_info(self) -> JSON:
        return await self._json_object("GET", "/asterisk/info")

    async def application(self, name: str | None = None) -> JSON:
        """The app's record; 404 (AriNotFound) while no WebSocket has it registered."""
        return await self._json_object(
            "GET", f"/applications/{_path_part(name or self.credentials.app)}"
        )

    async def is_registered(self) -> bool:
        try:
            await self.application()
        except AriNotFound:
            return False
        return True

    async def wait_registered(self, timeout: float = 5.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delay = 0.02
        while not await self.is_registered():
            if loop.time() >= deadline:
                raise AriUnavailable(
                    f"ARI app {self.credentials.app!r} not registered {timeout:g} s after "
                    "its WebSocket connected"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def set_event_filter(self, allowed: Sequence[str]) -> None:
        """Ask Asterisk to send our app only these event types."""
        await self.request(
            "PUT",
            f"/applications/{_path_part(self.credentials.app)}/eventFilter",
            body={"allowed": [{"type": t} for t in allowed]},
        )

    # -- REST: channels -------------------------------------------------------------------

    async def channels(self) -> list[JSON]:
        return await self._json_list("GET", "/channels")

    async def channel(self, channel_id: str) -> JSON:
        return await self._json_object("GET", f"/channels/{_path_part(channel_id)}")

    async def originate(
        self,
        endpoint: str,
        *,
        app_args: Sequence[str] = (),
        channel_id: str | None = None,
        other_channel_id: str | None = None,
        caller_id: str | None = None,
        timeout: int | None = None,
        originator: str | None = None,
        formats: Sequence[str] = (),
        variables: Mapping[str, str] | None = None,
    ) -> JSON:
        """Dial `endpoint` (a dial string from callctl.routing) straight into our app."""
        path = "/channels" if channel_id is None else f"/channels/{_path_part(channel_id)}"
        return await self._new_channel(
            path,
            endpoint,
            app_args,
            variables,
            otherChannelId=other_channel_id,
            callerId=caller_id,
            timeout=timeout,
            originator=originator,
            formats=list(formats) or None,
        )

    async def create_channel(
        self,
        endpoint: str,
        *,
        app_args: Sequence[str] = (),
        channel_id: str | None = None,
        originator: str | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> JSON:
        """Create a channel in our app without dialling it (dial later with `dial`)."""
        return await self._new_channel(
            "/channels/create",
            endpoint,
            app_args,
            variables,
            channelId=channel_id,
            originator=originator,
        )

    async def _new_channel(
        self,
        path: str,
        endpoint: str,
        app_args: Sequence[str],
        variables: Mapping[str, str] | None,
        **params: object | None,
    ) -> JSON:
        """POST a channel into our app: what originate and create have in common, plus
        `params` (ARI's names; None leaves one out)."""
        query = {
            "endpoint": endpoint,
            "app": self.credentials.app,
            "appArgs": list(app_args) or None,
            **params,
        }
        body = {"variables": dict(variables)} if variables else None
        return await self._json_object("POST", path, params=query, body=body)

    async def dial(
        self, channel_id: str, *, caller: str | None = None, timeout: int | None = None
    ) -> None:
        await self.request(
            "POST",
            f"/channels/{_path_part(channel_id)}/dial",
            params={"caller": caller, "timeout": timeout},
        )

    async def answer(self, channel_id: str) -> None:
        # Answering twice is refused (412) at worst: safe to retry.
        await self.request("POST", f"/channels/{_path_part(channel_id)}/answer", idempotent=True)

    async def ring(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{_path_part(channel_id)}/ring", idempotent=True)

    async def progress(self, channel_id: str) -> None:
        """Indicate progress (SIP 183, early media) on the channel."""
        await self.request("POST", f"/channels/{_path_part(channel_id)}/progress", idempotent=True)

    async def ring_stop(self, channel_id: str) -> None:
        await self.request("DELETE", f"/channels/{_path_part(channel_id)}/ring")

    async def hangup(
        self, channel_id: str, *, reason: str | None = None, reason_code: int | None = None
    ) -> None:
        """Hang up with an ARI reason name ("busy") or a Q.850 cause number (reason_code)."""
        await self.request(
            "DELETE",
            f"/channels/{_path_part(channel_id)}",
            params={"reason": reason, "reason_code": reason_code},
        )

    async def get_variable(self, channel_id: str, variable: str) -> str:
        doc = await self._json_object(
            "GET", f"/channels/{_path_part(channel_id)}/variable", params={"variable": variable}
        )
        return str(doc.get("value", ""))

    async def set_variable(self, channel_id: str, variable: str, value: str) -> None:
        await self.request(
            "POST",
            f"/channels/{_path_part(channel_id)}/variable",
            params={"variable": variable, "value": value},
            idempotent=True,
        )

    async def continue_in_dialplan(
        self, channel_id: str, *, context: str, extension: str, priority: int = 1
    ) -> None:
        """Leave the app for the dialplan at context,extension,priority (not retried: it
        may have run; a second one would be refused with 404 or 409 anyway)."""
        await self.request(
            "POST",
            f"/channels/{_path_part(channel_id)}/continue",
            params={"context": context, "extension": extension, "priority": priority},
        )

    # -- REST: bridges --------------------------------------------------------------------

    async def bridges(self) -> list[JSON]:
        return await self._json_list("GET", "/bridges")

    async def create_bridge(
        self, *, bridge_id: str | None = None, name: str | None = None, bridge_type: str = "mixing"
    ) -> JSON:
        # With an id, creating it again answers the same bridge: safe to retry.
        path = "/bridges" if bridge_id is None else f"/bridges/{_path_part(bridge_id)}"
        return await self._json_object(
            "POST",
            path,
            params={"type": bridge_type, "name": name},
            idempotent=bridge_id is not None,
        )

    async def add_channels(self, bridge_id: str, channel_ids: Sequence[str]) -> None:
        await self.request(
            "POST",
            f"/bridges/{_path_part(bridge_id)}/addChannel",
            params={"channel": list(channel_ids)},
            idempotent=True,
        )

    async def remove_channels(self, bridge_id: str, channel_ids: Sequence[str]) -> None:
        await self.request(
            "POST",
            f"/bridges/{_path_part(bridge_id)}/removeChannel",
            params={"channel": list(channel_ids)},
            idempotent=True,
        )

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self.request("DELETE", f"/bridges/{_path_part(bridge_id)}")
