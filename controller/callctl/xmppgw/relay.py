"""The relay's rewrite rules: one Jingle IQ from one side, addressed for the other.

Media never passes the gateway: only the signalling is rewritten, and the ICE candidates in
it go through untouched, so RTP flows directly between the client and Asterisk.

    client side                         Asterisk side
    user (client's full JID)     <->    relay (token JID c-/t-<token>@domain/relay)
    facing (number JID it calls) <->    asterisk (res_xmpp's full JID)

The stanza's `from`/`to` are set for the other side. The `<jingle/>` element's `initiator`
and `responder` attributes, where present, are set from the session's fixed roles (the client
initiated an outbound call, Asterisk an inbound one), whatever the sender wrote, so a client
cannot name a third party to Asterisk. The sid, contents, transports and every other payload
are copied as they are.
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET

from callctl.xmppgw.xml import NS_JINGLE, NS_RTP_INFO, q

__all__ = ["NS_RTP_INFO", "to_asterisk", "to_client"]


def _rewrite(iq: ET.Element, frm: str, to: str, initiator: str, responder: str) -> ET.Element:
    sent = copy.deepcopy(iq)
    sent.set("from", frm)
    sent.set("to", to)
    for jingle in sent.iter(q(NS_JINGLE, "jingle")):
        for role, value in (("initiator", initiator), ("responder", responder)):
            if jingle.get(role) is not None:
                jingle.set(role, value)
    return sent


def to_asterisk(iq: ET.Element, relay: str, asterisk: str, *, client_initiated: bool) -> ET.Element:
    """A client's IQ, as Asterisk must see it: from the token JID, naming no client JID."""
    roles = (relay, asterisk) if client_initiated else (asterisk, relay)
    return _rewrite(iq, relay, asterisk, *roles)


def to_client(iq: ET.Element, user: str, facing: str, *, client_initiated: bool) -> ET.Element:
    """Asterisk's IQ, as the client must see it: from the number JID it called or is
    called from, naming no token and not Asterisk's own JID."""
    roles = (user, facing) if client_initiated else (facing, user)
    return _rewrite(iq, facing, user, *roles)
