"""The relay's rewrite rules: one Jingle IQ from one side, addressed for the other.

Media never passes the gateway: only the signalling is rewritten, and the ICE candidates in
it go through untouched, so RTP flows directly between the client and Asterisk.

    client side                         Asterisk side
    user (client's full JID)     <->    relay (token JID c-/t-<token>@domain/relay)
    facing (number JID it calls) <->    asterisk (res_xmpp's full JID)

The stanza's `from`/`to` and the `<jingle/>` element's `initiator`/`responder` attributes
are mapped; the sid, contents, transports and every other payload are copied as they are.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

from callctl.xmppgw.xml import NS_JINGLE, NS_RTP_INFO, q

__all__ = ["NS_RTP_INFO", "to_asterisk", "to_client"]
_ROLES = ("initiator", "responder")


def _rewrite(iq: ET.Element, frm: str, to: str, mapping: dict[str, str]) -> ET.Element:
    sent = copy.deepcopy(iq)
    sent.set("from", frm)
    sent.set("to", to)
    for jingle in sent.iter(q(NS_JINGLE, "jingle")):
        for role in _ROLES:
            value = jingle.get(role)
            if value is not None and value in mapping:
                jingle.set(role, mapping[value])
    return sent


def to_asterisk(iq: ET.Element, user: str, facing: str, relay: str, asterisk: str) -> ET.Element:
    """A client's IQ, as Asterisk must see it: from the token JID, naming no client JID."""
    return _rewrite(iq, relay, asterisk, {user: relay, facing: asterisk})


def to_client(iq: ET.Element, user: str, facing: str, relay: str, asterisk: str) -> ET.Element:
    """Asterisk's IQ, as the client must see it: from the number JID it called or is
    called from, naming no token and not Asterisk's own JID."""
    return _rewrite(iq, facing, user, {relay: user, asterisk: facing})
