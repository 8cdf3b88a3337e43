"""Jingle (XEP-0166/0167/0176) payloads as plain data, with ElementTree in and out.

Sans-IO: nothing here touches XMPP or sockets, so it is tested without a server.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

# The namespaces, q() and Candidate are the probe's (one copy of the candidate's wire form).
from callctl.probe.jingle import (
    NS_DTLS,
    NS_ICE,
    NS_JINGLE,
    NS_RTP,
    NS_RTP_INFO,
    Candidate,
    q,
)

NS_ERRORS = "urn:xmpp:jingle:errors:1"
# Conversations' namespace for ICE options such as `renomination`.
NS_ICE_OPTION = "http://gultsch.de/xmpp/drafts/jingle/transports/ice-udp/option"
NS_GROUPING = "urn:xmpp:jingle:apps:grouping:0"  # XEP-0338


@dataclass(frozen=True)
class Fingerprint:
    """XEP-0320 <fingerprint/>: the hash of the DTLS certificate and the DTLS role."""

    hash: str
    setup: str
    value: str

    def to_element(self) -> ET.Element:
        elem = ET.Element(q(NS_DTLS, "fingerprint"), {"hash": self.hash, "setup": self.setup})
        elem.text = self.value
        return elem

    @classmethod
    def from_element(cls, elem: ET.Element) -> Fingerprint:
        return cls(elem.get("hash", ""), elem.get("setup", ""), (elem.text or "").strip())


@dataclass
class Transport:
    ufrag: str = ""
    pwd: str = ""
    candidates: list[Candidate] = field(default_factory=list)
    ice_options: list[str] = field(default_factory=list)
    fingerprints: list[Fingerprint] = field(default_factory=list)
    # Write candidates without generation/id/network (Candidate.to_element).
    bare_candidates: bool = False
    # Children that are neither candidates nor ICE options (kept for assertions).
    other_children: list[str] = field(default_factory=list)

    def to_element(self) -> ET.Element:
        attrs = {k: v for k, v in (("ufrag", self.ufrag), ("pwd", self.pwd)) if v}
        elem = ET.Element(q(NS_ICE, "transport"), attrs)
        for option in self.ice_options:
            ET.SubElement(elem, q(NS_ICE_OPTION, option))
        for fingerprint in self.fingerprints:
            elem.append(fingerprint.to_element())
        for cand in self.candidates:
            elem.append(cand.to_element(bare=self.bare_candidates))
        return elem

    @classmethod
    def from_element(cls, elem: ET.Element) -> Transport:
        transport = cls(ufrag=elem.get("ufrag", ""), pwd=elem.get("pwd", ""))
        for child in elem:
            if child.tag == q(NS_ICE, "candidate"):
                transport.candidates.append(Candidate.from_element(child))
            elif child.tag.startswith(f"{{{NS_ICE_OPTION}}}"):
                transport.ice_options.append(child.tag.split("}", 1)[1])
            elif child.tag == q(NS_DTLS, "fingerprint"):
                transport.fingerprints.append(Fingerprint.from_element(child))
            else:
                transport.other_children.append(child.tag)
        return transport


@dataclass(frozen=True)
class PayloadType:
    id: int
    name: str
    clockrate: int
    channels: int = 1

    def to_element(self) -> ET.Element:
        return ET.Element(
            q(NS_RTP, "payload-type"),
            {
                "id": str(self.id),
                "name": self.name,
                "clockrate": str(self.clockrate),
                "channels": str(self.channels),
            },
        )

    @classmethod
    def from_element(cls, elem: ET.Element) -> PayloadType:
        return cls(
            id=int(elem.get("id", "-1")),
            name=elem.get("name", ""),
            clockrate=int(elem.get("clockrate", "0") or 0),
            channels=int(elem.get("channels", "1") or 1),
        )


PCMU = PayloadType(0, "PCMU", 8000)


@dataclass
class Content:
    creator: str
    name: str
    senders: str = "both"
    media: str | None = "audio"  # None: no <description> at all
    payloads: list[PayloadType] = field(default_factory=list)
    rtcp_mux: bool = False
    transport: Transport | None = None

    def to_element(self) -> ET.Element:
        elem = ET.Element(
            q(NS_JINGLE, "content"),
            {
                "creator": self.creator,
                "name": self.name,
                "senders": self.senders,
            },
        )
        if self.media is not None:
            desc = ET.SubElement(elem, q(NS_RTP, "description"), {"media": self.media})
            for payload in self.payloads:
                desc.append(payload.to_element())
            if self.rtcp_mux:
                ET.SubElement(desc, q(NS_RTP, "rtcp-mux"))
        if self.transport is not None:
            elem.append(self.transport.to_element())
        return elem

    @classmethod
    def from_element(cls, elem: ET.Element) -> Content:
        content = cls(
            creator=elem.get("creator", ""),
            name=elem.get("name", ""),
            senders=elem.get("senders", "both"),
            media=None,
        )
        desc = elem.find(q(NS_RTP, "description"))
        if desc is not None:
            content.media = desc.get("media", "")
            content.payloads = [
                PayloadType.from_element(p) for p in desc.findall(q(NS_RTP, "payload-type"))
            ]
            content.rtcp_mux = desc.find(q(NS_RTP, "rtcp-mux")) is not None
        trans = elem.find(q(NS_ICE, "transport"))
        if trans is not None:
            content.transport = Transport.from_element(trans)
        return content

    def has_payload(self, name: str, clockrate: int = 8000) -> bool:
        return any(
            p.name.upper() == name.upper() and p.clockrate == clockrate for p in self.payloads
        )


@dataclass
class Jingle:
    action: str
    sid: str
    initiator: str = ""
    responder: str = ""
    contents: list[Content] = field(default_factory=list)
    info: str = ""  # session-info child name, e.g. "ringing"
    reason: str = ""  # session-terminate reason condition, e.g. "success"
    reason_text: str = ""  # its <text/>, if any
    # XEP-0338 <group semantics='...'><content name='...'/></group> children of <jingle/>.
    groups: list[tuple[str, list[str]]] = field(default_factory=list)

    def to_element(self) -> ET.Element:
        attrs = {"action": self.action, "sid": self.sid}
        if self.initiator:
            attrs["initiator"] = self.initiator
        if self.responder:
            attrs["responder"] = self.responder
        elem = ET.Element(q(NS_JINGLE, "jingle"), attrs)
        for semantics, names in self.groups:
            group = ET.SubElement(elem, q(NS_GROUPING, "group"), {"semantics": semantics})
            for name in names:
                ET.SubElement(group, q(NS_GROUPING, "content"), {"name": name})
        elem.extend(content.to_element() for content in self.contents)
        if self.info:
            ET.SubElement(elem, q(NS_RTP_INFO, self.info))
        if self.reason:
            reason = ET.SubElement(elem, q(NS_JINGLE, "reason"))
            ET.SubElement(reason, q(NS_JINGLE, self.reason))
        return elem

    @classmethod
    def from_element(cls, elem: ET.Element) -> Jingle:
        get = elem.attrib.get
        jingle = cls(get("action", ""), get("sid", ""), get("initiator", ""), get("responder", ""))
        for child in elem:
            if child.tag == q(NS_JINGLE, "content"):
                jingle.contents.append(Content.from_element(child))
            elif child.tag.startswith(f"{{{NS_RTP_INFO}}}"):
                jingle.info = child.tag.split("}", 1)[1]
            elif child.tag == q(NS_JINGLE, "reason"):
                conditions = [
                    c.tag.split("}", 1)[1] for c in child if c.tag != q(NS_JINGLE, "text")
                ]
                jingle.reason = conditions[0] if conditions else ""
                text = child.find(q(NS_JINGLE, "text"))
                jingle.reason_text = (text.text or "") if text is not None else ""
            elif child.tag == q(NS_GROUPING, "group"):
                names = [c.get("name", "") for c in child if c.tag == q(NS_GROUPING, "content")]
                jingle.groups.append((child.get("semantics", ""), names))
        return jingle

    def fingerprints(self) -> list[Fingerprint]:
        return [
            fp
            for content in self.contents
            if content.transport is not None
            for fp in content.transport.fingerprints
        ]

    def candidates(self) -> list[Candidate]:
        return [
            cand
            for content in self.contents
            if content.transport is not None
            for cand in content.transport.candidates
        ]
