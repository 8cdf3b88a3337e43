"""Streaming analysis of pjnath ICE sessions in an Asterisk (or raw pjlib) debug log.

Sans-IO: `IceLogAnalyzer.feed(bytes)` (any chunking) or `feed_line(str)`, `finish()` at the
end, then `report()`. The jobs are split: scan.py finds the lines worth parsing, framing.py
splits a line into time, sender and text, session.py keeps each ICE session's model,
stundump.py reads pjnath's STUN dumps, jingle.py res_xmpp's Jingle stanzas, signatures.py
names the failures and report.py shapes the result. This module routes lines between them.

Memory is bounded whatever the input: per session at most `session.MAX_EVENTS` state
changes and `session.MAX_ITEMS` pairs, candidates..., at most `MAX_LIVE` sessions open at once
(the oldest is closed as incomplete past that: a log of sessions never destroyed), at most
`MAX_SESSIONS` finished sessions kept in full, lines longer than `scan.MAX_LINE` skipped. Each
of these is counted in the report's `warnings`. Work is linear in the input: the anchor set is
fixed, sessions are found by remote address through an index.

The Asterisk lines matched here are quoted from `res/res_rtp_asterisk.c` (ast_debug_ice /
ast_log / rtp debug).
"""

from __future__ import annotations

import re
from typing import Any

from callctl.icelog.framing import Framer, Line
from callctl.icelog.jingle import JingleWatch
from callctl.icelog.report import session_report
from callctl.icelog.scan import MAX_LINE, WIRE_KEYS, AnchorScanner
from callctl.icelog.session import (
    RE_DUMP_ROW,
    Session,
    apply_line,
    created_line,
    destroyed_session,
    dump_row,
)
from callctl.icelog.signatures import EXPLAIN, PATCHES, signatures
from callctl.icelog.stanzas import HEADER as XMPP_HEADER
from callctl.icelog.stundump import StunDumpReader
from callctl.icelog.webrtc import WebrtcFinding, WebrtcWatch

MAX_SESSIONS = 500  # finished sessions kept in full
MAX_LIVE = 2000  # sessions open at once (Asterisk destroys each at hang-up)
MAX_FINDINGS = 100
MAX_MEDIA = 10000
MAX_TRANSACTIONS = 256  # STUN transaction IDs kept per session (to align a capture)

RE_MEDIA = re.compile(
    r"(?:Sent RTP packet to\s+|Strict RTP learning after remote address set to: |"
    r"Now sending to address |Strict RTP switching to RTP target address )(\S+?)(?:\s|$)"
)


class IceLogAnalyzer:
    def __init__(self, wire_keys: bool = False) -> None:
        """`wire_keys`: also read the STUN dumps' transaction IDs and ufrags, which
        `merge.py` needs to put a capture next to this log."""
        self.framer = Framer()
        self.scanner = AnchorScanner(WIRE_KEYS if wire_keys else ())
        self.stun = StunDumpReader()
        self.jingle = JingleWatch()
        self.webrtc = WebrtcWatch()
        self.lineno = 0
        self.live: dict[str, Session] = {}
        self.finished: list[Session] = []
        self.sessions_total = 0
        self.outcomes: dict[str, int] = {}
        self.signature_counts: dict[str, int] = {}
        self.findings: list[dict[str, Any]] = []
        self.media: list[tuple[float | None, str]] = []
        self.pj_lines = 0
        self.ice_lines = 0
        self._last_pj: Session | None = None
        self._last_ts: float | None = None
        self._last_stamp: str | None = None
        self._by_remote: dict[str, Session] = {}  # remote address -> newest live session
        self.sessions_evicted = 0
        self.items_dropped = 0
        self.lines_too_long = 0

    # -- input ----------------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        """Feed raw log bytes (any chunking); only lines holding an anchor are parsed."""
        for lineno, text in self.scanner.feed(data):
            self.lineno = lineno
            self._handle(text)
        self.lineno = self.scanner.lineno

    def feed_line(self, raw: str) -> None:
        """Feed one line (without or with its newline)."""
        self.lineno += 1
        if len(raw) > MAX_LINE:
            self.lines_too_long += 1
            return
        self._handle(raw)

    def _handle(self, raw: str) -> None:
        line = self.framer.frame(raw.rstrip("\r\n"))
        if line.ts is not None:
            self._last_ts = line.ts
            self._last_stamp = line.stamp
        if line.kind == "pj":
            self.pj_lines += 1
            self._pj(line.ts, line.sender, line.text)
        elif line.kind == "ast":
            self.stun.stop()
            self._ast(line)
        else:
            self._cont(line.text)

    # -- continuation lines: XMPP stanzas, checklist rows, STUN dumps --------------------------
    def _cont(self, text: str) -> None:
        if text.startswith(XMPP_HEADER) or text.startswith("<iq"):
            for mismatch in self.jingle.line(text):
                self._finding(
                    self._last_ts, self._last_stamp, "jingle-content-creator", mismatch.evidence()
                )
            self._webrtc(self.webrtc.stanza(text))
            return
        s = self._last_pj
        if s is not None and s.dump and text[:1].isdigit():
            m = RE_DUMP_ROW.match(text)
            if m:  # a checklist row written as a continuation (unusual framing)
                dump_row(s, m)
                return
        seen = self.stun.line(text, self._last_ts)
        if seen is None:
            return
        s = self._session_for_remote(seen.source)
        if s is None:
            return
        if seen.what == "transaction":
            if len(s.transactions) < MAX_TRANSACTIONS:
                s.transactions.setdefault(seen.tsx, seen.ts)
        elif seen.what == "username":
            if len(s.ufrags) < 8:
                s.ufrags.update(seen.tsx.split(":", 1))
        elif seen.what == "first-request":
            if s.peer_first is None:
                s.peer_first = seen.ts
                s.event(seen.ts, "peer-activity", f"first Binding request from {seen.source}")
        else:
            s.renomination_attr_seen += 1
            s.event(
                seen.ts, "rx-nomination-attr", f"Binding request from {seen.source} carries 0xC001"
            )

    def _session_for_remote(self, addr: str) -> Session | None:
        return self._by_remote.get(addr)

    def _index_remote(self, addr: str, s: Session) -> None:
        cur = self._by_remote.get(addr)
        if cur is None or cur.ordinal < s.ordinal:  # the newest session with it wins
            self._by_remote[addr] = s

    # -- pjlib lines ----------------------------------------------------------------------------
    def _pj(self, ts: float | None, sender: str, text: str) -> None:
        if self.stun.is_header(text):
            self.stun.header(ts, text)
            return
        self.stun.stop()
        if text.startswith("ICE session created"):
            created = created_line(text)
            if created is not None:
                self._create(ts, sender, *created)
                return
        s = self.live.get(sender)
        if s is None:
            if sender == "ice_session.c":
                name = destroyed_session(text)
                if name is not None:
                    self._end(name, ts, "destroyed")
                return
            if not sender.startswith("icess"):
                return
            # A session created before the log started: track it from here.
            s = self._open(Session(sender, self.sessions_total + 1, None, self.lineno))
        self.ice_lines += 1
        self._last_pj = s
        s.last_ts = ts
        if apply_line(s, ts, text):
            self._end(s.name, ts, "destroyed")

    def _create(self, ts: float | None, sender: str, comp_cnt: int, role: str) -> None:
        if sender in self.live:
            self._end(sender, ts, "replaced")
        self.ice_lines += 1
        self.scanner.follow(sender)
        s = self._open(
            Session(
                sender,
                self.sessions_total + 1,
                ts,
                self.lineno,
                comp_cnt=comp_cnt,
                role=role,
                roles=[role],
            )
        )
        self._last_pj = s
        s.last_ts = ts

    def _open(self, s: Session) -> Session:
        if len(self.live) >= MAX_LIVE:  # close the oldest, counted
            oldest = next(iter(self.live))
            self.sessions_evicted += 1
            self._end(oldest, None, "evicted (too many open sessions)")
        self.sessions_total += 1
        s.on_remote = self._index_remote
        self.live[s.name] = s
        return s

    # -- Asterisk lines -------------------------------------------------------------------------
    def _ast(self, line: Line) -> None:
        text = line.text
        self._webrtc(self.webrtc.asterisk(text))
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
                evidence = f"res_rtp_asterisk: {text.split(') ', 1)[-1]}"
                self._finding(line.ts, line.stamp, sig, evidence)
            return
        if "RTP" in text:
            m = RE_MEDIA.search(text)
            if m and len(self.media) < MAX_MEDIA:
                self.media.append((line.ts, m.group(1)))

    def _webrtc(self, found: list[WebrtcFinding]) -> None:
        for f in found:
            self._finding(self._last_ts, self._last_stamp, f.signature, f.evidence)

    def _finding(self, ts: float | None, stamp: str | None, sig: str, evidence: str) -> None:
        self.signature_counts[sig] = self.signature_counts.get(sig, 0) + 1
        if len(self.findings) < MAX_FINDINGS:
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
        s.dump = ""
        s.on_remote = None
        for addr in s.remotes:
            if self._by_remote.get(addr) is s:
                del self._by_remote[addr]
        found = signatures(s, self.media)
        for sig in found:
            name = sig["signature"]
            self.signature_counts[name] = self.signature_counts.get(name, 0) + 1
        out = s.outcome()
        self.outcomes[out] = self.outcomes.get(out, 0) + 1
        if self._last_pj is s:
            self._last_pj = None
        self.items_dropped += s.dropped + s.events_dropped
        if len(self.finished) < MAX_SESSIONS:
            s.found = found
            self.finished.append(s)

    def finish(self) -> None:
        for lineno, text in self.scanner.finish():
            self.lineno = lineno
            self._handle(text)
        self.lineno = max(self.lineno, self.scanner.lineno)
        self._webrtc(self.webrtc.finish())
        for name in list(self.live):
            self._finish_session(self.live.pop(name))

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
            "warnings": {  # input the bounds made the analyzer drop, counted
                "sessions_evicted": self.sessions_evicted,
                "lines_too_long": self.lines_too_long + self.scanner.too_long,
                "items_dropped": self.items_dropped,
            },
        }
