"""A typed async client for the Asterisk REST Interface (ARI), on aiohttp.

    AriClient          REST calls (JSON in, JSON out) and the events WebSocket of one app
    EventStream        `async for event in stream`: one WebSocket connection's events
    events_forever()   events across reconnects, with a hook to reconcile after each connect
    reconnect_policy() tenacity retrying: exponential backoff, jitter, capped

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
any reconnect the caller must re-read channels and bridges (see `events_forever`).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import random
import stat
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, cast
from urllib.parse import quote, urlsplit

import aiohttp
import tenacity

from callctl.errors import AsteriskUnavailable, CallctlError, UsageError

log = logging.getLogger("callctl.ari")

JSON = dict[str, Any]
DEFAULT_APP = "callctl"
ENV_URL, ENV_USER, ENV_PASSWORD = "CALLCTL_ARI_URL", "CALLCTL_ARI_USER", "CALLCTL_ARI_PASSWORD"


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

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, app: str = DEFAULT_APP
    ) -> AriCredentials:
        env = os.environ if environ is None else environ
        missing = [k for k in (ENV_URL, ENV_USER, ENV_PASSWORD) if not env.get(k)]
        if missing:
            raise UsageError(f"ARI credentials missing from the environment: {', '.join(missing)}")
        return cls(env[ENV_URL], env[ENV_USER], env[ENV_PASSWORD], app)

    @classmethod
    def from_file(cls, path: Path, app: str = DEFAULT_APP) -> AriCredentials:
        """Read `KEY=value` lines (the CALLCTL_ARI_* names) from a file only its owner can read."""
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise UsageError(f"ARI credentials file {path} does not exist") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise UsageError(
                f"ARI credentials file {path} is readable by others (mode {mode & 0o777:o})",
                hint=f"chmod 600 {path}",
            )
        values: dict[str, str] = {}
        for number, line in enumerate(path.read_text().splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, sep, value = line.partition("=")
            if not sep:
                raise UsageError(f"{path}:{number}: expected KEY=value")
            values[key.strip()] = value.strip()
        return cls.from_env(values, app)


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


def _basic_auth(user: str, password: str) -> str:
    # Built by hand: aiohttp.BasicAuth is deprecated in 3.14 and its replacement is new there.
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


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


class AriClient:
    """ARI for one Stasis application. Use as `async with AriClient(creds) as ari:`."""

    def __init__(
        self,
        credentials: AriCredentials,
        *,
        request_timeout: float = 10.0,
        heartbeat: float = 10.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.credentials = credentials
        self._headers = {"Authorization": _basic_auth(credentials.user, credentials.password)}
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._heartbeat = heartbeat
        self._session = session
        self._owns_session = session is None

    def __repr__(self) -> str:
        return f"AriClient(url={self.credentials.base!r}, user={self.credentials.user!r})"

    async def __aenter__(self) -> AriClient:
        self._ensure_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
            self._owns_session = True
        return self._session

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    # -- transport ------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, object | None] | None = None,
        body: JSON | None = None,
    ) -> Any:
        """One REST call; returns the decoded JSON (None for 204). `path` is below /ari."""
        session = self._ensure_session()
        where = f"{method} {path}"
        try:
            async with session.request(
                method,
                self.credentials.base + path,
                params=_clean_params(params or {}),
                json=body,
                headers=self._headers,
                timeout=self._timeout,  # also when the session was passed in
            ) as resp:
                text = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as err:
            raise AriUnavailable(
                f"cannot reach ARI at {self.credentials.base} ({where}): "
                f"{type(err).__name__}{': ' + str(err) if str(err) else ''}",
                hint="is Asterisk running, with http.conf and ari.conf enabled?",
            ) from None
        log.debug("ARI %s -> %d", where, status)
        if status >= 300:
            raise self._error(where, status, text)
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError:
            raise AriUnavailable(
                f"ARI {where} answered {status} with a body that is not JSON"
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
        session = self._ensure_session()
        app = self.credentials.app
        where = f"{self.credentials.base}/events?app={app}"
        try:
            ws = await session.ws_connect(
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
        params = {
            "endpoint": endpoint,
            "app": self.credentials.app,
            "appArgs": list(app_args) or None,
            "otherChannelId": other_channel_id,
            "callerId": caller_id,
            "timeout": timeout,
            "originator": originator,
            "formats": list(formats) or None,
        }
        body = {"variables": dict(variables)} if variables else None
        return await self._json_object("POST", path, params=params, body=body)

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
        params = {
            "endpoint": endpoint,
            "app": self.credentials.app,
            "appArgs": list(app_args) or None,
            "channelId": channel_id,
            "originator": originator,
        }
        body = {"variables": dict(variables)} if variables else None
        return await self._json_object("POST", "/channels/create", params=params, body=body)

    async def dial(
        self, channel_id: str, *, caller: str | None = None, timeout: int | None = None
    ) -> None:
        await self.request(
            "POST",
            f"/channels/{_path_part(channel_id)}/dial",
            params={"caller": caller, "timeout": timeout},
        )

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{_path_part(channel_id)}/answer")

    async def ring(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{_path_part(channel_id)}/ring")

    async def progress(self, channel_id: str) -> None:
        """Indicate progress (SIP 183, early media) on the channel."""
        await self.request("POST", f"/channels/{_path_part(channel_id)}/progress")

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

    # -- REST: bridges --------------------------------------------------------------------

    async def bridges(self) -> list[JSON]:
        return await self._json_list("GET", "/bridges")

    async def create_bridge(
        self, *, bridge_id: str | None = None, name: str | None = None, bridge_type: str = "mixing"
    ) -> JSON:
        path = "/bridges" if bridge_id is None else f"/bridges/{_path_part(bridge_id)}"
        return await self._json_object("POST", path, params={"type": bridge_type, "name": name})

    async def add_channels(self, bridge_id: str, channel_ids: Sequence[str]) -> None:
        await self.request(
            "POST",
            f"/bridges/{_path_part(bridge_id)}/addChannel",
            params={"channel": list(channel_ids)},
        )

    async def remove_channels(self, bridge_id: str, channel_ids: Sequence[str]) -> None:
        await self.request(
            "POST",
            f"/bridges/{_path_part(bridge_id)}/removeChannel",
            params={"channel": list(channel_ids)},
        )

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self.request("DELETE", f"/bridges/{_path_part(bridge_id)}")


# -- reconnecting ----------------------------------------------------------------------------


def backoff_delay(
    attempt: int, *, base: float = 0.5, cap: float = 30.0, rand: Callable[[], float] = random.random
) -> float:
    """Seconds to wait before retry `attempt` (1-based): the ceiling doubles per attempt up
    to `cap`, and the wait is drawn from [ceiling/2, ceiling] so that many controllers
    restarting together do not retry in step."""
    exponent = min(max(attempt, 1) - 1, 32)  # base * 2**32 is past any sensible cap
    ceiling = min(cap, base * 2.0**exponent)
    return ceiling / 2 + rand() * ceiling / 2


def backoff(
    base: float = 0.5, cap: float = 30.0, rand: Callable[[], float] = random.random
) -> Callable[[tenacity.RetryCallState], float]:
    """backoff_delay as a tenacity wait strategy."""

    def wait(state: tenacity.RetryCallState) -> float:
        return backoff_delay(state.attempt_number, base=base, cap=cap, rand=rand)

    return wait


def _log_retry(state: tenacity.RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    delay = state.next_action.sleep if state.next_action else 0.0
    # Our error messages never hold credentials, so they are safe to log.
    log.warning(
        "ARI unavailable (attempt %d): %s; retrying in %.1f s", state.attempt_number, exc, delay
    )


def reconnect_policy(
    *,
    base: float = 0.5,
    cap: float = 30.0,
    max_attempts: int | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rand: Callable[[], float] = random.random,
) -> tenacity.AsyncRetrying:
    """Retry on AriUnavailable only; a refused request or bad credentials are not retried
    (AriAuthError is raised at once: retrying a wrong password just fills the logs)."""
    return tenacity.AsyncRetrying(
        wait=backoff(base, cap, rand),
        stop=tenacity.stop_after_attempt(max_attempts) if max_attempts else tenacity.stop_never,
        retry=tenacity.retry_if_exception(
            lambda e: isinstance(e, AriUnavailable) and not isinstance(e, AriAuthError)
        ),
        before_sleep=_log_retry,
        sleep=sleep,
        reraise=True,
    )


async def connect_with_retry(
    client: AriClient, policy: tenacity.AsyncRetrying | None = None
) -> EventStream:
    async for attempt in policy or reconnect_policy():
        with attempt:
            return await client.connect_events()
    raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover


async def events_forever(
    client: AriClient,
    *,
    on_connect: Callable[[int], Awaitable[None]] | None = None,
    policy_factory: Callable[[], tenacity.AsyncRetrying] = reconnect_policy,
    stable_after: float = 30.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    pause: Callable[[int], float] = backoff_delay,
) -> AsyncGenerator[Event, None]:
    """Every event of our app across reconnects.

    After each successful (re)connect `on_connect(n)` runs (n = 0 the first time, then the
    reconnect count) BEFORE any event of that connection is yielded: that is where the caller
    re-reads channels and bridges, since events sent while disconnected are lost. If it raises
    AriUnavailable, the connection is dropped and retried like any other failure.

    A connection that drops within `stable_after` seconds counts as a failure for the backoff,
    so an Asterisk that accepts and at once closes the WebSocket is not hammered.
    """
    connects = 0
    quick_drops = 0
    while True:
        stream = await connect_with_retry(client, policy_factory())
        started = clock()
        try:
            if on_connect is not None:
                await on_connect(connects)
            connects += 1
            async for event in stream:
                yield event
            return  # the stream was closed on purpose
        except AriAuthError:
            raise
        except AriUnavailable as err:
            log.warning("ARI events lost: %s", err.message)
        finally:
            if not stream.closed:
                await stream.close()
        quick_drops = quick_drops + 1 if clock() - started < stable_after else 0
        if quick_drops:
            await sleep(pause(quick_drops))
