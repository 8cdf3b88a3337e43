"""disco#info (XEP-0030) and presence for the gateway domain and its number JIDs.

Only what the gateway really does is advertised: Jingle RTP audio over ICE-UDP, Jingle
Message Initiation, and DTLS-SRTP only when the Motif endpoint has it on. rtcp-mux is
negotiated inside the offer (XEP-0167 `<rtcp-mux/>`) and has no feature of its own.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from callctl.xmppgw.xml import (
    NS_DISCO_INFO,
    NS_DTLS,
    NS_ICE_UDP,
    NS_JINGLE,
    NS_JMI,
    NS_RTP,
    NS_RTP_AUDIO,
    q,
    stanza,
)


def features(dtls: bool) -> tuple[str, ...]:
    found = [NS_DISCO_INFO, NS_JINGLE, NS_RTP, NS_RTP_AUDIO, NS_ICE_UDP, NS_JMI]
    if dtls:
        found.append(NS_DTLS)
    return tuple(sorted(found))


def info_query(domain_itself: bool, dtls: bool, node: str = "") -> ET.Element:
    """The <query/> answering disco#info: the domain is a PSTN gateway, a number JID a phone."""
    query = ET.Element(q(NS_DISCO_INFO, "query"), {"node": node} if node else {})
    category, kind, name = (
        ("gateway", "pstn", "callctl phone gateway")
        if domain_itself
        else ("client", "phone", "phone number")
    )
    ET.SubElement(
        query, q(NS_DISCO_INFO, "identity"), {"category": category, "type": kind, "name": name}
    )
    for var in features(dtls):
        ET.SubElement(query, q(NS_DISCO_INFO, "feature"), {"var": var})
    return query


def presence(frm: str, to: str, kind: str = "") -> ET.Element:
    """Available presence (or `subscribed` etc. when `kind` is set) from a number JID."""
    return stanza("presence", {"from": frm, "to": to, "type": kind})
