"""A Jingle audio client for tests: slixmpp for signalling, aioice for ICE-UDP, PCMU RTP.

One `JingleClient` is one XMPP account (full JID). It places calls (`call()`) and answers
calls (`next_incoming()` then `Call.accept()`); a `Call` records every Jingle action sent and
received so tests can assert on the stanzas as well as on ICE and RTP.
Signalling runs in the root namespace over loopback; media sockets come from a factory
(normally the rig namespace), so no media ever uses 127/8.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, cast

from callctl.probe.ice import to_aioice, to_jingle
from slixmpp import ClientXMPP
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.stanza import Iq
from slixmpp.xmlstream import StanzaBase
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from .dtls import RTP_FIRST_BYTES, Certificate, DtlsPeer, is_dtls
from .ice import RigConnection, SocketFactory
from .profiles import Profile
from .rtp import PACKET_INTERVAL, RtpCounter, RtpSender
from .stanzas import NS_JINGLE, PCMU, Content, Fingerprint, Jingle, Transport, q

IQ_TIMEOUT = 5.0
CONNECT_TIMEOUT = 10.0
DTLS_TIMEOUT = 5.0
# JingleClient(dtls=...): no DTLS; DTLS-SRTP (XEP-0320); DTLS with a signalled fingerprint
# that is not the certificate's (the peer must refuse to key media).
DTLS_MODES = (None, "on", "mismatch")


class JingleError(RuntimeError):
    """A signalling step failed (IQ error, timeout, unexpected state)."""


@dataclass
class Record:
    """One Jingle action as seen by this client: `t` is seconds since the call began."""

    t: float
    direction: str  # "in" or "out"
    jingle: Jingle


@dataclass
class Call:
    client: JingleClient
    sid: str
    peer: str
    role: str  # "initiator" or "responder"
    profile: Profile
    ice: RigConnection
    content_name: str = "audio"
    content_creator: str = "initiator"
    components: int = 1
    rtcp_mux: bool = False
    started: float = field(default_factory=time.monotonic)
    records: list[Record] = field(default_factory=list)
    ringing: asyncio.Event = field(default_factory=asyncio.Event)
    accepted: asyncio.Event = field(default_factory=asyncio.Event)
    terminated: asyncio.Event = field(default_factory=asyncio.Event)
    ice_done: asyncio.Event = field(default_factory=asyncio.Event)
    session_initiate: Jingle | None = None  # received (responder side)
    session_accept: Jingle | None = None  # received (initiator side)
    terminate_reason: str = ""
    rejected: str = ""  # why this client refused the session (strict profiles)
    creator_mismatches: list[tuple[str, str, str]] = field(default_factory=list)
    ignored_candidates: list[str] = field(default_factory=list)
    ice_error: str = ""
    ice_completed_at: float | None = None  # monotonic
    accepted_at: float | None = None  # monotonic: session-accept sent or received
    counter: RtpCounter = field(default_factory=RtpCounter)
    component2_packets: int = 0
    sender: RtpSender = field(default_factory=RtpSender)
    # DTLS-SRTP (client dtls mode): the peer's last signalled fingerprint, our association
    # once the roles are known, and what arrived while no SRTP key existed.
    remote_fingerprint: Fingerprint | None = None
    dtls: DtlsPeer | None = None
    dtls_done: asyncio.Event = field(default_factory=asyncio.Event)
    dtls_declined: bool = False  # the peer's answer had no fingerprint: plain RTP
    media_unkeyed: int = 0  # RTP/RTCP received while DTLS was expected but not keyed
    dtls_keyed_at: float | None = None  # monotonic: SRTP keyed (handshake done, check passed)
    first_media_at: float | None = None  # monotonic: first RTP (decrypted, with DTLS) counted
    dtls_unexpected: int = 0  # DTLS received with no DTLS mode at all
    dtls_early: int = 0  # DTLS received before our roles were known (held, as libwebrtc does)
    _early_dtls: list[bytes] = field(default_factory=list)
    _ice_task: asyncio.Task[None] | None = None
    _recv_task: asyncio.Task[None] | None = None
    _dtls_task: asyncio.Task[None] | None = None

    # ---- what tests look at -------------------------------------------------------------

    def received(self, action: str) -> list[Jingle]:
        return [r.jingle for r in self.records if r.direction == "in" and r.jingle.action == action]

    @property
    def ice_connected(self) -> bool:
        return self.ice_completed_at is not None

    @property
    def ice_after_accept(self) -> float | None:
        """Seconds from session-accept to ICE completion (negative: completed before)."""
        if self.ice_completed_at is None or self.accepted_at is None:
            return None
        return self.ice_completed_at - self.accepted_at

    # ---- actions ------------------------------------------------------------------------

    async def accept(self) -> None:
        """Answer an incoming call: session-accept, then trickle our candidates. With
        `fingerprint_in="transport-info"` the transport-info (carrying the fingerprint) goes
        first and the session-accept has none."""
        if self.role != "responder":
            raise JingleError("only the responder accepts")
        trickle_first = self.client.fingerprint_in == "transport-info"
        if trickle_first:
            await self._trickle()
        content = self._local_content(with_candidates=False)
        await self.client.send_jingle(
            self,
            Jingle("session-accept", self.sid, responder=self.client.full_jid, contents=[content]),
        )
        self.accepted_at = time.monotonic()
        self.accepted.set()
        if not trickle_first:
            await self._trickle()
        self._maybe_setup_dtls()
        self._maybe_start_ice()

    async def ring(self) -> None:
        await self.client.send_jingle(self, Jingle("session-info", self.sid, info="ringing"))

    async def hangup(self, reason: str = "success") -> None:
        if not self.terminated.is_set():
            self.terminated.set()
            self.terminate_reason = reason
            with contextlib.suppress(JingleError):
                await self.client.send_jingle(
                    self, Jingle("session-terminate", self.sid, reason=reason)
                )
        await self.close()

    async def wait_ice(self, timeout: float) -> bool:
        """True once ICE completed; False on failure or timeout (see `ice_error`)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.ice_done.wait(), timeout)
        return self.ice_connected

    async def wait_dtls(self, timeout: float = DTLS_TIMEOUT) -> bool:
        """True once SRTP is keyed (handshake done, peer certificate matches its fingerprint)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.dtls_done.wait(), timeout)
        return self.dtls is not None and self.dtls.keyed

    async def send_media(self, packets: int) -> int:
        """Send `packets` PCMU packets paced at 20 ms on the nominated pair; return the count.
        With DTLS they go out as SRTP once keyed (plain RTP if the peer declined DTLS)."""
        if not self.ice_connected:
            raise JingleError(f"cannot send media: ICE not connected ({self.ice_error})")
        dtls = None
        if self.client.dtls and not self.dtls_declined:
            if not await self.wait_dtls():
                why = self.dtls.error if self.dtls else "no DTLS association"
                raise JingleError(f"cannot send media: SRTP not keyed ({why or 'timeout'})")
            dtls = self.dtls
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in range(packets):
            packet = self.sender.next_packet()
            await self.ice.send(dtls.protect(packet) if dtls is not None else packet)
            delay = start + (i + 1) * PACKET_INTERVAL - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        return packets

    async def close(self) -> None:
        for task in (self._ice_task, self._recv_task, self._dtls_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        await self.ice.close()
        self.ice_done.set()

    # ---- internals ----------------------------------------------------------------------

    def _record(self, direction: str, jingle: Jingle) -> None:
        self.records.append(Record(time.monotonic() - self.started, direction, jingle))

    def _local_fingerprints(self, transport_info: bool) -> list[Fingerprint]:
        """Our XEP-0320 fingerprint: in every transport, or (`fingerprint_in="transport-info"`)
        only in transport-info, like a client that trickles it after its offer."""
        client = self.client
        if client.dtls_certificate is None:
            return []
        if client.fingerprint_in == "transport-info" and not transport_info:
            return []
        if client.dtls == "mismatch":
            value = client.decoy_certificate.fingerprint
        else:
            value = client.dtls_certificate.fingerprint
        setup = "actpass" if self.role == "initiator" else client.dtls_setup
        return [Fingerprint("sha-256", setup, value)]

    def _local_content(self, with_candidates: bool) -> Content:
        transport = Transport(
            ufrag=self.ice.local_username,
            pwd=self.ice.local_password,
            ice_options=["renomination"] if self.profile.signal_renomination else [],
            fingerprints=self._local_fingerprints(transport_info=False),
            bare_candidates=self.client.bare_candidates,
        )
        if with_candidates:
            transport.candidates = [to_jingle(c) for c in self.ice.local_candidates]
        return Content(
            creator=self.content_creator,
            name=self.content_name,
            payloads=[PCMU],
            rtcp_mux=self.rtcp_mux,
            transport=transport,
        )

    async def _trickle(self) -> None:
        """Send our candidates in transport-info: per component (Firefox) or all at once."""
        cands = [to_jingle(c) for c in self.ice.local_candidates]
        groups = (
            [
                [c for c in cands if c.component == comp]
                for comp in sorted({c.component for c in cands})
            ]
            if self.profile.trickle_per_component
            else [cands]
        )
        for group in groups:
            content = Content(
                creator=self.content_creator,
                name=self.content_name,
                media=None,
                transport=Transport(
                    self.ice.local_username,
                    self.ice.local_password,
                    group,
                    fingerprints=self._local_fingerprints(transport_info=True),
                    bare_candidates=self.client.bare_candidates,
                ),
            )
            await self.client.send_jingle(
                self, Jingle("transport-info", self.sid, contents=[content])
            )

    def _follow_answer_mux(self, accept: Jingle) -> None:
        """An answer with <rtcp-mux/> to an offer with it: RTCP rides on component 1, so stop
        expecting component 2 (what Firefox does; its component 2 candidates were already
        trickled). ICE has not started yet: the initiator waits for the accept."""
        if self.components == 1 or not self.rtcp_mux or self._ice_task is not None:
            return
        if any(c.rtcp_mux for c in accept.contents):
            self.components = 1
            self.ice.use_components(1)

    def _content_ok(self, jingle: Jingle) -> bool:
        """Check each content's (creator, name); strict profiles refuse a mismatch."""
        ok = True
        for content in jingle.contents:
            if (content.creator, content.name) != (self.content_creator, self.content_name):
                self.creator_mismatches.append((jingle.action, content.creator, content.name))
                ok = False
        return ok or not self.profile.strict_creator

    def _apply_transport(self, jingle: Jingle) -> None:
        for content in jingle.contents:
            trans = content.transport
            if trans is None:
                continue
            if trans.ufrag and trans.pwd:
                self.ice.remote_username, self.ice.remote_password = trans.ufrag, trans.pwd
            if trans.fingerprints:
                self.remote_fingerprint = trans.fingerprints[0]
            for cand in trans.candidates:
                if not self.client.candidate_allowed(cand.ip) or cand.component > self.components:
                    # Never send checks outside the rig network (or to components we lack).
                    self.ignored_candidates.append(f"{cand.ip}:{cand.port}/{cand.component}")
                    continue
                self.client.spawn(self.ice.add_remote_candidate(to_aioice(cand)))
        self._maybe_setup_dtls()
        self._maybe_start_ice()

    def _maybe_setup_dtls(self) -> None:
        """Create the DTLS association once both roles are known: for our offer when the
        answer arrived (its setup decides; no fingerprint means plain RTP), for an offer we
        answer right away (`dtls_setup`; Asterisk offers actpass)."""
        cert = self.client.dtls_certificate
        if cert is None or self.dtls is not None or self.dtls_declined:
            return
        if self.role == "initiator":
            if not self.accepted.is_set():
                return
            remote = self.remote_fingerprint
            if remote is None:
                self.dtls_declined = True
                self.dtls_done.set()
                return
            # An answer says active (we are passive) or passive (we are active); a wrong
            # 'actpass' answer leaves the active role to the answerer, as res_rtp_asterisk does.
            active = remote.setup == "passive"
        else:
            remote = self.remote_fingerprint
            if remote is None:
                # An offer without a fingerprint: once we answer, the call is plain RTP.
                if self.accepted.is_set():
                    self.dtls_declined = True
                    self.dtls_done.set()
                return
            active = self.client.dtls_setup == "active"
        self.dtls = DtlsPeer(cert, active=active, remote=remote)
        for data in self._early_dtls:
            self.dtls.feed(data)
        self._early_dtls.clear()
        self._dtls_task = asyncio.get_running_loop().create_task(self._run_dtls())

    async def _run_dtls(self) -> None:
        """Start the handshake once ICE is connected and drive DTLS retransmissions."""
        dtls = self.dtls
        assert dtls is not None
        await self.ice_done.wait()
        if not self.ice_connected:
            return
        dtls.start()
        await self._dtls_flush()
        while not dtls.handshake_done and not dtls.error:
            left = dtls.timeout()
            if left is not None and left <= 0:
                dtls.handle_timeout()
                await self._dtls_flush()
            await asyncio.sleep(0.02)
        self._dtls_finished()

    def _dtls_finished(self) -> None:
        if self.dtls is not None and self.dtls.keyed and self.dtls_keyed_at is None:
            self.dtls_keyed_at = time.monotonic()
        self.dtls_done.set()

    async def _dtls_flush(self) -> None:
        if self.dtls is None:
            return
        out = self.dtls.outgoing()
        if not out:
            return
        await self.ice_done.wait()
        if not self.ice_connected:
            return
        for data in out:
            with contextlib.suppress(ConnectionError):
                await self.ice.send(data)
        if self.dtls.handshake_done:
            self._dtls_finished()

    def _maybe_start_ice(self) -> None:
        # Checks start once the session is accepted (sent or received) and the peer's
        # credentials are known; `early_ice` lets an initiator start before the accept.
        if self._ice_task is not None or not self.ice.remote_username:
            return
        if not self.accepted.is_set() and (self.role == "responder" or not self.profile.early_ice):
            return
        self._ice_task = asyncio.get_running_loop().create_task(self._run_ice())

    async def _run_ice(self) -> None:
        try:
            await self.ice.connect()
            self.ice_completed_at = time.monotonic()
        except (ConnectionError, AssertionError) as exc:
            self.ice_error = str(exc) or type(exc).__name__
        finally:
            self.ice_done.set()

    async def _receive(self) -> None:
        while (item := await self.ice.next_datagram()) is not None:
            data, component = item
            if component != 1:
                self.component2_packets += 1
            elif is_dtls(data):
                if self.dtls is None:
                    # The peer's ClientHello can overtake its answer (media does not go
                    # through the XMPP server): keep it until the answer says our role.
                    if self.client.dtls_certificate is not None and not self.dtls_declined:
                        self.dtls_early += 1
                        self._early_dtls.append(data)
                    else:
                        self.dtls_unexpected += 1
                    continue
                self.dtls.feed(data)
                self.client.spawn(self._dtls_flush())
            elif self.dtls is not None and data and data[0] in RTP_FIRST_BYTES:
                if not self.dtls.keyed:
                    self.media_unkeyed += 1
                    continue
                plain = self.dtls.unprotect(data)
                if plain is not None:
                    self._count(plain)
            else:
                self._count(data)

    def _count(self, data: bytes) -> None:
        before = self.counter.pcmu
        self.counter.feed(data)
        if self.first_media_at is None and self.counter.pcmu > before:
            self.first_media_at = time.monotonic()


class JingleClient(ClientXMPP):
    """One XMPP account that speaks just enough Jingle for the rig."""

    def __init__(
        self,
        jid: str,
        password: str,
        *,
        server: tuple[str, int],
        profile: Profile,
        socket_factory: SocketFactory,
        candidate_allowed: Callable[[str], bool],
        host_candidates: int = 1,
        nominate_host: int | None = None,
        dtls: str | None = None,
        dtls_setup: str = "active",
        fingerprint_in: str = "content",
        bundle: bool = False,
        bare_candidates: bool = False,
        ice_factory: Callable[..., RigConnection] = RigConnection,
    ) -> None:
        if dtls not in DTLS_MODES or dtls_setup not in ("active", "passive"):
            raise ValueError(f"dtls={dtls!r}, dtls_setup={dtls_setup!r}")
        if fingerprint_in not in ("content", "transport-info"):
            raise ValueError(f"fingerprint_in={fingerprint_in!r}")
        super().__init__(
            jid, password, plugin_config={"feature_mechanisms": {"unencrypted_plain": True}}
        )
        # Test server without TLS (prosody is configured for it, loopback only).
        self.enable_starttls = False
        self.enable_direct_tls = False
        self.enable_plaintext = True
        self.rig_server, self.profile = server, profile
        self.socket_factory, self.candidate_allowed = socket_factory, candidate_allowed
        # Several host candidates per component, nominations only on one: see RigConnection.
        self.host_candidates, self.nominate_host = host_candidates, nominate_host
        # DTLS mode (XEP-0320): one certificate per client; `mismatch` signals the decoy's
        # fingerprint while presenting the real certificate. `dtls_setup` is the role taken
        # when answering an actpass offer.
        self.dtls, self.dtls_setup, self.fingerprint_in = dtls, dtls_setup, fingerprint_in
        self.dtls_certificate = Certificate.generate("rig-client") if dtls else None
        self.decoy_certificate = Certificate.generate("rig-decoy")
        # What real WebRTC clients send: a XEP-0338 BUNDLE group in the offer, candidates
        # without generation/id/network.
        self.bundle = bundle
        self.bare_candidates = bare_candidates
        # Another RigConnection (the NAT rig's gathers srflx/relay candidates too).
        self.ice_factory = ice_factory
        self.calls: dict[str, Call] = {}
        self.incoming: asyncio.Queue[Call] = asyncio.Queue()
        self.unknown_sessions: list[Jingle] = []
        self._rig_logged_in = asyncio.Event()
        self._rig_tasks: set[asyncio.Task[None]] = set()
        self.add_event_handler("session_start", self._on_session_start)
        self.register_handler(
            Callback(
                "jingle", MatchXPath(f"{{jabber:client}}iq/{q(NS_JINGLE, 'jingle')}"), self._on_iq
            )
        )

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run `coro` in a task that is kept referenced until it ends (asyncio keeps only weak
        references to tasks)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._rig_tasks.add(task)
        task.add_done_callback(self._rig_tasks.discard)

    @property
    def full_jid(self) -> str:
        return str(self.boundjid.full)

    async def start(self, timeout: float = CONNECT_TIMEOUT) -> None:
        self.connect(host=self.rig_server[0], port=self.rig_server[1])
        try:
            await asyncio.wait_for(self._rig_logged_in.wait(), timeout)
        except TimeoutError as exc:
            self.abort()
            raise JingleError(f"{self.boundjid} did not log in within {timeout} s") from exc

    async def stop(self) -> None:
        for call in list(self.calls.values()):
            await call.close()
        if self.is_connected():
            await asyncio.wait_for(self.disconnect(wait=1.0), 5.0)

    async def _on_session_start(self, _event: object) -> None:
        self.send_presence()
        self._rig_logged_in.set()

    async def is_online(self, to: str, timeout: float = IQ_TIMEOUT) -> bool:
        """True if the resource `to` answers a disco#info query (res_xmpp answers those; it
        ignores XEP-0199 pings). prosody itself answers service-unavailable for an offline
        full JID, so only an answer from `to` that is not that error counts."""
        iq = self.make_iq_get(ito=to)
        iq.append(ET.Element("{http://jabber.org/protocol/disco#info}query"))
        try:
            await _send(iq, timeout)
        except IqTimeout:
            return False
        except IqError as exc:
            return bool(exc.iq["error"]["condition"] != "service-unavailable")
        return True

    # ---- placing calls -------------------------------------------------------------------

    async def call(self, to: str) -> Call:
        """Send session-initiate to a full JID; returns once the IQ result arrived."""
        call = await self._new_call(
            secrets.token_hex(8), to, "initiator", controlling=True, rtcp_mux=self.profile.rtcp_mux
        )
        content = call._local_content(with_candidates=False)
        groups = [("BUNDLE", [content.name])] if self.bundle else []
        await self.send_jingle(
            call,
            Jingle(
                "session-initiate",
                call.sid,
                initiator=self.full_jid,
                contents=[content],
                groups=groups,
            ),
        )
        await call._trickle()
        return call

    async def next_incoming(self, timeout: float) -> Call:
        try:
            return await asyncio.wait_for(self.incoming.get(), timeout)
        except TimeoutError as exc:
            raise JingleError(f"no incoming call within {timeout} s") from exc

    async def _new_call(
        self, sid: str, peer: str, role: str, controlling: bool, rtcp_mux: bool
    ) -> Call:
        # Without rtcp-mux RTCP needs its own component. An offer may gather both (Firefox);
        # an answer that keeps rtcp-mux needs component 1 only.
        if not rtcp_mux:
            components = 2
        elif role == "responder":
            components = 1
        else:
            components = self.profile.components
        ice = self.ice_factory(
            ice_controlling=controlling,
            components=components,
            socket_factory=self.socket_factory,
            renomination=self.profile.renomination,
            host_candidates=self.host_candidates,
            nominate_host=self.nominate_host,
        )
        await ice.gather_candidates()
        call = Call(
            self, sid, peer, role, self.profile, ice, components=components, rtcp_mux=rtcp_mux
        )
        call._recv_task = asyncio.get_running_loop().create_task(call._receive())
        self.calls[sid] = call
        return call

    async def send_jingle(self, call: Call, jingle: Jingle) -> None:
        iq = self.make_iq_set(ito=call.peer)
        iq.append(jingle.to_element())
        call._record("out", jingle)
        try:
            await _send(iq, IQ_TIMEOUT)
        except IqError as exc:
            raise JingleError(f"{jingle.action} refused: {exc.iq['error']['condition']}") from exc
        except IqTimeout as exc:
            raise JingleError(f"{jingle.action}: no answer within {IQ_TIMEOUT} s") from exc

    # ---- receiving -----------------------------------------------------------------------

    def _on_iq(self, stanza: StanzaBase) -> None:
        iq = cast(Iq, stanza)
        if iq["type"] != "set":
            return
        elem = iq.xml.find(q(NS_JINGLE, "jingle"))
        if elem is None:
            return
        jingle = Jingle.from_element(elem)
        self.spawn(self._handle(iq, jingle))

    async def _handle(self, iq: Iq, jingle: Jingle) -> None:
        call = self.calls.get(jingle.sid)
        if jingle.action == "session-initiate" and call is None:
            await self._incoming(iq, jingle)
            return
        if call is None:
            self.unknown_sessions.append(jingle)
            self._reply_error(iq, "cancel", "item-not-found")
            return
        call._record("in", jingle)
        if jingle.contents and not call._content_ok(jingle):
            call.rejected = f"{jingle.action}: content creator/name does not match the session"
            self._reply_error(iq, "modify", "bad-request")
            await call.hangup("failed-application")
            return
        _answer(_reply(iq))
        if jingle.action == "session-accept":
            call.session_accept = jingle
            call.accepted_at = time.monotonic()
            call._follow_answer_mux(jingle)
            call.accepted.set()
            call._apply_transport(jingle)
        elif jingle.action == "transport-info":
            call._apply_transport(jingle)
        elif jingle.action == "session-info" and jingle.info == "ringing":
            call.ringing.set()
        elif jingle.action == "session-terminate":
            call.terminate_reason = jingle.reason
            call.terminated.set()
            await call.close()

    async def _incoming(self, iq: Iq, jingle: Jingle) -> None:
        peer = str(iq["from"])
        # An answerer can only keep rtcp-mux if the offer has it (libwebrtc's "negotiate"
        # policy); stock chan_motif never offers it (inbound calls use RTP + RTCP), patched
        # chan_motif does (asterisk 0100).
        offered_mux = any(c.rtcp_mux for c in jingle.contents)
        call = await self._new_call(
            jingle.sid,
            peer,
            "responder",
            controlling=False,
            rtcp_mux=self.profile.rtcp_mux and offered_mux,
        )
        call._record("in", jingle)
        call.session_initiate = jingle
        if jingle.contents:
            call.content_name = jingle.contents[0].name
            call.content_creator = "initiator"
        if not call._content_ok(jingle):
            call.rejected = "session-initiate: content creator is not the initiator"
            self._reply_error(iq, "modify", "bad-request")
            await call.close()
            return
        _answer(_reply(iq))
        call._apply_transport(jingle)
        await self.incoming.put(call)

    def _reply_error(self, iq: Iq, etype: str, condition: str) -> None:
        reply = _reply(iq)
        reply["error"]["type"] = etype
        reply["error"]["condition"] = condition
        _answer(reply)


# slixmpp's Iq.send/reply are untyped: keep the ignores in one place.
async def _send(iq: Iq, timeout: float) -> Iq:
    return cast(Iq, await iq.send(timeout=timeout))  # type: ignore[no-untyped-call]


def _reply(iq: Iq) -> Iq:
    return cast(Iq, iq.reply())  # type: ignore[no-untyped-call]


def _answer(reply: Iq) -> None:
    """Send a result/error reply (no response expected)."""
    reply.send()  # type: ignore[no-untyped-call]
