"""The gateway's core: stanzas in, stanzas out, no sockets (component.py does the I/O).

Out: a client's session-initiate to `NUMBER@domain` (or to the bare domain: the caller's
hotline) is relayed to Asterisk from a per-call token JID `c-<token>@domain/relay`.
chan_motif makes that JID's user part the channel's caller ID number and the full JID its
caller ID name; the router asks `resolve_token()` for the real caller and the dialled number.
In: the router dials chan_motif to the token JID that `expect_inbound()` returned; Asterisk's
session-initiate to it is held, the user's devices get a JMI `<propose/>` from
`+CALLER@domain`, and the first device to proceed gets the session (jmi.py).
Every other stanza of a session is relayed both ways with its JIDs rewritten (relay.py).
"""

from __future__ import annotations

import copy
import itertools
import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from callctl.daemon.logfmt import kv
from callctl.xmppgw import disco, jmi, relay
from callctl.xmppgw.jids import (
    GATEWAY_RESOURCE,
    IN,
    OUT,
    Jid,
    caller_jid,
    new_token,
    parse_number,
    parse_token,
    token_jid,
)
from callctl.xmppgw.xml import (
    NS_COMPONENT,
    NS_DISCO_INFO,
    NS_HINTS,
    NS_JINGLE,
    NS_JMI,
    NS_NICK,
    NS_RTP,
    NS_STANZAS,
    q,
    split,
    stanza,
)

log = logging.getLogger("callctl.xmppgw")

NS_JINGLE_ERRORS = "urn:xmpp:jingle:errors:1"
PENDING_TTL = 60.0  # seconds an IQ relayed by the gateway waits for its answer
LINGER = 30.0  # an ended session stays this long, for the last IQ results
# A token nobody used: an inbound target of a sequential ring is dialled only after the ones
# before it rang out, so this outlasts any ring plan.
UNUSED_TTL = 3600.0
PROPOSAL_TTL = 120.0  # a JMI proposal the client never followed with a session-initiate
MAX_AGE = 6 * 3600.0  # a session never ended (a client vanished): forgotten after this
MAX_SID = 128
MAX_NICK = 64


@dataclass(frozen=True)
class GatewayConfig:
    asterisk_jid: str  # res_xmpp's full JID: the only peer allowed to use token JIDs
    domain: str = "gw.localhost"
    dtls: bool = False  # the Motif endpoint offers DTLS-SRTP (advertised in disco)
    max_sessions: int = 1000
    max_sessions_per_user: int = 8


class OutboundCall(NamedTuple):
    """What a `c-` token stands for: the real caller and the number dialled ('' = hotline)."""

    caller: str  # the client's full JID
    number: str


@dataclass
class Pending:
    """An IQ the gateway relayed: where its answer goes (None: swallow it)."""

    expect_from: str
    reply_to: str | None
    reply_from: str
    reply_id: str
    expires: float
    leg: str = ""  # the held session-initiate's token: an error ends it, a result releases


@dataclass
class Leg:
    token: str
    kind: str  # jids.OUT or jids.IN
    relay: str  # the token JID Asterisk talks to
    facing: str  # the JID the client talks to (number JID, full)
    created: float
    user: str = ""  # the client's full JID (inbound: set when a device proceeds)
    number: str = ""  # out: dialled ('' = hotline); in: the caller's number
    sid: str = ""
    proposed: bool = False  # out: the client used JMI first, so it gets <finish/> at the end
    offer: jmi.Offer | None = None  # in: the JMI offer to the user's devices
    target: str = ""  # in: the JID to offer the call to (bare: every device)
    nick: str = ""  # in: the caller's name, where the trunk gave one
    held: list[ET.Element] = field(default_factory=list)  # in: Asterisk's IQs before proceed
    # in: the device acknowledged the session-initiate. Until then Asterisk's later IQs stay
    # held: the gateway acknowledged the session-initiate to Asterisk itself, so chan_motif
    # trickles at once, and a device must not get a transport-info for a session it has not
    # taken yet (XEP-0166: the responder acknowledges the session-initiate first).
    acked: bool = False
    ended_at: float | None = None


class Gateway:
    """One component domain in front of one Asterisk. Not thread-safe: one event loop."""

    def __init__(self, config: GatewayConfig, clock: Callable[[], float] = time.monotonic):
        self.config = config
        self.domain = config.domain
        self.clock = clock
        self.legs: dict[str, Leg] = {}
        self._by_client: dict[tuple[str, str], str] = {}  # (client full JID, sid) -> token
        self._in_by_sid: dict[str, str] = {}  # JMI id (= Asterisk's sid) -> token
        self._proposals: dict[tuple[str, str], tuple[str, float]] = {}  # -> facing, time
        self._pending: dict[str, Pending] = {}
        self._proposed: dict[str, str] = {}  # id of a <propose/> message we sent -> token
        self._ids = itertools.count(1)

    # -- the router's side -------------------------------------------------------------------

    def resolve_token(self, token: str) -> OutboundCall | None:
        leg = self.legs.get(token)
        if leg is None or leg.kind != OUT or not leg.user:
            return None
        return OutboundCall(leg.user, leg.number)

    def resolve_caller(self, caller_name: str) -> OutboundCall | None:
        """The router's view: chan_motif's caller ID name is the token JID of the call."""
        found = parse_token(Jid.parse(caller_name), self.domain)
        if found is None or found[0] != OUT:
            return None
        return self.resolve_token(found[1])

    def expect_inbound(
        self, target: str, caller_number: str | None, caller_name: str | None = None
    ) -> str:
        """Register a call to `target` (a bare JID: all its devices ring through XEP-0353; a
        full JID: that device gets the session-initiate directly) and return the token
        JID for the Motif dial string. The caller's number and name are untrusted trunk data:
        a number that is not E.164 makes the call come from the anonymous JID."""
        token = new_token()
        relay_jid = token_jid(self.domain, IN, token)
        facing_bare = caller_jid(self.domain, caller_number)
        number = facing_bare.partition("@")[0]
        self.legs[token] = Leg(
            token,
            IN,
            relay_jid,
            f"{facing_bare}/{GATEWAY_RESOURCE}",
            self.clock(),
            number=number,
            target=target,
            nick=_clean_nick(caller_name),
        )
        return relay_jid

    # -- stanzas -----------------------------------------------------------------------------

    def handle(self, elem: ET.Element) -> list[ET.Element]:
        """One stanza from the server; returns the stanzas to send, in order."""
        ns, kind = split(elem.tag)
        frm, to = elem.get("from", ""), Jid.parse(elem.get("to", ""))
        if ns != NS_COMPONENT or not frm or to is None or to.domain != self.domain:
            return []
        if kind == "iq":
            return self._iq(elem, frm, to)
        if kind == "message":
            return self._message(elem, frm, to)
        if kind == "presence":
            return self._presence(elem, frm, to)
        return []

    def expire(self) -> None:
        """Forget stale state; call now and then (component.py does, every few seconds)."""
        now = self.clock()
        for key in [k for k, p in self._pending.items() if p.expires < now]:
            del self._pending[key]
        for old in [k for k, (_, t) in self._proposals.items() if now - t > PROPOSAL_TTL]:
            del self._proposals[old]
        for leg in list(self.legs.values()):
            age = now - leg.created
            ended = leg.ended_at is not None and now - leg.ended_at > LINGER
            if ended or (not leg.sid and age > UNUSED_TTL) or age > MAX_AGE:
                self._drop(leg)

    # -- IQs ---------------------------------------------------------------------------------

    def _iq(self, iq: ET.Element, frm: str, to: Jid) -> list[ET.Element]:
        kind = iq.get("type", "")
        if kind in ("result", "error"):
            return self._answer(iq, frm)
        if kind not in ("get", "set"):
            return []
        payload = next(iter(iq), None)
        if payload is None:
            return [_error(iq, "modify", "bad-request")]
        if kind == "get" and payload.tag == q(NS_DISCO_INFO, "query"):
            return self._disco(iq, to, payload)
        if kind == "set" and payload.tag == q(NS_JINGLE, "jingle"):
            token = parse_token(to, self.domain)
            if token is not None:
                return self._from_asterisk(iq, frm, token, payload)
            return self._from_client(iq, frm, to, payload)
        return [_error(iq, "cancel", "service-unavailable")]

    def _disco(self, iq: ET.Element, to: Jid, query: ET.Element) -> list[ET.Element]:
        if to.local and parse_number(to.local) is None:
            return [_error(iq, "cancel", "item-not-found")]
        return [
            _result(iq, disco.info_query(not to.local, self.config.dtls, query.get("node", "")))
        ]

    def _answer(self, iq: ET.Element, frm: str) -> list[ET.Element]:
        pending = self._pending.pop(iq.get("id", ""), None)
        if pending is None or pending.expect_from != frm:
            return []
        out: list[ET.Element] = []
        leg = self.legs.get(pending.leg) if pending.leg else None
        if leg is not None and leg.ended_at is None:
            if iq.get("type") == "error":
                log.info(kv("xmppgw.refused", token=leg.token, device=frm))
                out += self._end_asterisk(leg, "general-error")
            else:
                out += self._release(leg)
        if pending.reply_to is None:
            return out
        reply = stanza(
            "iq",
            {
                "type": iq.get("type", "result"),
                "id": pending.reply_id,
                "from": pending.reply_from,
                "to": pending.reply_to,
            },
        )
        reply.extend(copy.deepcopy(list(iq)))
        return [reply, *out]

    def _from_client(
        self, iq: ET.Element, frm: str, to: Jid, jingle: ET.Element
    ) -> list[ET.Element]:
        action, sid = jingle.get("action", ""), jingle.get("sid", "")
        if action == "session-initiate":
            return self._client_initiate(iq, frm, to, jingle)
        token = self._by_client.get((frm, sid))
        leg = self.legs.get(token or "")
        if leg is None or leg.ended_at is not None:
            return [_unknown_session(iq)]
        out = [self._relay_to_asterisk(iq, leg)]
        if action == "session-terminate":
            out += self._ended(leg, _reason(jingle), by_client=True)
        return out

    def _client_initiate(
        self, iq: ET.Element, frm: str, to: Jid, jingle: ET.Element
    ) -> list[ET.Element]:
        sid, client = jingle.get("sid", ""), Jid.parse(frm)
        number = parse_number(to.local) if to.local else ""
        if number is None or parse_token(to, self.domain) is not None:
            return [_error(iq, "cancel", "item-not-found")]
        if client is None or not client.resource or not _good_sid(sid):
            return [_error(iq, "modify", "bad-request")]
        # chan_motif keys its sessions by sid alone: a sid in use by any call is refused,
        # so one client cannot reach into another's session at Asterisk.
        if (frm, sid) in self._by_client or any(leg.sid == sid for leg in self.legs.values()):
            return [_error(iq, "cancel", "conflict")]
        mine = sum(1 for leg in self.legs.values() if Jid.parse(leg.user) == client)
        if len(self.legs) >= self.config.max_sessions or mine >= self.config.max_sessions_per_user:
            return [_error(iq, "wait", "resource-constraint")]
        token = new_token()
        leg = Leg(token, OUT, token_jid(self.domain, OUT, token), to.full, self.clock())
        leg.user, leg.number, leg.sid = frm, number, sid
        leg.proposed = self._proposals.pop((frm, sid), None) is not None
        self.legs[token] = leg
        self._by_client[(frm, sid)] = token
        log.info(kv("xmppgw.out", token=token, caller=frm, number=number or "(hotline)"))
        return [self._relay_to_asterisk(iq, leg)]

    def _from_asterisk(
        self, iq: ET.Element, frm: str, token: tuple[str, str], jingle: ET.Element
    ) -> list[ET.Element]:
        if frm != self.config.asterisk_jid:
            return [_error(iq, "auth", "forbidden")]
        leg = self.legs.get(token[1])
        if leg is None or leg.kind != token[0] or leg.ended_at is not None:
            return [_unknown_session(iq)]
        action = jingle.get("action", "")
        if leg.kind == OUT:
            out = [self._relay_to_client(iq, leg)]
            if (
                action == "session-info"
                and jingle.find(q(relay.NS_RTP_INFO, "ringing")) is not None
            ):
                if leg.proposed:  # the phone rings: say so in JMI too, for clients that show it
                    out.append(_jmi(leg.facing, _bare(leg.user), "ringing", leg.sid))
            elif action == "session-terminate":
                out += self._ended(leg, _reason(jingle), by_client=False)
            return out
        return self._asterisk_inbound(iq, leg, action, jingle)

    def _asterisk_inbound(
        self, iq: ET.Element, leg: Leg, action: str, jingle: ET.Element
    ) -> list[ET.Element]:
        offer = leg.offer
        if action == "session-initiate":
            sid = jingle.get("sid", "")
            if offer is not None or not _good_sid(sid) or sid in self._in_by_sid:
                return [_error(iq, "cancel", "conflict")]
            target = Jid.parse(leg.target)
            direct = target is not None and bool(target.resource)
            leg.sid, leg.offer = sid, jmi.Offer(sid, leg.target, direct=direct)
            leg.held.append(copy.deepcopy(iq))
            self._in_by_sid[sid] = leg.token
            log.info(kv("xmppgw.in", token=leg.token, caller=leg.facing, user=leg.target))
            return [_result(iq), *self._effects(leg, leg.offer.start())]
        if offer is None:
            return [_unknown_session(iq)]
        if (
            offer.state == jmi.OfferState.ANSWERED
            and not leg.acked
            and action != "session-terminate"
        ):
            leg.held.append(copy.deepcopy(iq))  # the device has not acknowledged the initiate
            return [_result(iq)]
        if offer.state == jmi.OfferState.ANSWERED:
            out = [self._relay_to_client(iq, leg)]
            if action == "session-terminate":
                out += self._ended(leg, _reason(jingle), by_client=False)
            return out
        if action == "session-terminate":
            leg.ended_at = self.clock()
            return [_result(iq), *self._effects(leg, offer.asterisk_ended(_reason(jingle)))]
        leg.held.append(copy.deepcopy(iq))  # transport-info before a device answered
        return [_result(iq)]

    # -- messages (JMI) and presence ---------------------------------------------------------

    def _message(self, msg: ET.Element, frm: str, to: Jid) -> list[ET.Element]:
        if msg.get("type") == "error":
            return self._bounced(msg, frm)
        child = next((c for c in msg if split(c.tag)[0] == NS_JMI), None)
        if child is None:
            return []
        verb, sid = split(child.tag)[1], child.get("id", "")
        if not _good_sid(sid):
            return []
        token = self._in_by_sid.get(sid)
        leg = self.legs.get(token or "")
        if leg is not None and leg.offer is not None and _bare(frm) == _bare(leg.target):
            return self._device(leg, leg.offer, verb, frm, child)
        return self._caller(verb, sid, frm, to)

    def _device(
        self, leg: Leg, offer: jmi.Offer, verb: str, frm: str, child: ET.Element
    ) -> list[ET.Element]:
        if verb == "ringing":
            return self._effects(leg, offer.device_ringing(frm))
        if verb == "proceed":
            return self._effects(leg, offer.device_proceed(frm))
        if verb == "reject":
            return self._effects(leg, offer.device_reject(_reason(child)))
        return []  # finish: the Jingle session-terminate already ended the call

    def _caller(self, verb: str, sid: str, frm: str, to: Jid) -> list[ET.Element]:
        """JMI from a client calling a number JID (out)."""
        if verb == "propose":
            number = parse_number(to.local) if to.local else ""
            client = Jid.parse(frm)
            if number is None or client is None or not client.resource:
                return []
            if len(self._proposals) >= self.config.max_sessions:
                return []  # a flood of proposals: the client's call fails, memory stays bounded
            facing = f"{to.bare}/{GATEWAY_RESOURCE}"
            self._proposals[(frm, sid)] = (facing, self.clock())
            # The gateway is the callee's only device: it proceeds at once, and the phone's
            # ringing comes as Jingle session-info once the number is dialled.
            return [_jmi(facing, client.bare, "proceed", sid)]
        if verb == "retract":
            self._proposals.pop((frm, sid), None)
        return []

    def _bounced(self, msg: ET.Element, frm: str) -> list[ET.Element]:
        """A propose the user's server could not deliver (no device online). Servers bounce
        with the message's id (prosody keeps no payload), so the id finds the call."""
        token = self._proposed.pop(msg.get("id", ""), None)
        leg = self.legs.get(token or "")
        if leg is None or leg.offer is None or _bare(frm) != _bare(leg.target):
            return []
        if not leg.offer.open:
            return []
        leg.offer.state = jmi.OfferState.RETRACTED
        return self._end_asterisk(leg, "expired")

    def _presence(self, pres: ET.Element, frm: str, to: Jid) -> list[ET.Element]:
        """Number JIDs are always available: clients that show a call button only for
        online contacts show it; subscriptions are approved."""
        if to.local and parse_number(to.local) is None:
            return []
        kind, me, dtls = pres.get("type", ""), to.bare, self.config.dtls
        if kind == "subscribe":
            return [disco.presence(me, frm, "subscribed"), disco.presence(me, frm, dtls=dtls)]
        if kind == "probe":
            return [disco.presence(me, frm, dtls=dtls)]
        if kind == "unsubscribe":
            return [disco.presence(me, frm, "unsubscribed")]
        return []

    # -- effects of the JMI offer ------------------------------------------------------------

    def _effects(self, leg: Leg, effects: list[jmi.Effect]) -> list[ET.Element]:
        out: list[ET.Element] = []
        for effect in effects:
            if isinstance(effect, jmi.Propose):
                out.append(self._propose(leg, effect.to))
            elif isinstance(effect, jmi.Retract):
                out.append(_jmi(leg.facing, effect.to, "retract", leg.sid, effect.reason))
            elif isinstance(effect, jmi.Finish):
                out.append(_jmi(leg.facing, effect.to, "finish", leg.sid, effect.reason))
            elif isinstance(effect, jmi.RingAsterisk):
                info = ET.Element(
                    q(NS_JINGLE, "jingle"), {"action": "session-info", "sid": leg.sid}
                )
                ET.SubElement(info, q(relay.NS_RTP_INFO, "ringing"))
                out.append(self._to_asterisk(leg, info))
            elif isinstance(effect, jmi.Connect):
                out += self._connect(leg, effect.device)
            elif isinstance(effect, jmi.EndAsterisk):
                out += self._end_asterisk(leg, effect.reason)
        return out

    def _propose(self, leg: Leg, to: str) -> ET.Element:
        msg = stanza("message", {"from": leg.facing, "to": to, "type": "chat", "id": self._id()})
        self._proposed[msg.get("id", "")] = leg.token
        propose = ET.SubElement(msg, q(NS_JMI, "propose"), {"id": leg.sid})
        ET.SubElement(propose, q(NS_RTP, "description"), {"media": "audio"})
        if leg.nick:
            ET.SubElement(msg, q(NS_NICK, "nick")).text = leg.nick
        ET.SubElement(msg, q(NS_HINTS, "store"))
        return msg

    def _connect(self, leg: Leg, device: str) -> list[ET.Element]:
        """The device proceeded: it gets the held session-initiate; what followed it goes
        once the device acknowledged it (`_release`)."""
        leg.user = device
        self._by_client[(device, leg.sid)] = leg.token
        log.info(kv("xmppgw.answered", token=leg.token, device=device))
        # Asterisk already had its result; the device's answer comes back to no one: an
        # error ends the call, a result releases the rest.
        return [self._held_to_client(leg, leg.held.pop(0), leg.token)]

    def _release(self, leg: Leg) -> list[ET.Element]:
        """The device acknowledged the session-initiate: the IQs held since go to it."""
        leg.acked = True
        held, leg.held = leg.held, []
        return [self._held_to_client(leg, iq, "") for iq in held]

    def _held_to_client(self, leg: Leg, iq: ET.Element, answer_leg: str) -> ET.Element:
        sent = relay.to_client(iq, leg.user, leg.facing, client_initiated=False)
        sent.set("id", self._id())
        self._pending[sent.get("id", "")] = Pending(
            leg.user, None, "", "", self.clock() + PENDING_TTL, answer_leg
        )
        return sent

    def _end_asterisk(self, leg: Leg, reason: str) -> list[ET.Element]:
        terminate = ET.Element(
            q(NS_JINGLE, "jingle"), {"action": "session-terminate", "sid": leg.sid}
        )
        ET.SubElement(ET.SubElement(terminate, q(NS_JINGLE, "reason")), q(NS_JINGLE, reason))
        leg.ended_at = self.clock()
        return [self._to_asterisk(leg, terminate)]

    def _ended(self, leg: Leg, reason: str, *, by_client: bool) -> list[ET.Element]:
        leg.ended_at = self.clock()
        log.info(kv("xmppgw.ended", token=leg.token, reason=reason, by_client=by_client))
        if leg.offer is not None:
            effects = (
                leg.offer.device_ended(reason) if by_client else leg.offer.asterisk_ended(reason)
            )
            return self._effects(leg, effects)
        if leg.proposed:
            return [_jmi(leg.facing, _bare(leg.user), "finish", leg.sid, reason or "success")]
        return []

    # -- relaying ----------------------------------------------------------------------------

    def _relay_to_asterisk(self, iq: ET.Element, leg: Leg) -> ET.Element:
        out = leg.kind == OUT
        sent = relay.to_asterisk(iq, leg.relay, self.config.asterisk_jid, client_initiated=out)
        return self._track(sent, iq, self.config.asterisk_jid)

    def _relay_to_client(self, iq: ET.Element, leg: Leg) -> ET.Element:
        sent = relay.to_client(iq, leg.user, leg.facing, client_initiated=leg.kind == OUT)
        return self._track(sent, iq, leg.user)

    def _track(self, sent: ET.Element, original: ET.Element, peer: str) -> ET.Element:
        """Give the relayed IQ our own id; its answer goes back to the original sender."""
        new_id = self._id()
        self._pending[new_id] = Pending(
            peer,
            original.get("from", ""),
            original.get("to", ""),
            original.get("id", ""),
            self.clock() + PENDING_TTL,
        )
        sent.set("id", new_id)
        return sent

    def _to_asterisk(self, leg: Leg, jingle: ET.Element) -> ET.Element:
        iq = stanza("iq", {"type": "set", "id": self._id(), "from": leg.relay})
        iq.set("to", self.config.asterisk_jid)
        iq.append(jingle)
        self._pending[iq.get("id", "")] = Pending(
            self.config.asterisk_jid, None, "", "", self.clock() + PENDING_TTL
        )
        return iq

    def _id(self) -> str:
        return f"gw{next(self._ids)}"

    def _drop(self, leg: Leg) -> None:
        self.legs.pop(leg.token, None)
        if leg.user and self._by_client.get((leg.user, leg.sid)) == leg.token:
            del self._by_client[(leg.user, leg.sid)]
        if self._in_by_sid.get(leg.sid) == leg.token:
            del self._in_by_sid[leg.sid]
        for msg_id in [i for i, token in self._proposed.items() if token == leg.token]:
            del self._proposed[msg_id]


# -- small stanza helpers ----------------------------------------------------------------------


def _bare(jid: str) -> str:
    parsed = Jid.parse(jid)
    return parsed.bare if parsed is not None else ""


def _good_sid(sid: str) -> bool:
    return 0 < len(sid) <= MAX_SID and sid.isascii() and sid.isprintable() and " " not in sid


def _clean_nick(name: str | None) -> str:
    """A caller name from the trunk as an XEP-0172 nick: printable, trimmed, bounded."""
    if not name:
        return ""
    text = "".join(c for c in name if c.isprintable()).strip()
    return text[:MAX_NICK]


def _reason(elem: ET.Element) -> str:
    reason = elem.find(q(NS_JINGLE, "reason"))
    if reason is None:
        return ""
    names = [split(c.tag)[1] for c in reason if c.tag != q(NS_JINGLE, "text")]
    return names[0] if names else ""


def _result(iq: ET.Element, *payload: ET.Element) -> ET.Element:
    attrs = {"type": "result", "id": iq.get("id", ""), "from": iq.get("to", "")}
    attrs["to"] = iq.get("from", "")
    return stanza("iq", attrs, *payload)


def _error(iq: ET.Element, kind: str, condition: str, *extra: ET.Element) -> ET.Element:
    attrs = {"type": "error", "id": iq.get("id", ""), "from": iq.get("to", "")}
    attrs["to"] = iq.get("from", "")
    error = ET.Element(q(NS_COMPONENT, "error"), {"type": kind})
    ET.SubElement(error, q(NS_STANZAS, condition))
    error.extend(extra)
    return stanza("iq", attrs, error)


def _unknown_session(iq: ET.Element) -> ET.Element:
    return _error(
        iq, "cancel", "item-not-found", ET.Element(q(NS_JINGLE_ERRORS, "unknown-session"))
    )


def _jmi(frm: str, to: str, verb: str, sid: str, reason: str = "") -> ET.Element:
    msg = stanza("message", {"from": frm, "to": to, "type": "chat"})
    child = ET.SubElement(msg, q(NS_JMI, verb), {"id": sid})
    if reason:
        ET.SubElement(ET.SubElement(child, q(NS_JINGLE, "reason")), q(NS_JINGLE, reason))
    ET.SubElement(msg, q(NS_HINTS, "store"))
    return msg
