"""ARI REST over a small pool of kept-alive HTTP/1.1 connections.

Every call costs about ten REST requests; through aiohttp's client each one took ~0.5 ms of
CPU here, which capped the daemon's calls per second well below the dialplan's. ARI answers
are small JSON bodies with a Content-Length, so a plain request/response exchange on a reused
connection does the same work for a fraction of the cost. Errors map exactly as in
callctl.ari (same exception types, no credential ever in a message); the events WebSocket
stays on aiohttp.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from callctl.ari import AriClient, AriCredentials, AriUnavailable, _basic_auth, _clean_params

JSON = dict[str, Any]
_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]
IDLE_MAX = 5.0  # seconds a connection may sit idle before it is not reused


class FastAriClient(AriClient):
    def __init__(
        self, credentials: AriCredentials, *, request_timeout: float = 10.0, pool_size: int = 16
    ) -> None:
        super().__init__(credentials, request_timeout=request_timeout)
        parts = urlsplit(credentials.base)
        if parts.scheme != "http":
            raise ValueError("FastAriClient speaks plain HTTP only (ARI on loopback)")
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._prefix = parts.path.rstrip("/")
        self._auth = _basic_auth(credentials.user, credentials.password)
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self._pool_size = pool_size
        self._request_timeout = request_timeout

    async def close(self) -> None:
        while self._idle:
            self._idle.pop()[1].close()
        await super().close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, object | None] | None = None,
        body: JSON | None = None,
    ) -> Any:
        where = f"{method} {path}"
        query = urlencode(_clean_params(params or {}))
        target = self._prefix + path + ("?" + query if query else "")
        payload = json.dumps(body).encode() if body is not None else b""
        head = (
            f"{method} {target} HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n"
            f"Authorization: {self._auth}\r\nContent-Length: {len(payload)}\r\n"
        )
        if body is not None:
            head += "Content-Type: application/json\r\n"
        data = head.encode("latin-1") + b"\r\n" + payload
        try:
            status, text = await asyncio.wait_for(self._exchange(data), self._request_timeout)
        except (OSError, EOFError, ValueError, TimeoutError, asyncio.IncompleteReadError) as err:
            raise AriUnavailable(
                f"cannot reach ARI at {self.credentials.base} ({where}): {type(err).__name__}",
                hint="is Asterisk running, with http.conf and ari.conf enabled?",
            ) from None
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

    async def _exchange(self, data: bytes) -> tuple[int, str]:
        """One request on an idle connection (or a new one). Never re-sent: a request that
        fails after it was written may have run, as with any lost connection."""
        conn = self._take_idle() or await asyncio.open_connection(self._host, self._port)
        reader, writer = conn
        try:
            writer.write(data)
            status_line = await reader.readline()
            if not status_line:
                raise EOFError("connection closed")
            status, text, keep = await self._read_rest(status_line, reader)
        except BaseException:
            writer.close()
            raise
        if keep and len(self._idle) < self._pool_size:
            self._idle.append((reader, writer, time.monotonic()))
        else:
            writer.close()
        return status, text

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
    async def _read_rest(status_line: bytes, reader: asyncio.StreamReader) -> tuple[int, str, bool]:
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
