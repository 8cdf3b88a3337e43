"""Jingle signalling read from Asterisk's XMPP debug output (xmpp.conf `debug = yes`), pure.

One failure in the seed is not an ICE failure at all: stock chan_motif labels the content of a
session the *client* initiated `creator='responder'` in what it sends back, and a client that
checks (Gajim) refuses the session before any ICE check runs. The ICE analyzer alone would only
see ICE stopping. This watcher follows each Jingle session's contents (who created each one,
from the session-initiate) and reports a stanza Asterisk sent that names a content with the
wrong creator.

Asterisk writes each stanza as a continuation line after a header line
`<--- XMPP sent to 'CONN' --->` or `<--- XMPP received from 'CONN' --->`. A line may hold more
than one stanza (a reply and the next request). Regular expressions, not an XML parser: the
log is untrusted text and only four attributes matter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from callctl.icelog.stanzas import CONTENT, HEADER, JINGLE, direction, tag_attrs

NAMESPACE = "urn:xmpp:jingle:1"

_FINGERPRINT = re.compile(r"<fingerprint\b([^>]*)>")
_REJECTION = re.compile(r"<(failed-application|bad-request|unsupported-transports)\b")
MAX_SESSIONS = 1000  # bounded memory on an endless log


@dataclass
class _Session:
    initiated_by_peer: bool
    creators: dict[str, str] = field(default_factory=dict)  # content name -> creator
    reported: bool = False


@dataclass(frozen=True)
class CreatorMismatch:
    sid: str
    content: str
    sent_creator: str
    real_creator: str
    action: str

    def evidence(self) -> str:
        who = "the client" if self.real_creator == "initiator" else "Asterisk"
        return (
            f"Asterisk's {self.action} for Jingle session {self.sid} names content "
            f"'{self.content}' creator='{self.sent_creator}', but {who} created it "
            f"(creator='{self.real_creator}' in the session-initiate)"
        )


class JingleWatch:
    """Feed the continuation lines of Asterisk's XMPP debug output, in order."""

    def __init__(self) -> None:
        self._direction: str | None = None  # "sent" or "received": the last header seen
        self._sessions: dict[str, _Session] = {}
        self.rejections = 0  # error replies / terminations that refuse a session
        # The DTLS role each side last signalled (XEP-0320 `setup`): "sent" is Asterisk's.
        self.setup: dict[str, str] = {}

    def line(self, text: str) -> list[CreatorMismatch]:
        if text.startswith(HEADER):
            self._direction = direction(text)
            return []
        if self._direction is None or ("<jingle" not in text and "<error" not in text):
            return []
        if self._direction == "received" and _REJECTION.search(text):
            self.rejections += 1
        for fp in _FINGERPRINT.finditer(text):
            setup = tag_attrs(fp.group(1)).get("setup")
            if setup:
                self.setup[self._direction] = setup[:16]
        found: list[CreatorMismatch] = []
        for m in JINGLE.finditer(text):
            head, body = tag_attrs(m.group(1)), m.group(2)
            sid, action = head.get("sid", ""), head.get("action", "")
            if not sid:
                continue
            contents = [tag_attrs(c.group(1)) for c in CONTENT.finditer(body)]
            if action == "session-initiate":
                if len(self._sessions) >= MAX_SESSIONS:
                    self._sessions.pop(next(iter(self._sessions)))
                self._sessions[sid] = _Session(
                    initiated_by_peer=self._direction == "received",
                    creators={c.get("name", ""): c.get("creator", "initiator") for c in contents},
                )
                continue
            session = self._sessions.get(sid)
            if session is None or self._direction != "sent" or session.reported:
                continue
            for content in contents:
                name, creator = content.get("name", ""), content.get("creator", "")
                real = session.creators.get(name)
                if real is not None and creator and creator != real:
                    session.reported = True
                    found.append(CreatorMismatch(sid, name, creator, real, action))
                    break
        return found
