"""Why a real WebRTC client (a browser, libwebrtc) got no media, from Asterisk's log; pure.

WebRTC clients need DTLS-SRTP (XEP-0320 `<fingerprint/>` in the Jingle transport) and
browsers need RTCP muxed (`<rtcp-mux/>`); they also send what chan_motif does not expect (a
XEP-0338 BUNDLE `<group/>`, a `<fingerprint/>` child in `<transport/>`). Those calls fail in
signalling or in DTLS, before or without any ICE verdict, so the ICE signatures cannot name
them. This watcher reads res_xmpp's Jingle stanzas (as jingle.py does) and chan_motif's and
res_rtp_asterisk's error lines, per Jingle session, and names:

- webrtc-fingerprint-as-candidate: the client's `<transport/>` carried a `<fingerprint/>` and
  chan_motif logged "Incomplete ICE-UDP candidate" although every `<candidate/>` had all its
  attributes: it took the fingerprint element for a candidate (stock takes every child).
- webrtc-candidate-incomplete: the same log line, with a candidate missing an attribute
  chan_motif requires (clients in the wild omit generation/id/network).
- webrtc-bundle-group-refused: the client sent a BUNDLE `<group/>` and chan_motif read it as
  a content ("Received content without a name") or ended the call incompatible-parameters.
- webrtc-no-fingerprint: the client speaks DTLS (its offer had a fingerprint), or refused
  Asterisk's content (senders='none', empty transport), and what Asterisk sent for that
  session (offer or answer) had no `<fingerprint/>`.
- webrtc-rtcp-mux-missing: Asterisk's offer had no `<rtcp-mux/>` and the client refused the
  session-initiate or the content (browsers require rtcp-mux).
- webrtc-transport-incomplete: a `<transport/>` Asterisk sent in an offer or answer had no
  ufrag/pwd (a JavaScript stack then fails on the first transport-info).
- webrtc-dtls-never-started: "Received SSL traffic on RTP instance ... without an SSL session":
  the client's DTLS ClientHello reached an RTP instance chan_motif never set DTLS up on.

Regular expressions, not an XML parser: the log is untrusted text; memory is bounded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from callctl.icelog.stanzas import CONTENT, HEADER, JINGLE, direction, tag_attrs

MAX_SESSIONS = 1000

_TRANSPORT = re.compile(r"<transport\b([^>]*?)(/?)>")
_CANDIDATE = re.compile(r"<candidate\b([^>]*)>")
_FINGERPRINT = re.compile(r"<fingerprint\b[^>]*urn:xmpp:jingle:apps:dtls:0")
_GROUP = re.compile(r"<group\b[^>]*semantics\s*=\s*['\"]BUNDLE")
_RTCP_MUX = re.compile(r"<rtcp-mux\b")
_REASON = re.compile(r"<reason>\s*<([a-z-]+)")
_IQ = re.compile(r"<iq\b([^>]*)>")
# chan_motif requires all of these on a candidate (jingle_interpret_ice_udp_transport).
REQUIRED = (
    "component",
    "foundation",
    "generation",
    "id",
    "ip",
    "port",
    "priority",
    "protocol",
    "type",
)
_INCOMPLETE = re.compile(r"Incomplete ICE-UDP candidate received on session '([^']*)'")
_NO_NAME = re.compile(r"Received content without a name on session '([^']*)'")
_NO_SSL = "without an SSL session"

SIGNATURES = (
    "webrtc-fingerprint-as-candidate",
    "webrtc-candidate-incomplete",
    "webrtc-bundle-group-refused",
    "webrtc-no-fingerprint",
    "webrtc-rtcp-mux-missing",
    "webrtc-transport-incomplete",
    "webrtc-dtls-never-started",
)


@dataclass
class _Session:
    sid: str
    initiated_by_peer: bool
    peer_fingerprint: bool = False
    peer_group: bool = False
    peer_candidates_missing: list[str] = field(default_factory=list)  # first few
    peer_refused_content: bool = False
    peer_refused_offer: bool = False  # an IQ error to Asterisk's session-initiate
    offer_iq: str = ""  # id of Asterisk's session-initiate IQ
    sent_fingerprint: bool = False
    sent_rtcp_mux: bool = False
    sent_offer_or_answer: bool = False
    sent_bare_transport: bool = False
    terminated_with: str = ""  # reason Asterisk sent
    incomplete_logged: bool = False
    no_name_logged: bool = False
    reported: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class WebrtcFinding:
    signature: str
    sid: str
    evidence: str


class WebrtcWatch:
    """Feed XMPP continuation lines (`stanza`) and Asterisk log texts (`asterisk`), in order."""

    def __init__(self) -> None:
        self._direction: str | None = None
        self._sessions: dict[str, _Session] = {}
        self._last_dtls_peer: _Session | None = None

    # -- input ----------------------------------------------------------------------------
    def stanza(self, text: str) -> list[WebrtcFinding]:
        if text.startswith(HEADER):
            self._direction = direction(text)
            return []
        if self._direction is None:
            return []
        found: list[WebrtcFinding] = []
        if self._direction == "received" and ("type='error'" in text or 'type="error"' in text):
            self._iq_error(text)
        for m in JINGLE.finditer(text):
            head, body = tag_attrs(m.group(1)), m.group(2)
            sid, action = head.get("sid", ""), head.get("action", "")
            if not sid:
                continue
            s = self._session(sid, action)
            if s is None:
                continue
            if self._direction == "received":
                self._from_peer(s, action, body)
            else:
                iq = _IQ.search(text[: m.start()])
                self._from_asterisk(
                    s, action, body, tag_attrs(iq.group(1)).get("id", "") if iq else ""
                )
            found += self._judge(s, final=action == "session-terminate")
        return found

    def asterisk(self, text: str) -> list[WebrtcFinding]:
        found: list[WebrtcFinding] = []
        m = _INCOMPLETE.search(text)
        if m and (s := self._sessions.get(m.group(1))) is not None:
            s.incomplete_logged = True
            found += self._judge(s)
        m = _NO_NAME.search(text)
        if m and (s := self._sessions.get(m.group(1))) is not None:
            s.no_name_logged = True
            found += self._judge(s)
        if _NO_SSL in text and self._last_dtls_peer is not None:
            s = self._last_dtls_peer
            found += self._emit(
                s,
                "webrtc-dtls-never-started",
                f"Jingle session {s.sid}: the client offered DTLS, and Asterisk logged "
                f"'{text.strip()[:160]}' (its RTP instance has no DTLS session)",
            )
        return found

    def finish(self) -> list[WebrtcFinding]:
        found: list[WebrtcFinding] = []
        for s in self._sessions.values():
            found += self._judge(s, final=True)
        return found

    # -- per stanza -----------------------------------------------------------------------
    def _session(self, sid: str, action: str) -> _Session | None:
        s = self._sessions.get(sid)
        if s is None and action == "session-initiate":
            if len(self._sessions) >= MAX_SESSIONS:
                self._sessions.pop(next(iter(self._sessions)))
            s = _Session(sid, initiated_by_peer=self._direction == "received")
            self._sessions[sid] = s
        return s

    def _from_peer(self, s: _Session, action: str, body: str) -> None:
        if _FINGERPRINT.search(body):
            s.peer_fingerprint = True
            self._last_dtls_peer = s
        if action == "session-initiate" and _GROUP.search(body):
            s.peer_group = True
        for c in _CANDIDATE.finditer(body):
            attrs = tag_attrs(c.group(1))
            missing = [a for a in REQUIRED if a not in attrs]
            if missing and len(s.peer_candidates_missing) < 4:
                s.peer_candidates_missing.append(",".join(missing))
        if action == "session-accept":
            for c in CONTENT.finditer(body):
                if tag_attrs(c.group(1)).get("senders") == "none":
                    s.peer_refused_content = True

    def _from_asterisk(self, s: _Session, action: str, body: str, iq_id: str) -> None:
        if action in ("session-initiate", "session-accept"):
            s.sent_offer_or_answer = True
            s.sent_fingerprint = s.sent_fingerprint or bool(_FINGERPRINT.search(body))
            s.sent_rtcp_mux = s.sent_rtcp_mux or bool(_RTCP_MUX.search(body))
            for t in _TRANSPORT.finditer(body):
                attrs = tag_attrs(t.group(1))
                if "ufrag" not in attrs or "pwd" not in attrs:
                    s.sent_bare_transport = True
            if action == "session-initiate":
                s.offer_iq = iq_id
        if action == "session-terminate":
            reason = _REASON.search(body)
            s.terminated_with = reason.group(1) if reason else "?"

    def _iq_error(self, text: str) -> None:
        for m in _IQ.finditer(text):
            attrs = tag_attrs(m.group(1))
            if attrs.get("type") != "error":
                continue
            for s in self._sessions.values():
                if s.offer_iq and s.offer_iq == attrs.get("id"):
                    s.peer_refused_offer = True

    # -- verdicts -------------------------------------------------------------------------
    def _emit(self, s: _Session, sig: str, evidence: str) -> list[WebrtcFinding]:
        if sig in s.reported:
            return []
        s.reported.add(sig)
        return [WebrtcFinding(sig, s.sid, evidence)]

    def _judge(self, s: _Session, final: bool = False) -> list[WebrtcFinding]:
        found: list[WebrtcFinding] = []
        sid = s.sid
        if s.incomplete_logged and s.peer_candidates_missing:
            found += self._emit(
                s,
                "webrtc-candidate-incomplete",
                f"Jingle session {sid}: chan_motif logged 'Incomplete ICE-UDP candidate' and "
                f"the client's candidates lack {s.peer_candidates_missing}",
            )
        elif s.incomplete_logged and s.peer_fingerprint:
            found += self._emit(
                s,
                "webrtc-fingerprint-as-candidate",
                f"Jingle session {sid}: chan_motif logged 'Incomplete ICE-UDP candidate' though "
                "every <candidate/> the client sent had all attributes; the other child of its "
                "<transport/> was the XEP-0320 <fingerprint/>",
            )
        if s.peer_group and (s.no_name_logged or s.terminated_with == "incompatible-parameters"):
            seen = (
                "logged 'Received content without a name'"
                if s.no_name_logged
                else "ended the call incompatible-parameters"
            )
            found += self._emit(
                s,
                "webrtc-bundle-group-refused",
                f"Jingle session {sid}: the client's session-initiate has a BUNDLE <group/> "
                f"(XEP-0338) and chan_motif {seen}",
            )
        if not final:
            return found
        refused = s.peer_refused_content or s.peer_refused_offer
        if s.sent_offer_or_answer and not s.sent_fingerprint and (s.peer_fingerprint or refused):
            why = (
                "the client offered DTLS-SRTP (a fingerprint)"
                if s.peer_fingerprint
                else "the client refused Asterisk's offer"
            )
            found += self._emit(
                s,
                "webrtc-no-fingerprint",
                f"Jingle session {sid}: {why}, and what Asterisk sent for it has no XEP-0320 "
                "<fingerprint/>",
            )
        if not s.initiated_by_peer and s.sent_offer_or_answer and not s.sent_rtcp_mux and refused:
            found += self._emit(
                s,
                "webrtc-rtcp-mux-missing",
                f"Jingle session {sid}: Asterisk's offer has no <rtcp-mux/> and the client "
                "refused it",
            )
        if s.sent_bare_transport and (refused or s.peer_fingerprint):
            found += self._emit(
                s,
                "webrtc-transport-incomplete",
                f"Jingle session {sid}: a <transport/> in Asterisk's offer or answer has no "
                "ufrag/pwd",
            )
        return found
