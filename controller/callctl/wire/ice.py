"""ICE sessions as seen on the wire, and the failures only the wire shows (sans-IO).

`WireIce.datagram(d)` for each UDP datagram in capture order, then `sessions()`. A session
is the pair of ICE ufrags in the USERNAME of its Binding requests (RFC 8445 7.2.2: the
receiver's ufrag, a colon, the sender's); each side ("agent") is known by its ufrag and the
addresses it checks from. Memory is bounded: at most `MAX_SESSIONS` sessions, `MAX_FLOWS`
5-tuples and `MAX_EVENTS` events each, everything past that counted.

Signatures (signatures.py, each with its evidence):
- `wire-nomination-not-understood`: the controlling agent nominated with NOMINATION only
  (0xC001 or 0x0030), never USE-CANDIDATE, and the controlled agent sent no media or never
  ran a check of its own: it waits for a USE-CANDIDATE that never comes (or runs no ICE).
- `wire-check-not-triggered-back`: an agent answered a check, but never sent a check back to
  that address (neither a triggered check after, nor a successful one before).
- `wire-role-conflict`: a 487 (Role Conflict) error response.
- `wire-dtls-no-client-hello`: the side that said `setup='active'` (from the log's Jingle
  signalling) never sent a DTLS ClientHello, though ICE found a pair.
- `wire-media-not-to-nominated`: RTP from an agent to an address other than the nominated
  pair's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from callctl.wire import dtls, stun
from callctl.wire.classify import RtpHeader, classify
from callctl.wire.errors import DecodeError
from callctl.wire.packet import Datagram

MAX_SESSIONS = 1000
MAX_FLOWS = 256  # per session
MAX_EVENTS = 200  # per session
MAX_TRANSACTIONS = 256  # transaction IDs kept per session (to align with the log)
MAX_OPEN = 1024  # requests awaiting an answer, per session
MAX_OPEN_TOTAL = 65536  # and in all
MAX_TURN = 200  # TURN messages listed


@dataclass
class Agent:
    ufrag: str
    addrs: set[str] = field(default_factory=set)
    role: str | None = None
    tie_breaker: int | None = None
    requests: int = 0
    use_candidate: int = 0
    nomination: dict[int, int] = field(default_factory=dict)  # attribute code -> max value
    rtp_sent: int = 0
    client_hello: int = 0
    setup: str | None = None  # the DTLS role it signalled (Jingle `setup`), when a log says


@dataclass
class Flow:
    src: str
    dst: str
    first: float
    packets: int = 0
    kinds: dict[str, float] = field(default_factory=dict)  # kind -> first time


@dataclass
class WireSession:
    key: tuple[str, str]  # the two ufrags, sorted
    agents: dict[str, Agent] = field(default_factory=dict)
    first: float | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    events_dropped: int = 0
    # open checks: transaction -> (sender's ufrag, src, dst, time, nominates)
    open: dict[str, tuple[str, str, str, float, bool]] = field(default_factory=dict)
    answered: dict[tuple[str, str], float] = field(default_factory=dict)  # (src,dst) -> t
    nominated: set[tuple[str, str]] = field(default_factory=set)  # (src,dst) checks nominated
    errors: list[dict[str, Any]] = field(default_factory=list)
    transactions: dict[str, float] = field(default_factory=dict)  # tid -> first seen
    found: list[dict[str, Any]] = field(default_factory=list)  # set by signatures.diagnose

    def event(self, t: float, what: str, detail: str) -> None:
        if len(self.events) < MAX_EVENTS:
            self.events.append({"t": t, "source": "wire", "event": what, "detail": detail})
        else:
            self.events_dropped += 1

    def agent(self, ufrag: str) -> Agent:
        a = self.agents.get(ufrag)
        if a is None:
            a = self.agents[ufrag] = Agent(ufrag)
        return a

    def owner(self, addr: str) -> Agent | None:
        for a in self.agents.values():
            if addr in a.addrs:
                return a
        return None


class WireIce:
    def __init__(self) -> None:
        self.sessions_by_key: dict[tuple[str, str], WireSession] = {}
        self._by_addr: dict[str, WireSession] = {}
        self._by_tid: dict[str, WireSession] = {}
        self.flows: dict[tuple[str, str], Flow] = {}
        self.datagrams = 0
        self.stun = 0
        self.dtls = 0
        self.rtp = 0
        self.decode_errors = 0
        self.decode_error_examples: list[str] = []
        self.dropped = 0
        self.turn: list[dict[str, Any]] = []  # TURN transactions (allocations...), bounded

    # -- input ----------------------------------------------------------------------------------
    def datagram(self, d: Datagram) -> None:
        self.datagrams += 1
        try:
            msg = classify(d.payload)
        except DecodeError as err:
            self.decode_errors += 1
            if len(self.decode_error_examples) < 10:
                self.decode_error_examples.append(f"{d.src} -> {d.dst}: {err}")
            return
        if isinstance(msg, stun.StunMessage):
            self.stun += 1
            self._stun(d, msg)
        elif isinstance(msg, list):
            self.dtls += 1
            self._dtls(d, msg)
        elif isinstance(msg, RtpHeader):
            self.rtp += 1
            self._media(d, "rtcp" if msg.rtcp else "rtp")

    def _session(self, ufrags: tuple[str, str]) -> WireSession | None:
        key = (min(ufrags), max(ufrags))
        s = self.sessions_by_key.get(key)
        if s is None:
            if len(self.sessions_by_key) >= MAX_SESSIONS:
                self.dropped += 1
                return None
            s = self.sessions_by_key[key] = WireSession(key)
        return s

    def _flow(self, d: Datagram, kind: str) -> tuple[Flow | None, bool]:
        """The datagram's 5-tuple (UDP, so src and dst say it all); True when it is the
        first of its kind on that flow."""
        f = self.flows.get(d.flow)
        if f is None:
            if len(self.flows) >= MAX_SESSIONS * 4:
                self.dropped += 1
                return None, False
            f = self.flows[d.flow] = Flow(d.src, d.dst, d.ts)
        f.packets += 1
        first = kind not in f.kinds
        if first:
            f.kinds[kind] = d.ts
        return f, first

    def _stun(self, d: Datagram, m: stun.StunMessage) -> None:
        self._flow(d, "check" if m.cls == "request" else "stun")
        if m.method != "Binding":
            detail = f"{d.src} -> {d.dst} TURN {m.name}"
            if m.xor_relayed:
                detail += f", relayed {m.xor_relayed}"
            if m.lifetime is not None:
                detail += f", lifetime {m.lifetime} s"
            if m.error:
                detail += f", error {m.error[0]} {m.error[1]}"
            if len(self.turn) < MAX_TURN:
                self.turn.append({"t": d.ts, "message": m.name, "detail": detail})
            else:
                self.dropped += 1
            s = self._by_addr.get(d.src) or self._by_addr.get(d.dst)
            if s is not None:
                s.event(d.ts, "turn", detail)
            return
        if m.cls == "request":
            self._request(d, m)
        elif m.cls in ("success", "error"):
            self._response(d, m)

    def _request(self, d: Datagram, m: stun.StunMessage) -> None:
        if not m.username or ":" not in m.username:
            return  # a plain STUN binding (server reflexive discovery), not an ICE check
        to_ufrag, _, from_ufrag = m.username.partition(":")
        s = self._session((to_ufrag, from_ufrag))
        if s is None:
            return
        if s.first is None:
            s.first = d.ts
        sender, receiver = s.agent(from_ufrag), s.agent(to_ufrag)
        for a, addr in ((sender, d.src), (receiver, d.dst)):
            if addr not in a.addrs and len(a.addrs) < MAX_FLOWS:
                a.addrs.add(addr)
                self._by_addr[addr] = s
        sender.requests += 1
        if m.role:
            sender.role, sender.tie_breaker = m.role, m.tie_breaker
        nominates = []
        if m.use_candidate:
            sender.use_candidate += 1
            nominates.append("USE-CANDIDATE")
        if m.nomination:
            code, value = m.nomination
            sender.nomination[code] = max(value, sender.nomination.get(code, 0))
            nominates.append(f"NOMINATION(0x{code:04X})={value}")
        if len(s.open) < MAX_OPEN and len(self._by_tid) < MAX_OPEN_TOTAL:
            s.open[m.transaction] = (from_ufrag, d.src, d.dst, d.ts, bool(nominates))
            self._by_tid[m.transaction] = s
        if len(s.transactions) < MAX_TRANSACTIONS:
            s.transactions.setdefault(m.transaction, d.ts)
        role = f" {m.role}" if m.role else ""
        extra = f" {' '.join(nominates)}" if nominates else ""
        s.event(
            d.ts,
            "check",
            f"{d.src} -> {d.dst} Binding request{role}{extra} prio={m.priority} "
            f"tsx={m.transaction}",
        )

    def _response(self, d: Datagram, m: stun.StunMessage) -> None:
        s = self._by_tid.pop(m.transaction, None)
        if s is None:
            return
        req = s.open.pop(m.transaction, None)
        if req is None:
            return
        _ufrag, src, dst, _t, nominates = req
        if m.cls == "success":
            s.answered.setdefault((src, dst), d.ts)
            if nominates:
                s.nominated.add((src, dst))
            s.event(d.ts, "answer", f"{d.src} -> {d.dst} success, mapped {m.xor_mapped}")
        else:
            code, reason = m.error or (0, "")
            s.errors.append({"t": d.ts, "code": code, "reason": reason, "from": d.src})
            s.event(d.ts, "error", f"{d.src} -> {d.dst} error {code} {reason}")

    def _dtls(self, d: Datagram, records: list[dtls.DtlsRecord]) -> None:
        self._flow(d, "dtls")
        s = self._by_addr.get(d.src) or self._by_addr.get(d.dst)
        if s is None:
            return
        owner = s.owner(d.src)
        for r in records:
            if r.message == "ClientHello" and owner is not None:
                owner.client_hello += 1
            if r.content in ("handshake", "alert") and r.epoch == 0:
                s.event(d.ts, "dtls", f"{d.src} -> {d.dst} {r.message}")

    def _media(self, d: Datagram, kind: str) -> None:
        _f, first = self._flow(d, kind)
        s = self._by_addr.get(d.src)
        if s is None:
            return
        owner = s.owner(d.src)
        if owner is not None and kind == "rtp":
            owner.rtp_sent += 1
        if first:
            s.event(d.ts, f"first-{kind}", f"{d.src} -> {d.dst}")

    def sessions(self) -> list[WireSession]:
        return list(self.sessions_by_key.values())


def session_report(s: WireSession) -> dict[str, Any]:
    base = s.first or 0.0
    return {
        "ufrags": list(s.key),
        "agents": [
            {
                "ufrag": a.ufrag,
                "addresses": sorted(a.addrs),
                "role": a.role,
                "tie_breaker": a.tie_breaker,
                "checks_sent": a.requests,
                "use_candidate": a.use_candidate,
                "nomination": {f"0x{c:04X}": v for c, v in sorted(a.nomination.items())},
                "rtp_sent": a.rtp_sent,
                "dtls_client_hello": a.client_hello,
                "setup": a.setup,
            }
            for a in s.agents.values()
        ],
        "nominated": [f"{a} -> {b}" for a, b in sorted(s.nominated)],
        "errors": s.errors,
        "timeline": [dict(e, t=round(e["t"] - base, 6)) for e in s.events],
        "timeline_dropped": s.events_dropped,
        "signatures": s.found,
    }
