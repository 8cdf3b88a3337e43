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
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aioice import Candidate as IceCandidate
from aioice import Connection
from aioice.ice import StunProtocol
from slixmpp import ClientXMPP
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from callctl.probe import jingle
from callctl.probe.dtls import Certificate
from callctl.probe.ice import host_candidate, to_aioice
from callctl.probe.media import MediaSession
from callctl.probe.optional import use_optional
from callctl.probe.timeline import Timeline

SocketFactory = Callable[[], socket.socket]


@dataclass(frozen=True)
class CallTarget:
    server: tuple[str, int]  # c2s host, port (plain or STARTTLS, as the server offers)
    jid: str  # the probe's account (bare)
    password: str
    to: str  # the number JID
    socket_factory: SocketFactory
    candidate_allowed: Callable[[str], bool]
    plaintext: bool = False  # only for a loopback server without TLS (the sandbox)
    dtls: str = "auto"  # auto: when the number JID's disco#info lists DTLS; on; off
    jmi: str = "auto"  # XEP-0353 propose first: auto (when advertised, as Conversations), on, off
    answer_timeout: float = 30.0
    step_timeout: float = 10.0
    audio_seconds: float = 1.0


class _Ice(Connection):
    """aioice with one host candidate per component from `socket_factory` (aioice would take
    every interface's address, and never 127/8)."""

    def __init__(self, socket_factory: SocketFactory, components: int) -> None:
        super().__init__(ice_controlling=True, components=components, use_ipv6=False)
        self._factory = socket_factory

    async def get_component_candidates(
        self, component: int, addresses: list[str], timeout: int = 5
    ) -> list[IceCandidate]:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_datagram_endpoint(
            lambda: StunProtocol(self), sock=self._factory()
        )
        host, port = protocol.transport.get_extra_info("sockname")[:2]
        protocol.local_candidate = host_candidate(component, host, port)
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
        self.jmi_inbox: asyncio.Queue[tuple[str, str, str]] = asyncio.Queue()
        for verb in ("proceed", "ringing", "reject", "retract", "finish"):
            path = f"{{jabber:client}}message/{jingle.q(jingle.NS_JMI, verb)}"
            self.register_handler(Callback(f"probe-jmi-{verb}", MatchXPath(path), self._on_jmi))

    async def _started(self, _event: object) -> None:
        self.send_presence()
        self.logged_in.set()

    def _auth_failed(self, _event: object) -> None:
        self.login_error = "the server refused the probe account's password"
        self.logged_in.set()

    def _conn_failed(self, event: object) -> None:
        self.login_error = f"cannot connect to the XMPP server: {event}"
        self.logged_in.set()

    def _on_jmi(self, msg: Any) -> None:
        found = _jmi_verb(msg)
        if found is not None:
            self.jmi_inbox.put_nowait((str(msg["from"]), *found))

    def _on_jingle(self, iq: Any) -> None:
        if iq["type"] != "set":
            return
        elem = iq.xml.find(jingle.q(jingle.NS_JINGLE, "jingle"))
        iq.reply(clear=True).send()  # acknowledge every Jingle IQ, as XEP-0166 asks
        self.inbox.put_nowait((str(iq["from"]), jingle.parse(elem)))


def _jmi_verb(msg: Any) -> tuple[str, str] | None:
    for child in msg.xml:
        if child.tag.startswith(f"{{{jingle.NS_JMI}}}"):
            return child.tag.split("}")[1], child.get("id", "")
    return None


def _bare(jid: str) -> str:
    return jid.split("/", 1)[0].lower()


class ProbeCall:
    """One probe call against `target`, recorded on `timeline`."""

    def __init__(self, target: CallTarget, timeline: Timeline) -> None:
        self.t = target
        self.timeline = timeline
        self.sid = secrets.token_hex(8)
        self.remote_ufrag = ""
        self.remote_pwd = ""
        self.remote: list[jingle.Candidate] = []
        self.remote_fingerprint = ""
        self.remote_setup = ""
        self.certificate: Certificate | None = None  # set when DTLS is offered
        self.terminated = ""
        self._t0 = 0.0
        self._ice: _Ice | None = None
        self.peer = target.to  # where the session goes: the number JID, or who proceeded

    def _now(self) -> float:
        return asyncio.get_running_loop().time() - self._t0

    def _mark(self, event: str) -> None:
        self.timeline.mark(event, self._now())

    async def run(self) -> None:
        self._t0 = asyncio.get_running_loop().time()
        resource = f"probe-{secrets.token_hex(3)}"
        client = _Client(f"{self.t.jid}/{resource}", self.t.password, self.t.plaintext)
        try:
            await self._call(client)
        finally:
            if self._ice is not None:
                await self._ice.close()
            if client.is_connected():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.disconnect(wait=1.0), 5.0)

    async def _call(self, client: _Client) -> None:
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
        features = await self._discover(client)
        if self._use("dtls", features, jingle.NS_DTLS, "DTLS"):
            self.certificate = Certificate.generate("callctl-probe")
        jmi = self._use("propose", features, jingle.NS_JMI, "Jingle Message Initiation")
        if jmi and not await self._propose(client):
            return None
        # With DTLS the offer is a browser's: rtcp-mux, one component.
        ice = self._ice = _Ice(t.socket_factory, 1 if self.certificate else 2)
        try:
            await ice.gather_candidates()
        except OSError as exc:  # e.g. setns() into the sandbox's namespace without root
            why = "; the sandbox's namespace needs root" if exc.errno in (1, 13) else ""
            return self.timeline.fail(f"cannot open the media sockets: {exc}{why}")
        local = [
            jingle.Candidate(c.component, c.foundation, c.host, c.port, c.priority)
            for c in ice.local_candidates
        ]
        iq = client.make_iq_set(ito=self.peer)
        iq.append(
            jingle.offer(
                self.sid,
                str(client.boundjid.full),
                ice.local_username,
                ice.local_password,
                local,
                fingerprint=self.certificate.fingerprint if self.certificate else "",
            )
        )
        try:
            await iq.send(timeout=t.step_timeout)  # type: ignore[no-untyped-call]
        except IqError as exc:
            cond = exc.iq["error"]["condition"]
            return self.timeline.fail(f"{self.peer} refused the session-initiate: {cond}")
        except IqTimeout:
            return self.timeline.fail(
                f"no answer to the session-initiate within {t.step_timeout:g} s"
            )
        self._mark("session-initiate")
        if not await self._wait_answer(client):
            return await self._hangup(client, "cancel")
        await self._media(client, ice)
        await self._hangup(client, "success")

    async def _discover(self, client: _Client) -> set[str] | None:
        """The callee's disco#info features (None: no answer), as clients ask before a call."""
        if self.t.dtls != "auto" and self.t.jmi != "auto":
            return None
        iq = client.make_iq_get(ito=self.t.to)
        iq.append(ET.Element(jingle.q(jingle.NS_DISCO_INFO, "query")))
        try:
            reply = await iq.send(timeout=self.t.step_timeout)  # type: ignore[no-untyped-call]
        except (IqError, IqTimeout):
            return None
        return jingle.disco_features(reply.xml.find(jingle.q(jingle.NS_DISCO_INFO, "query")))

    def _use(self, event: str, features: set[str] | None, feature: str, what: str) -> bool:
        """Whether to use an optional part (`--dtls`/`--jmi`); a note on the event if not."""
        mode = self.t.dtls if event == "dtls" else self.t.jmi
        return use_optional(self.timeline, event, mode, features, feature, what, self.t.to)

    async def _propose(self, client: _Client) -> bool:
        """XEP-0353: <propose/> to the number JID; the <proceed/> names the full JID that
        takes the session-initiate (the proposal's id is the sid)."""
        msg = client.make_message(mto=self.t.to, mtype="chat")
        propose = ET.SubElement(msg.xml, jingle.q(jingle.NS_JMI, "propose"), {"id": self.sid})
        ET.SubElement(propose, jingle.q(jingle.NS_RTP, "description"), {"media": "audio"})
        msg.send()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.t.step_timeout
        while (left := deadline - loop.time()) > 0:
            try:
                sender, verb, ident = await asyncio.wait_for(client.jmi_inbox.get(), left)
            except TimeoutError:
                break
            if ident != self.sid or _bare(sender) != _bare(self.t.to):
                continue
            if verb == "proceed":
                self.peer = sender
                self._mark("propose")
                return True
            if verb in ("reject", "retract"):
                self.timeline.fail(f"{self.t.to} answered the proposal with <{verb}/>")
                return False
        self.timeline.fail(f"no <proceed/> to the proposal within {self.t.step_timeout:g} s")
        return False

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
        if msg.fingerprint:
            self.remote_fingerprint, self.remote_setup = msg.fingerprint, msg.setup
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
                await ice.add_remote_candidate(to_aioice(c))
            try:
                await asyncio.wait_for(ice.connect(), t.step_timeout)
            except (TimeoutError, ConnectionError) as exc:
                seen = ", ".join(f"{c.ip}:{c.port}/{c.component}" for c in self.remote) or "none"
                self.timeline.fail(f"ICE did not connect ({exc or 'timeout'}; candidates: {seen})")
                return
            self._mark("ice")
            await MediaSession(
                ice,
                self.timeline,
                self._mark,
                self.certificate,
                self.remote_fingerprint,
                self.remote_setup,
                t.step_timeout,
                t.audio_seconds,
            ).run()
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
                        await ice.add_remote_candidate(to_aioice(c))

    async def _hangup(self, client: _Client, reason: str) -> None:
        if self.terminated:
            if not self.timeline.error:
                self.timeline.fail(f"the gateway ended the call: {self.terminated}")
            return
        iq = client.make_iq_set(ito=self.peer)
        iq.append(jingle.terminate(self.sid, reason))
        try:
            await iq.send(timeout=self.t.step_timeout)  # type: ignore[no-untyped-call]
        except (IqError, IqTimeout) as exc:
            return self.timeline.fail(f"the session-terminate was not acknowledged: {exc}")
        if reason == "success":
            self._mark("hangup")
