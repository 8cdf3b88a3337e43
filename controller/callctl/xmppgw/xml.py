"""XML for the component stream: namespaces, a stanza writer and a sans-IO stream parser.

The parser takes bytes as they come off the socket and hands back whole stanzas (the
children of `<stream:stream>`), so nothing here touches a socket. What the server sends is
bounded: a DOCTYPE, an oversized stanza or a stream deeper than `MAX_DEPTH` ends the stream.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import cast
from xml.sax.saxutils import escape, quoteattr

NS_STREAM = "http://etherx.jabber.org/streams"
NS_COMPONENT = "jabber:component:accept"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_JINGLE = "urn:xmpp:jingle:1"
NS_RTP = "urn:xmpp:jingle:apps:rtp:1"
NS_RTP_AUDIO = "urn:xmpp:jingle:apps:rtp:audio"
NS_RTP_INFO = "urn:xmpp:jingle:apps:rtp:info:1"
NS_ICE_UDP = "urn:xmpp:jingle:transports:ice-udp:1"
NS_DTLS = "urn:xmpp:jingle:apps:dtls:0"
NS_JMI = "urn:xmpp:jingle-message:0"
NS_HINTS = "urn:xmpp:hints"
NS_NICK = "http://jabber.org/protocol/nick"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_XML = "http://www.w3.org/XML/1998/namespace"

MAX_STANZA = 256 * 1024  # bytes of one stanza; a Jingle offer is a few kB
MAX_DEPTH = 32


def q(ns: str, tag: str) -> str:
    """ElementTree's `{namespace}tag`."""
    return f"{{{ns}}}{tag}"


def split(tag: str) -> tuple[str, str]:
    """(namespace, local name) of an ElementTree tag."""
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def stanza(kind: str, attrs: dict[str, str], *children: ET.Element) -> ET.Element:
    """A stanza in the component namespace with its attributes and children."""
    elem = ET.Element(q(NS_COMPONENT, kind), {k: v for k, v in attrs.items() if v})
    elem.extend(children)
    return elem


def serialise(elem: ET.Element, parent_ns: str = NS_COMPONENT) -> str:
    """One element as XML text, with default-namespace declarations only (never prefixes):
    the form every XMPP server reads, whatever namespaces a relayed Jingle payload carries."""
    ns, local = split(elem.tag)
    parts = [f"<{local}"]
    if ns != parent_ns:
        parts.append(f" xmlns={quoteattr(ns)}")
    for key, value in elem.attrib.items():
        akey_ns, akey = split(key)
        if akey_ns == NS_XML:
            akey = f"xml:{akey}"
        elif akey_ns:
            continue  # foreign-namespaced attributes: none in what the gateway relays
        parts.append(f" {akey}={quoteattr(value)}")
    children = list(elem)
    if not children and not elem.text:
        parts.append("/>")
    else:
        parts.append(">")
        if elem.text:
            parts.append(escape(elem.text))
        for child in children:
            parts.append(serialise(child, ns))
            if child.tail:
                parts.append(escape(child.tail))
        parts.append(f"</{local}>")
    return "".join(parts)


class StreamError(Exception):
    """The server's stream is unusable (bad XML, a DOCTYPE, a stream error, too big)."""


class StreamParser:
    """Feed bytes from the server; get the stream header's attributes, then stanzas."""

    def __init__(self) -> None:
        self._parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start", "end"))
        self._depth = 0
        self._pending = 0  # bytes fed since the last complete stanza
        self.header: dict[str, str] | None = None
        self._root: ET.Element | None = None
        self._last = b""  # the previous chunk's last byte: "<!" may straddle two chunks

    def feed(self, data: bytes) -> list[ET.Element]:
        window, self._last = self._last + data, data[-1:]
        if b"<!" in window:
            # No DTD, entity or comment declarations in XMPP (RFC 6120 §11.1).
            raise StreamError("the stream carries a DOCTYPE or markup declaration")
        self._pending += len(data)
        if self._pending > MAX_STANZA:
            raise StreamError(f"a stanza larger than {MAX_STANZA} bytes")
        try:
            self._parser.feed(data)
            events = cast(list[tuple[str, ET.Element]], list(self._parser.read_events()))
        except ET.ParseError as err:
            raise StreamError(f"bad XML from the server: {err}") from None
        done: list[ET.Element] = []
        for event, elem in events:
            if event == "start":
                self._depth += 1
                if self._depth > MAX_DEPTH:
                    raise StreamError(f"XML nested deeper than {MAX_DEPTH}")
                if self._depth == 1:
                    if elem.tag != q(NS_STREAM, "stream"):
                        raise StreamError(f"not an XMPP stream: {elem.tag}")
                    self._root = elem
                    self.header = dict(elem.attrib)
            else:
                self._depth -= 1
                if self._depth == 0:
                    raise StreamError("the server closed the stream")
                if self._depth == 1:
                    if elem.tag == q(NS_STREAM, "error"):
                        raise StreamError(f"stream error: {_condition(elem)}")
                    done.append(elem)
                    if self._root is not None:
                        self._root.remove(elem)  # keep memory flat on a long stream
                    self._pending = 0
        return done


def _condition(error: ET.Element) -> str:
    names = [split(child.tag)[1] for child in error]
    return ", ".join(names) or "unknown"
