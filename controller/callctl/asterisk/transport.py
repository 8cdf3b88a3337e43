"""How an ARI request reaches Asterisk: one interface, two transports, both bounded.

    Transport          `send(request) -> (status, body)`, `close()`; raises TransportError
    TransportSettings  where and how: base URL, authorization, timeout, max_connections
    AiohttpTransport   aiohttp's client (http and https)
    PooledTransport    kept-alive HTTP/1.1 connections on plain http, for the daemon

Every call costs about ten REST requests; through aiohttp's client each one took ~0.5 ms of
CPU here, which capped the daemon's calls per second well below the dialplan's. ARI answers
are small JSON bodies with a Content-Length, so a plain request/response exchange on a reused
connection does the same work for a fraction of the cost.

Both hold at most `max_connections` connections open, and so as many requests in flight;
further requests wait their turn. Asterisk refuses HTTP sessions past its http.conf
`sessionlimit` by closing a new connection before reading anything from it, so a backlog
opening one connection per request failed calls after a stall. The pool keeps below it: a
new connection closed before any answer lowers its ceiling to the connections that were open
then, less `HEADROOM` for other clients (raised again, one at a time, after `RAISE_AFTER`
answers), and that request counts as never sent. Idle connections close after `IDLE_MAX`.
A request is never re-sent here; the ARI client decides what is safe to retry
(TransportError.sent says whether it may have run).
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlencode, urlsplit

import aiohttp

# Seconds a kept-alive connection may sit idle before it is closed: each one holds one of
# Asterisk's HTTP sessions, which other clients may need (Asterisk itself waits 15 s).
IDLE_MAX = 2.0
HEADROOM = 2  # sessions left free for other clients when Asterisk refuses one
RAISE_AFTER = 200  # answers before a lowered ceiling goes up by one connection again
DEFAULT_MAX_CONNECTIONS = 20  # Asterisk's default sessionlimit is 100 for all its clients
_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # below the ARI base URL, ids already quoted
    params: Mapping[str, str]
    body: bytes | None = None  # JSON

    @property
    def where(self) -> str:
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class TransportSettings:
    """What either transport needs: the ARI base URL, the Authorization header (kept out of
    repr), the per-request timeout in seconds and the bound on open connections."""

    base: str
    authorization: str = field(repr=False)
    timeout: float = 10.0
    max_connections: int = DEFAULT_MAX_CONNECTIONS


class TransportError(Exception):
    """No answer: unreachable, dropped or timed out. `sent` is False only when the request
    certainly did not reach Asterisk (the connection could not be opened)."""

    def __init__(self, reason: str, *, sent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.sent = sent


class Transport(Protocol):
    async def send(self, request: Request) -> tuple[int, str]: ...
    async def close(self) -> None: ...


def basic_auth(user: str, password: str) -> str:
    # Built by hand: aiohttp.BasicAuth is deprecated in 3.14 and its replacement is new there.
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


class AiohttpTransport:
    def __init__(self, settings: TransportSettings) -> None:
        self._base = settings.base
        self._headers = {"Authorization": settings.authorization}
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout)
        self._max = settings.max_connections
        self._session: aiohttp.ClientSession | None = None

    async def send(self, request: Request) -> tuple[int, str]:
        if self._session is None or self._session.closed:
            # The connector's limit bounds open connections; requests beyond it wait.
            connector = aiohttp.TCPConnector(limit=self._max)
            self._session = aiohttp.ClientSession(timeout=self._timeout, connector=connector)
        headers = dict(self._headers)
        if request.body is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self._session.request(
                request.method,
                self._base + request.path,
                params=dict(request.params),
                data=request.body,
                headers=headers,
            ) as resp:
                return resp.status, await resp.text()
        except aiohttp.ClientConnectorError as err:
            raise TransportError(_describe(err), sent=False) from None
        except (aiohttp.ClientError, TimeoutError) as err:
            raise TransportError(_describe(err), sent=True) from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        self._session = None


class PooledTransport:
    def __init__(self, settings: TransportSettings) -> None:
        parts = urlsplit(settings.base)
        if parts.scheme != "http":
            raise ValueError("PooledTransport speaks plain HTTP only (ARI on loopback)")
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._prefix = parts.path.rstrip("/")
        self._auth = settings.authorization
        self._timeout = settings.timeout
        # A request holds a slot from taking a connection until it is idle again or closed;
        # a new connection is opened only when none is idle, so open connections never
        # exceed the ceiling either.
        self._gate = asyncio.Condition()
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self.max_connections = settings.max_connections
        self.ceiling = settings.max_connections  # lowered when Asterisk refuses a session
        self._answers = 0
        self.in_flight = 0
        self.waiting = 0
        self.refused = 0  # sessions Asterisk closed unread (its sessionlimit)
        self._reaper: asyncio.TimerHandle | None = None

    @property
    def open_connections(self) -> int:
        return self.in_flight + len(self._idle)

    async def send(self, request: Request) -> tuple[int, str]:
        query = urlencode(dict(request.params))
        target = self._prefix + request.path + ("?" + query if query else "")
        payload = request.body or b""
        head = (
            f"{request.method} {target} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n"
            f"Authorization: {self._auth}\r\nContent-Length: {len(payload)}\r\n"
        )
        if request.body is not None:
            head += "Content-Type: application/json\r\n"
        data = head.encode("latin-1") + b"\r\n" + payload
        self.waiting += 1
        try:
            async with self._gate:
                await self._gate.wait_for(lambda: self.in_flight < self.ceiling)
                self.in_flight += 1
        finally:
            self.waiting -= 1
        try:
            return await self._exchange(data)
        finally:
            async with self._gate:
                self.in_flight -= 1
                self._gate.notify()

    def _refused(self) -> None:
        """Asterisk closed a new connection unread: its session limit is below ours."""
        self.refused += 1
        self.ceiling = max(1, self.open_connections - HEADROOM)
        self._answers = 0
        while self._idle and self.open_connections > self.ceiling:
            self._idle.pop(0)[1].close()

    def _answered(self) -> None:
        if self.ceiling < self.max_connections:
            self._answers += 1
            if self._answers >= RAISE_AFTER:
                self._answers = 0
                self.ceiling += 1

    async def _exchange(self, data: bytes) -> tuple[int, str]:
        conn = self._take_idle()
        fresh = conn is None
        if conn is None:
            try:
                # asyncio.timeout, not wait_for: 3.11's wait_for may drop a cancel that
                # arrives as the connection completes.
                async with asyncio.timeout(self._timeout):
                    conn = await asyncio.open_connection(self._host, self._port)
            except (OSError, TimeoutError) as err:
                raise TransportError(_describe(err), sent=False) from None
        reader, writer = conn
        try:
            writer.write(data)
            async with asyncio.timeout(self._timeout):
                status, text, keep = await self._read(reader)
        except _Unread:
            writer.close()
            if fresh:
                # Asterisk refuses a session over its limit before reading the request.
                self._refused()
                raise TransportError("session refused (HTTP session limit?)", sent=False) from None
            raise TransportError("connection closed", sent=True) from None
        except (OSError, EOFError, ValueError, TimeoutError) as err:
            writer.close()
            raise TransportError(_describe(err), sent=True) from None
        except BaseException:
            writer.close()
            raise
        self._answered()
        if keep and self.open_connections <= self.ceiling:
            self._idle.append((reader, writer, time.monotonic()))
            if self._reaper is None:
                self._reaper = asyncio.get_running_loop().call_later(IDLE_MAX, self._reap)
        else:
            writer.close()
        return status, text

    def _reap(self) -> None:
        """Close the connections idle for IDLE_MAX; come back while any are left."""
        self._reaper = None
        now = time.monotonic()
        keep = []
        for reader, writer, used in self._idle:
            if now - used < IDLE_MAX:
                keep.append((reader, writer, used))
            else:
                writer.close()
        self._idle = keep
        if keep:
            oldest = min(used for _, _, used in keep)
            delay = max(0.05, IDLE_MAX - (now - oldest))
            self._reaper = asyncio.get_running_loop().call_later(delay, self._reap)

    def _take_idle(self) -> _Conn | None:
        # Asterisk closes a kept-alive session after 15 s idle (http.conf
        # session_keep_alive): older connections are dropped, not risked.
        now = time.monotonic()
        while self._idle:
            reader, writer, used = self._idle.pop()
            if now - used < IDLE_MAX and not reader.at_eof() and not writer.is_closing():
                return reader, writer
            writer.close()
        return None

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> tuple[int, str, bool]:
        try:
            status_line = await reader.readline()
        except ConnectionResetError:
            raise _Unread() from None
        if not status_line:
            raise _Unread()
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise ValueError("not an HTTP response")
        status = int(parts[1])
        length = 0
        keep = parts[0] == b"HTTP/1.1"
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            key = name.strip().lower()
            if key == b"content-length":
                length = int(value.strip())
            elif key == b"connection":
                keep = value.strip().lower() == b"keep-alive" or (
                    keep and value.strip().lower() != b"close"
                )
            elif key == b"transfer-encoding":
                raise ValueError("chunked ARI responses are not expected")
        body = await reader.readexactly(length) if length else b""
        return status, body.decode("utf-8", "replace"), keep

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            self._reaper = None
        while self._idle:
            self._idle.pop()[1].close()


class _Unread(EOFError):
    """Closed before a byte of the answer."""


def _describe(err: BaseException) -> str:
    text = str(err)
    # Connection errors may name the address, never credentials: safe to show.
    return f"{type(err).__name__}{': ' + text if text else ''}"
