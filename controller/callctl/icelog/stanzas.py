"""Jingle stanzas as res_xmpp writes them into Asterisk's log, read as text; pure.

Shared by the two watchers that read them (jingle.py: content creators; webrtc.py: what a
WebRTC client needs). Regular expressions, not an XML parser: the log is untrusted text.
"""

from __future__ import annotations

import re

# The header line before each stanza: `<--- XMPP sent to 'CONN' --->` or `... received from`.
HEADER = "<--- XMPP "

JINGLE = re.compile(r"<jingle\b([^>]*)>(.*?)(?:</jingle>|$)", re.S)
CONTENT = re.compile(r"<content\b([^>]*)>")
_ATTR = re.compile(r"""([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*(?:'([^']*)'|"([^"]*)")""")


def direction(text: str) -> str | None:
    """For a HEADER line: "sent" (Asterisk sent the stanzas that follow), "received", or None
    for a header of another kind."""
    rest = text[len(HEADER) :]
    if rest.startswith("sent"):
        return "sent"
    return "received" if rest.startswith("received") else None


def tag_attrs(text: str) -> dict[str, str]:
    """The attributes in an element's opening tag text (either quote style)."""
    return {
        m.group(1): m.group(2) if m.group(2) is not None else m.group(3) or ""
        for m in _ATTR.finditer(text)
    }
