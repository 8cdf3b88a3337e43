"""The component stream's XML: stanzas split from a byte stream, and written back."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from callctl.xmppgw.xml import (
    NS_COMPONENT,
    NS_JINGLE,
    StreamError,
    StreamParser,
    q,
    serialise,
)

HEADER = (
    b"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
    b"xmlns:stream='http://etherx.jabber.org/streams' id='abc' from='gw.localhost'>"
)


def test_header_then_stanzas_split_across_chunks() -> None:
    parser = StreamParser()
    assert parser.feed(HEADER[:30]) == []
    assert parser.feed(HEADER[30:]) == []
    assert parser.header is not None and parser.header["id"] == "abc"
    data = b"<handshake/><iq type='get' id='1'><query xmlns='x'/></iq><message"
    got = parser.feed(data)
    assert [e.tag for e in got] == [q(NS_COMPONENT, "handshake"), q(NS_COMPONENT, "iq")]
    assert parser.feed(b" to='a'/>")[0].get("to") == "a"


@pytest.mark.parametrize(
    "chunks",
    [
        [HEADER + b"<!DOCTYPE x [<!ENTITY a 'b'>]>"],
        [HEADER + b"<iq><", b"!-- comment --></iq>"],  # "<!" straddling two reads
    ],
)
def test_markup_declarations_end_the_stream(chunks: list[bytes]) -> None:
    parser = StreamParser()
    with pytest.raises(StreamError):
        for chunk in chunks:
            parser.feed(chunk)


def test_stream_error_and_oversized_stanza_end_the_stream() -> None:
    parser = StreamParser()
    parser.feed(HEADER)
    with pytest.raises(StreamError, match="not-authorized"):
        parser.feed(
            b"<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
            b"</stream:error>"
        )
    parser = StreamParser()
    parser.feed(HEADER)
    with pytest.raises(StreamError, match="larger"):
        parser.feed(b"<message>" + b"x" * 300_000)


def test_serialise_uses_default_namespaces_and_escapes() -> None:
    iq = ET.Element(q(NS_COMPONENT, "iq"), {"to": "a&b", "type": "set"})
    jingle = ET.SubElement(iq, q(NS_JINGLE, "jingle"), {"sid": "<s>"})
    ET.SubElement(jingle, q(NS_JINGLE, "reason")).text = "a<b"
    text = serialise(iq)
    assert text.startswith('<iq to="a&amp;b"')
    assert f'<jingle xmlns="{NS_JINGLE}" sid="&lt;s&gt;">' in text
    assert "<reason>a&lt;b</reason>" in text  # same namespace: no second declaration
    back = ET.fromstring(text.replace("<iq ", f'<iq xmlns="{NS_COMPONENT}" ', 1))
    assert back.find(f"{{{NS_JINGLE}}}jingle") is not None
