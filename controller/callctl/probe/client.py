"""The builtin probe client: slixmpp for XMPP, aioice for ICE, PCMU packets for audio.

One call: log in, offer audio to the number JID, wait for the answer, connect ICE, send a
second of PCMU and wait for it to come back (the demo number echoes; a real phone's audio,
or its ringback/silence frames, count as well), hang up. Every step is marked on a Timeline;
the first step that fails ends the call, which is then hung up cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aioice import Candidate as IceCandidate
from aioice import Connection
from aioice.candidate import candidate_foundation, candidate_priority
from aioice.ice import StunProtocol
from slixmpp import ClientXMPP
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from callctl.probe import jingle
from callctl.probe.timeline import Timeline

SocketFactory = Callable[[], socket.socket]
PCMU_SILENCE = b"\xff" * 160  # 20 ms at 8 kHz


@dataclass(frozen=True)
class CallTarget:
    server: tuple[str, int]  # c2s host, port (plain or STARTTLS, as the server offers)
    jid: str  # the probe's account (bare)
    password: str
    to: str  # the number JID
    socket_factory: SocketFactory
    candidate_allowed: Callable[[str], bool]
    plaintext: bool = False  # only for a loopback server without TLS (the sandbox)
    answer_timeout: float = 30.0
    step_timeout: float = 10.0
    audio_seconds: float = 1.0


class _Ice(Connection):
    """aioice with one host candidate per component from `socket_factory` (aioice would take
    every interface's address, and never 127/8)."""

    def __init__(self, socket_factory: SocketFactory) -> None:
        super().__init__(ice_controlling=True, components=2, use_ipv6=False)
        self._factory = socket_factory

    async def get_component_candidates(
        self, component: int, addresses: list[str], timeout: int = 5
    ) -> list[IceCandidate]:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_datagram_endpoint(
            lambda: StunProtocol(self), sock=self._factory()
        )
        host, port = protocol.transport.get_extra_info("sockname")[:2]
        protocol.local_candidate = IceCandidate(
            foundation=candidate_foundation("host", "udp", host),
            component=component,
            transport="udp",
            priority=candidate_priority(component, "host"),
            host=host,
            port=port,
            type="host",
        )
        self._protocols.append(protocol)
        return [protocol.local_candidate]


class _Client(ClientXMPP):
    def __init__(self, jid: str, password: str, plaintext: bool) -> None:
        config = {"feature_mechanisms": {"unencrypted_plain": plaintext}}
        super().__init__(jid, password, plugin_config=config)
        if plaintext:
            self.enable_starttls = False
            self.enable_direct_tls = False
            self.enable_plaintext = True
        self.logged_in = asyncio.Event()
        self.login_error = ""
        self.inbox: asyncio.Queue[tuple[str, jingle.Incoming]] = asyncio.Queue()
        self.add_event_handler("session_start", self._started)
        self.add_event_handler("failed_all_auth", self._auth_failed)
        self.add_event_handler("connection_failed", self._conn_failed)
        xpath = f"{{jabber:client}}iq/{jingle.q(jingle.NS_JINGLE, 'jingle')}"
        self.register_handler(Callback("probe-jingle", MatchXPath(xpath), self._on_jingle))

    async def _started(self, _event: object) -> None:
        self.send_presence()
        self.logged_in.set()

    def _auth_failed(self, _event: object) -> None:
        self.login_error = "the server refused the probe account's password"
        self.logged_in.set()

    def _conn_failed(self, event: object) -> None:
        self.login_error = f"cannot connect to the XMPP server: {event}"
        self.logged_in.set()

    def _on_jingle(self, iq: Any) -> None:
        if iq["type"] != "set":
            return
        elem = iq.xml.find(jingle.q(jingle.NS_JINGLE, "jingle"))
        iq.reply(clear=True).send()  # acknowledge every Jingle IQ, as XEP-0166 asks
        self.inbox.put_nowait((str(iq["from"]), jingle.parse(elem)))


def _bare(jid: str) -> str:
    return jid.split("/", 1)[0].lower()


def _rtp(seq: int) -> bytes:
    # V=2, PT 0 (PCMU), 20 ms of samples per packet.
    return struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, seq * 160, 0x0BE0BE) + PCMU_SILENCE


class ProbeCall:
    """One probe call against `target`, recorded on `timeline`."""

    def __init__(self, target: CallTarget, timeline: Timeline) -> None:
        self.t = target
        self.timeline = timeline
        self.sid = secrets.token_hex(8)
        self.remote_ufrag = ""
        self.remote_pwd = ""
        self.remote: list[jingle.Candidate] = []
        self.fingerprint = False
        self.terminated = ""
        self._t0 = 0.0

    def _now(self) -> float:
        return asyncio.get_running_loop().time() - self._t0

    def _mark(self, event: str) -> None:
        self.timeline.mark(event, self._now())

    async def run(self) -> None:
        self._t0 = asyncio.get_running_loop().time()
        resource = f"probe-{secrets.token_hex(3)}"
        client = _Client(f"{self.t.jid}/{resource}", self.t.password, self.t.plaintext)
        ice = _Ice(self.t.socket_factory)
        try:
            await self._call(client, ice)
        finally:
            await ice.close()
            if client.is_connected():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.disconnect(wait=1.0), 5.0)

    async def _call(self, client: _Client, ice: _Ice) -> None:
        t = self.t
        client.connect(host=t.server[0], port=t.server[1])
        try:
            await asyncio.wait_for(client.logged_in.wait(), t.step_timeout)
        except TimeoutError:
            client.abort()
            return self.timeline.fail(f"no XMPP login within {t.step_timeout:g} s")
        if client.login_error:
            return self.timeline.fail(client.login_error)
        self._mark("login")
        try:
            await ice.gather_candidates()
        except OSError as exc:  # e.g. setns() into the sandbox's namespace without root
            why = "; the sandbox's namespace needs root" if exc.errno in (1, 13) else ""
            return self.timeline.fail(f"cannot open the media sockets: {exc}{why}")
        local = [
            jingle.Candidate(c.component, c.foundation, c.host, c.port, c.priority)
            for c in ice.local_candidates
        ]
        iq = client.make_iq_set(ito=t.to)
        iq.append(
            jingle.offer(
                self.sid, str(client.boundjid.full), ice.local_username, ice.local_password, local
            )
        )
        try:
            await iq.send(timeout=t.step_timeout)  # type: ignore[no-untyped-call]
        except IqError as exc:
            cond = exc.iq["error"]["condition"]
            return self.timeline.fail(f"{t.to} refused the session-initiate: {cond}")
        except IqTimeout:
            return self.timeline.fail(
                f"no answer to the session-initiate within {t.step_timeout:g} s"
            )
        self._mark("session-initiate")
        if not await self._wait_answer(client):
            return await self._hangup(client, "cancel")
        media = asyncio.ensure_future(self._media(client, ice))
        await media
        await self._hangup(client, "success")

    async def _next(self, client: _Client, timeout: float) -> jingle.Incoming | None:
        """The next Jingle message of this session from the callee; None on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (left := deadline - loop.time()) > 0:
            try:
                sender, msg = await asyncio.wait_for(client.inbox.get(), left)
            except TimeoutError:
                return None
            if msg.sid != self.sid or _bare(sender) != _bare(self.t.to):
                continue
            self._absorb(msg)
            return msg
        return None

    def _absorb(self, msg: jingle.Incoming) -> None:
        if msg.ufrag:
            self.remote_ufrag, self.remote_pwd = msg.ufrag, msg.pwd
        self.remote += [c for c in msg.candidates if self.t.candidate_allowed(c.ip)]
        self.fingerprint = self.fingerprint or msg.fingerprint
        if msg.ringing:
            self._mark("ringing")
        if msg.action == "session-terminate":
            self.terminated = msg.reason or "no reason given"

    async def _wait_answer(self, client: _Client) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.t.answer_timeout
        while True:
            msg = await self._next(client, deadline - loop.time())
            if msg is None:
                rang = " (it rang)" if "ringing" in self.timeline.times else ""
                self.timeline.fail(f"not answered within {self.t.answer_timeout:g} s{rang}")
                return False
            if self.terminated:
                self.timeline.fail(
                    f"the gateway ended the call before the answer: {self.terminated}"
                )
                return False
            if msg.action == "session-accept":
                self._mark("accept")
                return True

    async def _media(self, client: _Client, ice: _Ice) -> None:
        t = self.t
        # Candidates that trickle in after the answer keep arriving while ICE runs.
        listener = asyncio.ensure_future(self._keep_reading(client, ice))
        try:
            if not self.remote_ufrag:
                self.timeline.fail("the answer carried no ICE credentials")
                return
            ice.remote_username, ice.remote_password = self.remote_ufrag, self.remote_pwd
            for c in self.remote:
                await ice.add_remote_candidate(_to_aioice(c))
            try:
                await asyncio.wait_for(ice.connect(), t.step_timeout)
            except (TimeoutError, ConnectionError) as exc:
                seen = ", ".join(f"{c.ip}:{c.port}/{c.component}" for c in self.remote) or "none"
                self.timeline.fail(f"ICE did not connect ({exc or 'timeout'}; candidates: {seen})")
                return
            self._mark("ice")
            self.timeline.skip(
                "dtls",
                "the answer carried a fingerprint, but the builtin client offers plain RTP"
                if self.fingerprint
                else "not negotiated (the builtin client offers plain RTP)",
            )
            await self._audio(ice)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def _keep_reading(self, client: _Client, ice: _Ice) -> None:
        while True:
            msg = await self._next(client, 3600)
            if msg is not None:
                for c in msg.candidates:
                    if self.t.candidate_allowed(c.ip):
                        await ice.add_remote_candidate(_to_aioice(c))

    async def _audio(self, ice: _Ice) -> None:
        received = asyncio.Event()

        async def receive() -> None:
            while True:
                data, component = await ice.recvfrom()
                if component == 1 and len(data) >= 12 and data[0] >> 6 == 2 and data[1] & 0x7F == 0:
                    self._mark("audio-in")
                    received.set()

        receiver = asyncio.ensure_future(receive())
        try:
            packets = max(1, int(self.t.audio_seconds * 50))
            for seq in range(packets):
                await ice.sendto(_rtp(seq), 1)
                if seq == 0:
                    self._mark("audio-out")
                await asyncio.sleep(0.02)
            try:
                await asyncio.wait_for(received.wait(), self.t.step_timeout)
            except TimeoutError:
                self.timeline.fail(
                    f"no audio came back within {self.t.step_timeout:g} s of the last packet sent"
                )
        finally:
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await receiver

    async def _hangup(self, client: _Client, reason: str) -> None:
        if self.terminated:
            if not self.timeline.error:
                self.timeline.fail(f"the gateway ended the call: {self.terminated}")
            return
        iq = client.make_iq_set(ito=self.t.to)
        iq.append(jingle.terminate(self.sid, reason))
        try:
            await iq.send(timeout=self.t.step_timeout)  # type: ignore[no-untyped-call]
        except (IqError, IqTimeout) as exc:
            return self.timeline.fail(f"the session-terminate was not acknowledged: {exc}")
        if reason == "success":
            self._mark("hangup")


def _to_aioice(c: jingle.Candidate) -> IceCandidate:
    return IceCandidate(
        foundation=c.foundation,
        component=c.component,
        transport=c.protocol,
        priority=c.priority,
        host=c.ip,
        port=c.port,
        type=c.type,
    )
