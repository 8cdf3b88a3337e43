"""The probe's Jingle payloads (XEP-0166/0167/0176), sans-IO: an offer out, what came in.

The candidate's wire form (Candidate) is shared with the Jingle test rig
(tests/support/jingle/stanzas.py imports it). One audio content, PCMU only (what the
gateway's Motif endpoint allows), ICE-UDP. Without DTLS: two components (RTP and RTCP: stock
and patched chan_motif both take that). With DTLS (XEP-0320): a fingerprint with
`setup='actpass'` and rtcp-mux on one component, as browsers and Conversations offer.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

NS_JINGLE = "urn:xmpp:jingle:1"
NS_RTP = "urn:xmpp:jingle:apps:rtp:1"
NS_RTP_INFO = "urn:xmpp:jingle:apps:rtp:info:1"
NS_ICE = "urn:xmpp:jingle:transports:ice-udp:1"
NS_DTLS = "urn:xmpp:jingle:apps:dtls:0"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_JMI = "urn:xmpp:jingle-message:0"
CONTENT = "audio"


def q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


# What a candidate may lack in the wild (StanzaJS, browsers' SDP converted to Jingle).
OPTIONAL_CANDIDATE_ATTRS = ("generation", "id", "network")

_CANDIDATE_ATTRS = (
    "component",
    "foundation",
    "generation",
    "id",
    "ip",
    "network",
    "port",
    "priority",
    "protocol",
    "type",
)


@dataclass(frozen=True)
class Candidate:
    component: int
    foundation: str
    ip: str
    port: int
    priority: int
    type: str = "host"
    protocol: str = "udp"
    generation: int = 0
    id: str = ""
    network: int = 0

    def to_element(self, bare: bool = False) -> ET.Element:
        """`bare=True` leaves out generation, id and network, as WebRTC clients do."""
        values = {
            "component": str(self.component),
            "foundation": self.foundation,
            "generation": str(self.generation),
            "id": self.id or f"c{self.component}{self.port}",
            "ip": self.ip,
            "network": str(self.network),
            "port": str(self.port),
            "priority": str(self.priority),
            "protocol": self.protocol,
            "type": self.type,
        }
        names = [k for k in _CANDIDATE_ATTRS if not (bare and k in OPTIONAL_CANDIDATE_ATTRS)]
        return ET.Element(q(NS_ICE, "candidate"), {k: values[k] for k in names})

    @classmethod
    def from_element(cls, elem: ET.Element) -> Candidate:
        """Missing numbers read as 0; a number that is not one raises ValueError."""
        get = elem.attrib.get
        return cls(
            component=int(get("component", "0")),
            foundation=get("foundation", ""),
            ip=get("ip", ""),
            port=int(get("port", "0")),
            priority=int(get("priority", "0")),
            type=get("type", "host"),
            protocol=get("protocol", "udp").lower(),
            generation=int(get("generation", "0")),
            id=get("id", ""),
            network=int(get("network", "0")),
        )


@dataclass
class Incoming:
    """What one Jingle IQ from the peer says."""

    action: str
    sid: str
    ringing: bool = False
    ufrag: str = ""
    pwd: str = ""
    candidates: list[Candidate] = field(default_factory=list)
    fingerprint: str = ""  # the peer's certificate hash (sha-256), as signalled
    setup: str = ""  # its DTLS role: active, passive (actpass only in offers)
    rtcp_mux: bool = False
    reason: str = ""


def offer(
    sid: str,
    initiator: str,
    ufrag: str,
    pwd: str,
    candidates: list[Candidate],
    fingerprint: str = "",
) -> ET.Element:
    """The session-initiate; a `fingerprint` (sha-256, AB:CD:...) offers DTLS-SRTP and
    rtcp-mux."""
    jingle = ET.Element(
        q(NS_JINGLE, "jingle"), {"action": "session-initiate", "sid": sid, "initiator": initiator}
    )
    content = ET.SubElement(
        jingle, q(NS_JINGLE, "content"), {"creator": "initiator", "name": CONTENT}
    )
    desc = ET.SubElement(content, q(NS_RTP, "description"), {"media": "audio"})
    ET.SubElement(desc, q(NS_RTP, "payload-type"), {"id": "0", "name": "PCMU", "clockrate": "8000"})
    transport = ET.SubElement(content, q(NS_ICE, "transport"), {"ufrag": ufrag, "pwd": pwd})
    if fingerprint:
        ET.SubElement(desc, q(NS_RTP, "rtcp-mux"))
        fp = ET.SubElement(
            transport, q(NS_DTLS, "fingerprint"), {"hash": "sha-256", "setup": "actpass"}
        )
        fp.text = fingerprint
    transport.extend(c.to_element() for c in candidates)
    return jingle


def terminate(sid: str, reason: str = "success") -> ET.Element:
    jingle = ET.Element(q(NS_JINGLE, "jingle"), {"action": "session-terminate", "sid": sid})
    ET.SubElement(ET.SubElement(jingle, q(NS_JINGLE, "reason")), q(NS_JINGLE, reason))
    return jingle


def parse(elem: ET.Element) -> Incoming:
    """Read a <jingle/> element; unknown parts are ignored, bad numbers skip a candidate."""
    msg = Incoming(elem.get("action", ""), elem.get("sid", ""))
    msg.ringing = elem.find(q(NS_RTP_INFO, "ringing")) is not None
    msg.rtcp_mux = any(True for _ in elem.iter(q(NS_RTP, "rtcp-mux")))
    reason = elem.find(q(NS_JINGLE, "reason"))
    if reason is not None:
        names = [child.tag.split("}")[-1] for child in reason if child.tag != q(NS_JINGLE, "text")]
        msg.reason = names[0] if names else ""
    for transport in elem.iter(q(NS_ICE, "transport")):
        msg.ufrag = transport.get("ufrag", msg.ufrag)
        msg.pwd = transport.get("pwd", msg.pwd)
        fp = transport.find(q(NS_DTLS, "fingerprint"))
        if fp is not None and (fp.text or "").strip() and fp.get("hash", "").lower() == "sha-256":
            msg.fingerprint = (fp.text or "").strip().upper()
            msg.setup = fp.get("setup", "")
        for c in transport.iter(q(NS_ICE, "candidate")):
            try:
                msg.candidates.append(Candidate.from_element(c))
            except ValueError:
                continue
    return msg


def disco_features(query: ET.Element | None) -> set[str]:
    """The features of a disco#info result's <query/>."""
    if query is None:
        return set()
    return {f.get("var", "") for f in query.iter(q(NS_DISCO_INFO, "feature"))}
