"""disco#info (XEP-0030) and presence for the gateway domain and its number JIDs.

Only what the gateway really does is advertised: Jingle RTP audio over ICE-UDP, Jingle
Message Initiation, and DTLS-SRTP only when the Motif endpoint has it on. rtcp-mux is
negotiated inside the offer (XEP-0167 `<rtcp-mux/>`) and has no feature of its own.
"""

from __future__ import annotations

import base64
import hashlib
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

NS_CAPS = "http://jabber.org/protocol/caps"
CAPS_NODE = "urn:x-callctl:gateway"  # names the software in XEP-0115 caps


def features(dtls: bool) -> tuple[str, ...]:
    found = [NS_DISCO_INFO, NS_JINGLE, NS_RTP, NS_RTP_AUDIO, NS_ICE_UDP, NS_JMI]
    if dtls:
        found.append(NS_DTLS)
    return tuple(sorted(found))


def identity(domain_itself: bool) -> tuple[str, str, str]:
    """(category, type, name): the domain is a PSTN gateway, a number JID a phone."""
    if domain_itself:
        return "gateway", "pstn", "callctl phone gateway"
    return "client", "phone", "phone number"


def caps_ver(identities: list[tuple[str, str, str, str]], feature_vars: tuple[str, ...]) -> str:
    """XEP-0115 §5.1 verification string: (category, type, lang, name) identities and the
    features, sorted, hashed with SHA-1, base64."""
    text = "".join(f"{c}/{t}/{lang}/{n}<" for c, t, lang, n in sorted(identities))
    text += "".join(f"{var}<" for var in sorted(feature_vars))
    return base64.b64encode(hashlib.sha1(text.encode()).digest()).decode()


def caps(dtls: bool) -> ET.Element:
    """The <c/> a number JID's presence carries, so clients learn its features (call button)
    from the presence and ask disco#info only once per `ver`."""
    category, kind, name = identity(False)
    ver = caps_ver([(category, kind, "", name)], features(dtls))
    return ET.Element(q(NS_CAPS, "c"), {"hash": "sha-1", "node": CAPS_NODE, "ver": ver})


def info_query(domain_itself: bool, dtls: bool, node: str = "") -> ET.Element:
    """The <query/> answering disco#info (for a caps `node#ver` too: the same answer)."""
    query = ET.Element(q(NS_DISCO_INFO, "query"), {"node": node} if node else {})
    category, kind, name = identity(domain_itself)
    ET.SubElement(
        query, q(NS_DISCO_INFO, "identity"), {"category": category, "type": kind, "name": name}
    )
    for var in features(dtls):
        ET.SubElement(query, q(NS_DISCO_INFO, "feature"), {"var": var})
    return query


def presence(frm: str, to: str, kind: str = "", dtls: bool = False) -> ET.Element:
    """Available presence with caps (or `subscribed` etc. when `kind` is set) from a number JID."""
    pres = stanza("presence", {"from": frm, "to": to, "type": kind})
    if not kind:
        pres.append(caps(dtls))
    return pres
