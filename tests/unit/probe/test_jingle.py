"""The probe's Jingle payloads: the offer it sends, what it reads from the gateway."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from callctl.probe import jingle
from callctl.probe.jingle import NS_ICE, NS_JINGLE, NS_RTP, Candidate, q


def test_the_offer_has_pcmu_and_both_components() -> None:
    cands = [
        Candidate(1, "f1", "10.213.0.2", 4000, 100, id="p0"),
        Candidate(2, "f1", "10.213.0.2", 4001, 99, id="p1"),
    ]
    elem = jingle.offer("sid1", "alice@localhost/p", "uf", "pw", cands)
    assert elem.get("action") == "session-initiate" and elem.get("initiator") == "alice@localhost/p"
    content = elem.find(q(NS_JINGLE, "content"))
    assert content is not None and content.get("creator") == "initiator"
    pts = content.findall(f"{q(NS_RTP, 'description')}/{q(NS_RTP, 'payload-type')}")
    assert [(p.get("id"), p.get("name"), p.get("clockrate")) for p in pts] == [
        ("0", "PCMU", "8000")
    ]
    transport = content.find(q(NS_ICE, "transport"))
    assert transport is not None and (transport.get("ufrag"), transport.get("pwd")) == ("uf", "pw")
    got = jingle.parse(elem)
    assert got.candidates == cands


def test_parse_reads_ringing_reason_credentials_and_skips_bad_candidates() -> None:
    text = (
        f"<jingle xmlns='{NS_JINGLE}' action='transport-info' sid='s'>"
        f"<content creator='responder' name='audio'><transport xmlns='{NS_ICE}' ufrag='U' pwd='P'>"
        "<candidate component='1' foundation='1' ip='10.213.0.1' port='30000' priority='5' "
        "protocol='UDP' type='host'/>"
        "<candidate component='x' foundation='1' ip='10.213.0.1' port='1' priority='5'/>"
        "</transport></content></jingle>"
    )
    msg = jingle.parse(ET.fromstring(text))
    assert (msg.action, msg.sid, msg.ufrag, msg.pwd) == ("transport-info", "s", "U", "P")
    assert msg.candidates == [Candidate(1, "1", "10.213.0.1", 30000, 5, "host", "udp")]
    info = ET.fromstring(
        f"<jingle xmlns='{NS_JINGLE}' action='session-info' sid='s'>"
        "<ringing xmlns='urn:xmpp:jingle:apps:rtp:info:1'/></jingle>"
    )
    assert jingle.parse(info).ringing
    end = jingle.terminate("s", "busy")
    assert jingle.parse(end).reason == "busy"


def test_a_dtls_offer_carries_an_actpass_fingerprint_and_rtcp_mux() -> None:
    elem = jingle.offer("s", "a@b/c", "u", "p", [], fingerprint="AB:CD")
    fp = elem.find(f".//{q(jingle.NS_DTLS, 'fingerprint')}")
    assert fp is not None and fp.text == "AB:CD"
    assert (fp.get("hash"), fp.get("setup")) == ("sha-256", "actpass")
    assert elem.find(f".//{q(NS_RTP, 'rtcp-mux')}") is not None
    plain = jingle.offer("s", "a@b/c", "u", "p", [])
    assert plain.find(f".//{q(jingle.NS_DTLS, 'fingerprint')}") is None
    assert plain.find(f".//{q(NS_RTP, 'rtcp-mux')}") is None


def test_parse_reads_the_answers_fingerprint_role_and_rtcp_mux() -> None:
    text = (
        f"<jingle xmlns='{NS_JINGLE}' action='session-accept' sid='s'><content name='audio'>"
        f"<description xmlns='{NS_RTP}' media='audio'><rtcp-mux/></description>"
        f"<transport xmlns='{NS_ICE}' ufrag='U' pwd='P'>"
        "<fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='active'>"
        " f2:6d:c0 </fingerprint></transport></content></jingle>"
    )
    msg = jingle.parse(ET.fromstring(text))
    assert (msg.fingerprint, msg.setup, msg.rtcp_mux) == ("F2:6D:C0", "active", True)
    # Another hash than sha-256 is not one the probe can check: ignored.
    other = text.replace("sha-256", "sha-1")
    assert jingle.parse(ET.fromstring(other)).fingerprint == ""


def test_disco_features() -> None:
    query = ET.fromstring(
        f"<query xmlns='{jingle.NS_DISCO_INFO}'><identity category='client' type='phone'/>"
        f"<feature var='{jingle.NS_DTLS}'/><feature var='urn:xmpp:jingle:1'/></query>"
    )
    assert jingle.disco_features(query) == {jingle.NS_DTLS, "urn:xmpp:jingle:1"}
    assert jingle.disco_features(None) == set()
