"""The XEP-0114 component connection: the gateway's only I/O.

Connects to the XMPP server's component port, authenticates with the shared secret
(`<handshake>` = hex SHA-1 of stream id + secret), then feeds every stanza to the Gateway
and writes what it returns. Reconnects with capped exponential backoff; `connected` is
what /health reports. The secret is never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import xml.etree.ElementTree as ET
from dataclasses import KW_ONLY, dataclass, field

from callctl.daemon.logfmt import kv
from callctl.xmppgw.gateway import Gateway
from callctl.xmppgw.xml import NS_COMPONENT, NS_STREAM, StreamError, StreamParser, q, serialise

log = logging.getLogger("callctl.xmppgw")

HANDSHAKE_TIMEOUT = 10.0
EXPIRE_EVERY = 5.0
KEEPALIVE_EVERY = 60.0  # whitespace ping, so an idle stream is not cut by the server


@dataclass(frozen=True)
class ComponentTarget:
    host: str
    port: int
    secret: str

    def __repr__(self) -> str:  # the secret stays out of logs and tracebacks
        return f"ComponentTarget(host={self.host!r}, port={self.port})"


def handshake_digest(stream_id: str, secret: str) -> str:
    return hashlib.sha1((stream_id + secret).encode()).hexdigest()


@dataclass(eq=False, repr=False)  # equal only to itself; no fields in repr (credentials)
class Component:
    gateway: Gateway
    target: ComponentTarget
    _: KW_ONLY
    backoff_base: float = 0.5
    backoff_cap: float = 10.0
    connected: bool = field(default=False, init=False)
    ready: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    _writer: asyncio.StreamWriter | None = field(default=None, init=False)

    async def run(self) -> None:
        """Serve until cancelled, reconnecting after any failure."""
        failures = 0
        while True:
            try:
                await self._session()
                failures = 0
            except (OSError, StreamError, TimeoutError, asyncio.IncompleteReadError) as err:
                failures += 1
                log.warning(
                    kv(
                        "xmppgw.disconnected",
                        server=f"{self.target.host}:{self.target.port}",
                        error=str(err) or type(err).__name__,
                    )
                )
            finally:
                self.connected = False
                self.ready.clear()
                await self._close_writer()
            delay = min(self.backoff_cap, self.backoff_base * 2 ** min(failures, 10))
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        # asyncio.timeout, not wait_for: 3.11's wait_for may drop a cancel that arrives as
        # the awaited step completes, and the reconnect loop would then never stop.
        async with asyncio.timeout(HANDSHAKE_TIMEOUT):
            reader, writer = await asyncio.open_connection(self.target.host, self.target.port)
        self._writer = writer
        parser = StreamParser()
        domain = self.gateway.domain
        writer.write(
            (
                "<?xml version='1.0'?><stream:stream xmlns:stream='" + NS_STREAM + "' "
                f"xmlns='{NS_COMPONENT}' to='{domain}'>"
            ).encode()
        )
        await writer.drain()
        async with asyncio.timeout(HANDSHAKE_TIMEOUT):
            await self._handshake(reader, writer, parser)
        self.connected = True
        self.ready.set()
        log.info(kv("xmppgw.connected", domain=domain))
        ticker = asyncio.create_task(self._tick())
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    raise StreamError("the server closed the connection")
                for elem in parser.feed(data):
                    self.send(*self._handle(elem))
                await writer.drain()
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker

    async def _handshake(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, parser: StreamParser
    ) -> None:
        sent = False
        while True:
            data = await reader.read(65536)
            if not data:
                raise StreamError("the server closed the connection during the handshake")
            stanzas = parser.feed(data)
            if parser.header is not None and not sent:
                stream_id = parser.header.get("id", "")
                if not stream_id:
                    raise StreamError("the server's stream header has no id")
                digest = handshake_digest(stream_id, self.target.secret)
                writer.write(f"<handshake>{digest}</handshake>".encode())
                await writer.drain()
                sent = True
            for elem in stanzas:
                if elem.tag == q(NS_COMPONENT, "handshake"):
                    return
                raise StreamError(f"unexpected {elem.tag} before the handshake")

    def _handle(self, elem: ET.Element) -> list[ET.Element]:
        """One stanza through the gateway. A stanza that trips a bug is dropped and logged:
        one client's odd stanza must not end every call's signalling (or the daemon)."""
        try:
            return self.gateway.handle(elem)
        except Exception as err:
            log.exception(kv("xmppgw.stanza_failed", tag=elem.tag[:80], error=type(err).__name__))
            return []

    def send(self, *stanzas: ET.Element) -> None:
        writer = self._writer
        if writer is None or not self.connected:
            return
        for elem in stanzas:
            writer.write(serialise(elem).encode())

    async def _tick(self) -> None:
        waited = 0.0
        while True:
            await asyncio.sleep(EXPIRE_EVERY)
            self.gateway.expire()
            waited += EXPIRE_EVERY
            if waited >= KEEPALIVE_EVERY and self._writer is not None:
                self._writer.write(b" ")
                waited = 0.0

    async def _close_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        with contextlib.suppress(OSError, RuntimeError):
            writer.write(b"</stream:stream>")
            writer.close()
            async with asyncio.timeout(2.0):
                await writer.wait_closed()
