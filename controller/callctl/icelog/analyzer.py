"""Streaming analysis of pjnath ICE sessions in an Asterisk (or raw pjlib) debug log.

Sans-IO: `IceLogAnalyzer.feed_line(str)` for each line, `finish()` at the end, then
`report()`. Memory is bounded: per session at most `MAX_EVENTS` state changes are kept, and at
most `MAX_SESSIONS` finished sessions are kept in full (all are counted).

The pjnath messages matched here are quoted from pjproject 2.17
`pjnath/src/pjnath/ice_session.c` (at `pj_log` level 4, which Asterisk maps to DEBUG),
`stun_session.c` (STUN dumps at level 5, Asterisk TRACE), and the Asterisk lines from
`res/res_rtp_asterisk.c` (ast_debug_ice / ast_log / rtp debug).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from callctl.icelog._lines import Framer, Line
from callctl.icelog.jingle import HEADER as XMPP_HEADER
from callctl.icelog.jingle import JingleWatch

MAX_EVENTS = 200
MAX_SESSIONS = 500

# Every line the analyzer acts on contains one of these (checked against each pattern below);
# `feed()` finds them with bytes.find, so lines without any are skipped at C speed.
ANCHORS = (
    b"-->",
    b"ICE ",
    b"andidate",
    b"riggered",
    b"Checklist",
    b"Valid list",
    b"bytes STUN message",
    b"STUN Binding request",
    b"0xc001",
    b"USE-CANDIDATE",
    b"Role changed",
    b"Controlled agent",
    b"incoming check",
    b"early check",
    b"RTP",
)
# In an Asterisk log every pjnath ICE line comes from a session named "icess0x..." (Asterisk
# creates them with a NULL name, ice_session.c then uses "icess%p"), so far fewer anchors do.
ASTERISK_ANCHORS = (
    b"icess",
    b"ICE session created",
    b"bytes STUN message",
    b"STUN Binding request",
    b"0xc001",
    b"USE-CANDIDATE",
    b"RTP",
    b"skipping checklist",
    b"res_xmpp.c: ",  # res_xmpp's debug output: Jingle signalling (callctl.icelog.jingle),
    b"<--- XMPP ",  # a timestamped line, then a header line, then the stanza
    b"<jingle",
)


# --- pjnath ice_session.c -----------------------------------------------------------------
_PAIR = r"(\d+): \[(\d+)\] (\S+)-->(\S+)"
RE_CREATED = re.compile(r"^ICE session created, comp_cnt=(\d+), role is (\w+) agent")
RE_ROLE = re.compile(r"^Role changed to (\w+)")
RE_CAND = re.compile(
    r"^Candidate (\d+) added: comp_id=(\d+), type=(\w+), foundation=(\S*), "
    r"addr=(\S+?):(\d+), base=(\S+?):(\d+), prio=0x([0-9a-fA-F]+)"
)
RE_STATE = re.compile(r"^Check " + _PAIR + r": state changed from (.+?) to (.+)$")
RE_CLIST_STATE = re.compile(r"^Checklist: state changed from (\w+) to (\w+)")
RE_DUMP_ROW = re.compile(r"^" + _PAIR + r" \((nominated|not nominated), state=(.+)\)$")
RE_RESULT = re.compile(
    r"^Check " + _PAIR + r" \((nominated|not nominated)\): connectivity check "
    r"(SUCCESS|FAILED)(?:: (.*))?$"
)
RE_VALID_NOM = re.compile(r"^Valid check " + _PAIR + r" is nominated")
RE_SENDING = re.compile(r"^Sending connectivity check for check " + _PAIR)
RE_COMPLETE = re.compile(r"^ICE process complete, status=(.*)$")
RE_DESTROYING = re.compile(r"^Destroying ICE session (0x[0-9a-fA-F]+)")
RE_DESTROYED = re.compile(r"^ICE session (0x[0-9a-fA-F]+) destroyed")
RE_PRFLX_REMOTE = re.compile(r"^Added new remote candidate from the request: (\S+?):(\d+)")
RE_STUN_RX = re.compile(r"^RX \d+ bytes STUN message from (\S+):$")
TRIGGER_DONE = (
    "Performing triggered check",
    "New triggered check added",
    "Performing delayed triggerred check",
)
PEER_ACTIVITY = (
    "Triggered check for check",
    "Performing triggered check",
    "New triggered check added",
    "Received an early check",
    "Added new remote candidate from the request",
    "Ignored incoming check after ICE nego has been completed",
    "Performing delayed triggerred check",
)

# --- Asterisk res_rtp_asterisk.c -----------------------------------------------------------
RE_MEDIA = re.compile(
    r"(?:Sent RTP packet to\s+|Strict RTP learning after remote address set to: |"
    r"Now sending to address |Strict RTP switching to RTP target address )(\S+?)(?:\s|$)"
)

PATCHES = {
    "late-peer-no-triggered-check": "pjnath triggered-check patch "
    "(patches/pjproject/0100-pjnath-retry-failed-pairs-and-wait-for-a-late-peer.patch: a Failed "
    "pair goes back to Waiting on an incoming check, RFC 8445 7.3.1.4, and the controlled "
    "agent waits for a late peer instead of declaring ICE failed)",
    "component-2-only": "chan_motif component-2 patch "
    "(patches/asterisk/0060-chan_motif-rtcp-mux-candidates.patch: accumulate trickled "
    "candidates, one ICE component when RTCP is muxed)",
    "no-nomination-renomination": "renomination patch "
    "(patches/pjproject/0110-pjnath-honour-NOMINATION-largest-value-wins.patch: honour the "
    "NOMINATION attribute 0xC001, largest value wins)",
    "media-not-to-nominated": "res_rtp_asterisk nominated_check patch "
    "(patches/asterisk/0010-res_rtp_asterisk-nominated-pair.patch: take the remote address "
    "from comp[].nominated_check, not valid_check)",
    "rtcp-mux-one-component": "chan_motif component-2 patch "
    "(patches/asterisk/0060-chan_motif-rtcp-mux-candidates.patch: one ICE component when "
    "RTCP is muxed)",
    "jingle-content-creator": "chan_motif content creator patch "
    "(patches/asterisk/0030-chan_motif-content-creator.patch: answer with the creator the "
    "content was created with)",
    "ice-role-unknown": "chan_motif ICE role patch "
    "(patches/asterisk/0050-chan_motif-ice-role.patch: set the role from the Jingle "
    "initiator, start checks once accepted)",
}
EXPLAIN = {
    "late-peer-no-triggered-check": "our checks all failed before the peer started checking; "
    "its checks arrived later but no triggered check was sent back, so ICE never recovered",
    "component-2-only": "the session was left with component-2 (RTCP) candidates only, so no "
    "checklist could be run for component 1 and nothing was nominated",
    "no-nomination-renomination": "valid pairs were found but the peer never nominated one that "
    "pjnath understood (it nominates with the renomination attribute 0xC001)",
    "media-not-to-nominated": "media went to a valid pair that is not the nominated one",
    "rtcp-mux-one-component": "the peer muxes RTCP and sent component-1 candidates only, but "
    "Asterisk's session has 2 components, so it skipped the checklist: no ICE check ever ran",
    "jingle-content-creator": "chan_motif named a content the client created "
    "creator='responder' in what it sent back (XEP-0166: creator is who created the content); "
    "a client that checks it (Gajim) refuses the session before any ICE check matters",
    "ice-role-unknown": "the ICE session kept role Unknown (chan_motif never sets it): checks "
    "start before the call is accepted and pjnath runs the controlling agent's completion "
    "logic without nominating, so ICE succeeds or fails by timing",
}


def _pair_key(m: re.Match[str], base: int = 2) -> tuple[int, str, str]:
    return int(m.group(base)), m.group(base + 1), m.group(base + 2)


def _key_text(key: tuple[int, str, str]) -> str:
    return f"[{key[0]}] {key[1]}-->{key[2]}"


def _host_port(addr: str) -> str:
    return addr


@dataclass
class CheckInfo:
    key: tuple[int, str, str]
    state: str = "Frozen"
    nominated: bool = False
    failed_at: float | None = None
    failure: str = ""
    succeeded_at: float | None = None


@dataclass
class Session:
    name: str
    ordinal: int
    created: float | None
    first_line: int
    comp_cnt: int = 0
    role: str = "Unknown"
    roles: list[str] = field(default_factory=list)
    local: list[dict[str, Any]] = field(default_factory=list)
    remote_prflx: list[str] = field(default_factory=list)
    checks: dict[tuple[int, str, str], CheckInfo] = field(default_factory=dict)
    valid_list: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    events_dropped: int = 0
    clist_states: list[tuple[float | None, str]] = field(default_factory=list)
    started: float | None = None
    nominations: list[dict[str, Any]] = field(default_factory=list)
    completed: float | None = None
    status: str | None = None
    ended: float | None = None
    last_ts: float | None = None
    peer_first: float | None = None
    triggered_after_peer: int = 0
    triggered_total: int = 0
    ignored_after_complete: int = 0
    renomination_attr_seen: int = 0
    use_candidate_seen: int = 0
    waited_for_nomination: bool = False
    nomination_timeout: bool = False
    checklist_created: bool = False
    skipped_checklist: str = ""
    found: list[dict[str, Any]] = field(default_factory=list)
    _dump: str = ""

    # -- helpers --
    def event(self, ts: float | None, kind: str, text: str) -> None:
        if len(self.events) < MAX_EVENTS:
            self.events.append({"t": ts, "event": kind, "detail": text})
        else:
            self.events_dropped += 1

    def check(self, key: tuple[int, str, str]) -> CheckInfo:
        c = self.checks.get(key)
        if c is None:
            c = self.checks[key] = CheckInfo(key)
        return c

    def remote_addrs(self) -> set[str]:
        return {k[2] for k in self.checks} | set(self.remote_prflx)

    def outcome(self) -> str:
        if self.status is None:
            return "incomplete"
        return "success" if self.status == "Success" else "failed"


class IceLogAnalyzer:
    def __init__(self) -> None:
        self.framer = Framer()
        self._tail = b""
        self._anchors: tuple[bytes, ...] | None = None
        self._learned: list[str] = []
        self._stamps: dict[str, float] = {}
        self._dates: dict[str, float | None] = {}
        self.lineno = 0
        self.live: dict[str, Session] = {}
        self.finished: list[Session] = []
        self.sessions_total = 0
        self.sessions_dropped = 0
        self.outcomes: dict[str, int] = {}
        self.signature_counts: dict[str, int] = {}
        self.findings: list[dict[str, Any]] = []
        self.media: list[tuple[float | None, str]] = []
        self.pj_lines = 0
        self.ice_lines = 0
        self._stun_rx_src: str | None = None
        self._stun_in_dump = False
        self._stun_is_request = False
        self._stun_rx_ts: float | None = None
        self._last_pj: Session | None = None
        self._last_ts: float | None = None
        self.jingle = JingleWatch()
        self._last_stamp: str | None = None

    # -- input ----------------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Feed raw log bytes (any chunking); only lines holding an anchor are parsed."""
        buf = self._tail + data if self._tail else data
        cut = buf.rfind(b"\n")
        if cut < 0:
            self._tail = buf
            return
        self._tail = buf[cut + 1 :]
        self._scan(buf, cut + 1)

    @staticmethod
    def _starts(block: bytes, anchors: tuple[bytes, ...], begin: int, end: int) -> set[int]:
        find = block.find
        rfind = block.rfind
        starts: set[int] = set()
        for anchor in anchors:
            p = find(anchor, begin, end)
            while p != -1:
                starts.add(rfind(b"\n", 0, p) + 1)
                p = find(anchor, find(b"\n", p, end), end)
        return starts

    def _scan(self, block: bytes, end: int) -> None:
        if self._anchors is None:  # decided by the first complete lines
            first = block[: min(end, 65536)]
            asterisk = first.startswith(b"[") and b"] " in first[:64]
            self._anchors = ASTERISK_ANCHORS if asterisk else ANCHORS
        order = sorted(self._starts(block, self._anchors, 0, end))
        find = block.find
        count = block.count
        base = self.lineno
        prev = 0
        handle = self._handle
        i = 0
        while i < len(order):
            s = order[i]
            i += 1
            base += count(b"\n", prev, s)
            prev = s
            e = find(b"\n", s, end)
            self.lineno = base + 1
            handle(block[s:e].decode("utf-8", "replace"))
            if self._learned:
                # A session with an unusual name was created: follow its name from here on.
                new = tuple(n.encode() for n in self._learned)
                self._learned.clear()
                self._anchors = self._anchors + new
                extra = self._starts(block, new, e, end) - set(order[i:])
                if extra:
                    order = order[:i] + sorted(set(order[i:]) | extra)
        self.lineno = base + count(b"\n", prev, end)

    def feed_line(self, raw: str) -> None:
        """Feed one line (without or with its newline)."""
        self.lineno += 1
        self._handle(raw)

    def _handle(self, raw: str) -> None:
        raw = raw.rstrip("\r\n")
        # Fast path: pjlib's default layout (see _lines.Framer.frame), the bulk of a raw log.
        if (
            len(raw) > 37
            and raw[2] == ":"
            and raw[12] == " "
            and raw[35] == " "
            and raw[8] == "."
            and raw[34] != " "
            and raw[0:2].isdigit()
        ):
            stamp = raw[:12]
            t = self._stamps.get(stamp)
            if t is None:
                try:
                    t = (
                        int(raw[0:2]) * 3600
                        + int(raw[3:5]) * 60
                        + int(raw[6:8])
                        + int(raw[9:12]) / 1000.0
                    )
                except ValueError:
                    t = -1.0
                if len(self._stamps) > 4096:
                    self._stamps.clear()
                self._stamps[stamp] = t
            if t >= 0:
                ts = self._last_ts = self.framer._raw_time(t)
                self.pj_lines += 1
                self._pj(ts, raw[13:35].lstrip(), raw[36:].lstrip(" !."))
                return
        elif raw[:1] == "[":
            # Fast path: an Asterisk file channel line carrying pjproject output,
            # "[DATE] LEVEL[LWP][C-...] pjproject: \t<sender right-aligned> <indent><text>".
            j = raw.find("] ", 1)
            k = raw.find(" pjproject: ", j) if j > 0 else -1
            if k > j and " " not in raw[j + 2 : k] and raw[k - 1 : k] == "]":
                date = raw[1:j]
                when = self._dates.get(date)
                if when is None:
                    when = self.framer.frame(f"[{date}] D[0] x: y").ts
                    if len(self._dates) > 4096:
                        self._dates.clear()
                    self._dates[date] = when
                if when is not None:
                    self._last_ts = when
                sender, _, rest = raw[k + 12 :].lstrip("\t ").partition(" ")
                self.pj_lines += 1
                self._pj(when, sender, rest.lstrip(". "))
                return
        line = self.framer.frame(raw)
        if line.ts is not None:
            self._last_ts = line.ts
            self._last_stamp = line.stamp
        if line.kind == "pj":
            self.pj_lines += 1
            self._pj(line.ts, line.sender, line.text)
        elif line.kind == "ast":
            self._stun_in_dump = False
            self._ast(line)
        else:
            self._cont(line.text)

    def _cont(self, text: str) -> None:
        if text.startswith(XMPP_HEADER) or text.startswith("<iq"):
            for mismatch in self.jingle.line(text):
                self._finding_at(
                    self._last_ts, self._last_stamp, "jingle-content-creator", mismatch.evidence()
                )
            return
        if self._dump_target() is not None and text.startswith(
            ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9")
        ):
            m = RE_DUMP_ROW.fullmatch(text)
            if m:  # a checklist row written as a continuation (unusual framing)
                self._dump_row(self._dump_target(), m)  # type: ignore[arg-type]
                return
        if not self._stun_in_dump:
            return
        if text.startswith("--- end of STUN message"):
            self._stun_in_dump = False
        elif text.startswith("STUN "):
            self._stun_is_request = "request" in text and "Binding" in text
            if self._stun_is_request and self._stun_rx_src is not None:
                s = self._session_for_remote(self._stun_rx_src)
                if s is not None and s.peer_first is None:
                    s.peer_first = self._stun_rx_ts
                    s.event(
                        self._stun_rx_ts,
                        "peer-activity",
                        f"first Binding request from {self._stun_rx_src}",
                    )
        elif self._stun_is_request and text.startswith(("Attr 0xc001", "Attr 0xC001")):
            s = self._session_for_remote(self._stun_rx_src)
            if s is not None:
                s.renomination_attr_seen += 1
                s.event(
                    self._last_ts,
                    "rx-nomination-attr",
                    f"Binding request from {self._stun_rx_src} carries 0xC001",
                )
        elif self._stun_is_request and text.startswith("USE-CANDIDATE"):
            s = self._session_for_remote(self._stun_rx_src)
            if s is not None:
                s.use_candidate_seen += 1

    def _dump_target(self) -> Session | None:
        s = self._last_pj
        return s if s is not None and s._dump else None

    def _session_for_remote(self, addr: str | None) -> Session | None:
        if addr is None:
            return None
        best: Session | None = None
        for s in self.live.values():
            if addr in s.remote_addrs() and (best is None or s.ordinal > best.ordinal):
                best = s
        return best

    # -- pjlib lines ----------------------------------------------------------------------------
    def _pj(self, ts: float | None, sender: str, text: str) -> None:
        if text.startswith(("RX ", "TX ")) and "STUN message" in text:
            self._stun_in_dump = True
            self._stun_is_request = False
            self._stun_rx_src = None
            self._stun_rx_ts = ts
            if text.startswith("RX "):
                m = RE_STUN_RX.fullmatch(text)
                self._stun_rx_src = m.group(1) if m else None
            return
        self._stun_in_dump = False
        if text.startswith("ICE session created"):
            m = RE_CREATED.match(text)
            if m:
                if sender in self.live:
                    self._end(sender, ts, "replaced")
                self.sessions_total += 1
                self.ice_lines += 1
                anchors = self._anchors
                if (
                    anchors is not None
                    and anchors is not ANCHORS
                    and not sender.startswith("icess")
                    and sender.encode() not in anchors
                ):
                    self._learned.append(sender)
                s = Session(
                    sender,
                    self.sessions_total,
                    ts,
                    self.lineno,
                    comp_cnt=int(m.group(1)),
                    role=m.group(2),
                    roles=[m.group(2)],
                )
                self.live[sender] = s
                self._last_pj = s
                s.last_ts = ts
                return
        if sender not in self.live:
            if sender == "ice_session.c":
                m = RE_DESTROYED.match(text)
                if m:
                    self._end("icess" + m.group(1), ts, "destroyed")
                return
            if not sender.startswith("icess"):
                return
        self.ice_lines += 1
        found = self.live.get(sender)
        if found is None:
            # A session created before the log started: track it from here.
            self.sessions_total += 1
            found = self.live[sender] = Session(sender, self.sessions_total, None, self.lineno)
        s = found
        self._last_pj = s
        s.last_ts = ts
        self._session_line(s, ts, text)

    def _session_line(self, s: Session, ts: float | None, text: str) -> None:
        c0 = text[:1]
        if c0.isdigit():
            m = RE_DUMP_ROW.fullmatch(text)
            if m and s._dump:
                self._dump_row(s, m)
            return
        if s._dump:
            s._dump = ""
        if text.startswith("Check "):
            m = RE_STATE.fullmatch(text)
            if m:
                key = _pair_key(m)
                c = s.check(key)
                old, new = m.group(5), m.group(6)
                c.state = new
                if new == "Failed" and c.failed_at is None:
                    c.failed_at = ts
                if new == "Succeeded":
                    c.succeeded_at = ts
                s.event(ts, "check-state", f"{_key_text(key)}: {old} -> {new}")
                return
            m = RE_RESULT.match(text)
            if m:
                key = _pair_key(m)
                c = s.check(key)
                nominated = m.group(5) == "nominated"
                if m.group(6) == "FAILED":
                    c.failure = m.group(7) or ""
                    if c.failed_at is None:
                        c.failed_at = ts
                    s.event(ts, "check-failed", f"{_key_text(key)}: {c.failure}")
                else:
                    if c.succeeded_at is None:
                        c.succeeded_at = ts
                    s.event(
                        ts,
                        "check-succeeded",
                        f"{_key_text(key)}{' (nominated)' if nominated else ''}",
                    )
                    if nominated:
                        c.nominated = True
                        s.nominations.append({"t": ts, "pair": _key_text(key), "by": "check"})
                return
            return
        if text.startswith("Checklist"):
            if text.startswith(("Checklist created:", "Checklist updated:")):
                s._dump = "checklist"
                s.checklist_created = True
                return
            m = RE_CLIST_STATE.match(text)
            if m:
                s.clist_states.append((ts, m.group(2)))
                s.event(ts, "checklist-state", f"{m.group(1)} -> {m.group(2)}")
            return
        if text.startswith("Valid list"):
            s._dump = "valid"
            s.valid_list = []
            return
        if text.startswith("Valid check "):
            m = RE_VALID_NOM.match(text)
            if m:
                key = _pair_key(m)
                s.check(key).nominated = True
                s.nominations.append({"t": ts, "pair": _key_text(key), "by": "peer"})
                s.event(ts, "nominated", _key_text(key))
            return
        if text.startswith("Candidate "):
            m = RE_CAND.match(text)
            if m:
                s.local.append(
                    {
                        "id": int(m.group(1)),
                        "comp": int(m.group(2)),
                        "type": m.group(3),
                        "addr": f"{m.group(5)}:{m.group(6)}",
                    }
                )
            return
        if text.startswith("ICE process complete"):
            m = RE_COMPLETE.fullmatch(text)
            if m and s.completed is None:
                s.completed = ts
                s.status = m.group(1).strip()
                s.event(ts, "complete", s.status)
            return
        if text.startswith("Starting ICE check"):
            s.started = s.started if s.started is not None else ts
            s.event(ts, "start", "checks started")
            return
        if text.startswith("Role changed to"):
            m = RE_ROLE.match(text)
            if m:
                s.role = m.group(1)
                s.roles.append(m.group(1))
                s.event(ts, "role", m.group(1))
            return
        if text.startswith("All checks have completed. Controlled agent now waits"):
            s.waited_for_nomination = True
            s.event(ts, "wait-nomination", "all checks done; waiting for nomination")
            return
        if text.startswith("Controlled agent timed-out in waiting"):
            s.nomination_timeout = True
            s.event(ts, "nomination-timeout", "gave up waiting for nomination")
            return
        if text.startswith("Error: no checklist can be created"):
            s.skipped_checklist = "no checklist can be created"
            return
        if text.startswith("Destroying ICE session"):
            self._end(s.name, ts, "destroyed")
            return
        if text.startswith(PEER_ACTIVITY):
            if s.peer_first is None:
                s.peer_first = ts
                s.event(ts, "peer-activity", text[:80])
            if text.startswith("Added new remote candidate"):
                m = RE_PRFLX_REMOTE.match(text)
                if m:
                    s.remote_prflx.append(f"{m.group(1)}:{m.group(2)}")
            if text.startswith("Ignored incoming check"):
                s.ignored_after_complete += 1
            if text.startswith(TRIGGER_DONE):
                s.triggered_total += 1
                s.triggered_after_peer += 1
                s.event(ts, "triggered-check", text[:80])
            return

    def _dump_row(self, s: Session, m: re.Match[str]) -> None:
        key = _pair_key(m)
        nominated = m.group(5) == "nominated"
        state = m.group(6)
        if s._dump == "valid":
            s.valid_list.append(
                {
                    "pair": _key_text(key),
                    "comp": key[0],
                    "remote": key[2],
                    "nominated": nominated,
                    "state": state,
                }
            )
        else:
            c = s.check(key)
            c.state = state
            c.nominated = c.nominated or nominated

    # -- Asterisk lines -------------------------------------------------------------------------
    def _ast(self, line: Line) -> None:
        text = line.text
        if "candidates; skipping checklist" in text and (
            "ICE no RTP candidates" in text or "ICE no RTCP candidates" in text
        ):
            rtcp = "no RTCP" in text
            sig = "rtcp-mux-one-component" if rtcp else "component-2-only"
            what = "no RTCP (component 2) candidates" if rtcp else "no RTP (component 1) candidates"
            s = self._last_pj
            if s is not None and s.name in self.live:
                s.skipped_checklist = what
                s.event(line.ts, "no-checklist", f"Asterisk skipped the checklist: {what}")
            else:  # no session to pin it on: report it on its own
                self._finding(line, sig, f"res_rtp_asterisk: {text.split(') ', 1)[-1]}")
            return
        if "RTP" in text:
            m = RE_MEDIA.search(text)
            if m and len(self.media) < 10000:
                self.media.append((line.ts, m.group(1)))

    def _finding(self, line: Line, sig: str, evidence: str) -> None:
        self._finding_at(line.ts, line.stamp, sig, evidence)

    def _finding_at(self, ts: float | None, stamp: str | None, sig: str, evidence: str) -> None:
        self.signature_counts[sig] = self.signature_counts.get(sig, 0) + 1
        if len(self.findings) < 100:
            self.findings.append(
                {
                    "t": ts,
                    "stamp": stamp,
                    "signature": sig,
                    "evidence": evidence,
                    "line": self.lineno,
                }
            )

    # -- session end ----------------------------------------------------------------------------
    def _end(self, name: str, ts: float | None, why: str) -> None:
        s = self.live.pop(name, None)
        if s is None:
            return
        s.ended = ts
        s.event(ts, "end", why)
        self._finish_session(s)

    def _finish_session(self, s: Session) -> None:
        s._dump = ""
        summary_sigs = signatures(s, self.media)
        for sig in summary_sigs:
            self.signature_counts[sig["signature"]] = (
                self.signature_counts.get(sig["signature"], 0) + 1
            )
        out = s.outcome()
        self.outcomes[out] = self.outcomes.get(out, 0) + 1
        if self._last_pj is s:
            self._last_pj = None
        if len(self.finished) < MAX_SESSIONS:
            s.found = summary_sigs
            self.finished.append(s)
        else:
            self.sessions_dropped += 1

    def finish(self) -> None:
        if self._tail:
            tail, self._tail = self._tail, b""
            self.feed(tail + b"\n")
        for name in list(self.live):
            s = self.live.pop(name)
            self._finish_session(s)

    # -- output ---------------------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        return {
            "lines": self.lineno,
            "pjlib_lines": self.pj_lines,
            "ice_lines": self.ice_lines,
            "sessions_total": self.sessions_total,
            "sessions_shown": len(self.finished),
            "outcomes": dict(self.outcomes),
            "signatures": dict(self.signature_counts),
            "jingle_rejections": self.jingle.rejections,  # sessions the peer refused
            "findings": [
                dict(f, explanation=EXPLAIN[f["signature"]], patch=PATCHES[f["signature"]])
                for f in self.findings
            ],
            "sessions": [session_report(s) for s in self.finished],
        }


def signatures(s: Session, media: list[tuple[float | None, str]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def add(sig: str, evidence: str) -> None:
        found.append(
            {
                "signature": sig,
                "explanation": EXPLAIN[sig],
                "patch": PATCHES[sig],
                "evidence": evidence,
            }
        )

    outcome = s.outcome()
    checks = list(s.checks.values())
    succeeded = [c for c in checks if c.state == "Succeeded" or c.succeeded_at is not None]
    nominated = [c for c in checks if c.nominated] or [
        c for c in checks if any(n["pair"] == _key_text(c.key) for n in s.nominations)
    ]

    # 1. Checks failed before the peer started; no triggered check followed.
    failed_early = [
        c
        for c in checks
        if c.failed_at is not None and (s.peer_first is None or c.failed_at <= s.peer_first)
    ]
    if (
        outcome != "success"
        and failed_early
        and s.peer_first is not None
        and s.triggered_after_peer == 0
        and not succeeded
    ):
        first_fail = min(c.failed_at for c in failed_early if c.failed_at is not None)
        late = s.peer_first - first_fail if s.peer_first is not None else 0.0
        extra = (
            f"; {s.ignored_after_complete} incoming check(s) ignored after ICE completed"
            if s.ignored_after_complete
            else ""
        )
        add(
            "late-peer-no-triggered-check",
            f"{len(failed_early)} check(s) failed, the peer's first check came {late:.1f} s "
            f"after the first failure, no triggered check followed{extra}",
        )

    # 2. Component-2-only.
    comps = {k[0] for k in s.checks}
    if comps == {2} or (s.skipped_checklist.startswith("no RTP")):
        add(
            "component-2-only",
            "checklist pairs are all component 2"
            if comps == {2}
            else "Asterisk skipped the checklist: no component-1 candidates",
        )

    # 2b. The peer muxes RTCP (component 1 only); Asterisk wanted 2 and skipped the checklist.
    if s.skipped_checklist.startswith("no RTCP") and not s.checks:
        add(
            "rtcp-mux-one-component",
            "Asterisk skipped the checklist: ICE no RTCP candidates (2-component session)",
        )

    # 3. The role was never set (chan_motif): pjnath's outcome is meaningless.
    role_unknown = s.roles == ["Unknown"] and s.role == "Unknown"
    if role_unknown and (s.started is not None or s.checks):
        add(
            "ice-role-unknown",
            "pjnath logged 'role is Unknown agent' and no role change"
            + (f"; outcome {s.status}" if s.status else ""),
        )

    # 4. Valid pairs but no nomination (the controlled agent waited in vain).
    if succeeded and not nominated and outcome != "success" and not role_unknown:
        comps_valid = sorted({c.key[0] for c in succeeded})
        why = (
            "the peer's checks carried the renomination attribute 0xC001 "
            f"({s.renomination_attr_seen} seen)"
            if s.renomination_attr_seen
            else "no USE-CANDIDATE was ever received (a renomination-only peer looks "
            "like this; level-5 STUN dumps would show Attr 0xc001)"
        )
        if s.nomination_timeout:
            why += "; pjnath timed out waiting for nomination"
        add(
            "no-nomination-renomination",
            f"valid pair(s) for component(s) {comps_valid} but none nominated: {why}",
        )

    # 5. Media to a valid pair that is not the nominated one.
    nominated_remote = {c.key[2] for c in nominated if c.key[0] == 1}
    valid_remote = {c.key[2] for c in succeeded if c.key[0] == 1} | {
        v["remote"] for v in s.valid_list if v["comp"] == 1
    }
    if nominated_remote:
        t0 = s.created if s.created is not None else s.started
        for ts, dest in media:
            if t0 is not None and ts is not None and ts < t0:
                continue
            if s.ended is not None and ts is not None and ts > s.ended + 60:
                continue
            if dest in valid_remote and dest not in nominated_remote:
                add(
                    "media-not-to-nominated",
                    f"media sent to {dest}; nominated pair goes to "
                    f"{', '.join(sorted(nominated_remote))}",
                )
                break
    return found


def session_report(s: Session) -> dict[str, Any]:
    def rel(ts: float | None) -> float | None:
        base = s.created if s.created is not None else s.started
        if ts is None or base is None:
            return None
        return round(ts - base, 3)

    local: dict[str, dict[str, int]] = {}
    for c in s.local:
        local.setdefault(str(c["comp"]), {}).setdefault(c["type"], 0)
        local[str(c["comp"])][c["type"]] += 1
    remote: dict[str, list[str]] = {}
    for k in s.checks:
        lst = remote.setdefault(str(k[0]), [])
        if k[2] not in lst:
            lst.append(k[2])
    start = s.created if s.created is not None else s.started
    end = s.completed if s.completed is not None else (s.ended or s.last_ts)
    return {
        "session": s.name,
        "ordinal": s.ordinal,
        "first_line": s.first_line,
        "role": s.role,
        "components": s.comp_cnt,
        "candidates": {
            "local": local,
            "local_list": s.local,
            "remote": remote,
            "remote_prflx": s.remote_prflx,
        },
        "checklist": [
            {
                "pair": _key_text(c.key),
                "state": c.state,
                "nominated": c.nominated,
                **({"failure": c.failure} if c.failure else {}),
            }
            for c in s.checks.values()
        ],
        "valid_list": s.valid_list,
        "state_changes": [dict(e, t=rel(e["t"])) for e in s.events],
        "state_changes_dropped": s.events_dropped,
        "nominations": [dict(n, t=rel(n["t"])) for n in s.nominations],
        "outcome": s.outcome(),
        "status": s.status,
        "duration": round(end - start, 3) if end is not None and start is not None else None,
        "signatures": s.found,
    }
