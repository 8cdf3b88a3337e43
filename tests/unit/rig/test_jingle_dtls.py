"""The rig client's DTLS mode without a network: XEP-0320/0338 stanzas and DtlsPeer pairs."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from support.jingle.dtls import Certificate, DtlsPeer, is_client_hello, is_dtls
from support.jingle.rtp import RtpSender
from support.jingle.stanzas import (
    NS_DTLS,
    NS_GROUPING,
    NS_ICE,
    Candidate,
    Content,
    Fingerprint,
    Jingle,
    Transport,
    q,
)


def pump(a: DtlsPeer, b: DtlsPeer, rounds: int = 10) -> None:
    for _ in range(rounds):
        for data in a.outgoing():
            b.feed(data)
        for data in b.outgoing():
            a.feed(data)


def pair(mismatch: bool = False) -> tuple[DtlsPeer, DtlsPeer]:
    ca, cb, decoy = Certificate.generate("a"), Certificate.generate("b"), Certificate.generate("d")
    signalled_a = decoy.fingerprint if mismatch else ca.fingerprint
    a = DtlsPeer(ca, active=True, remote=Fingerprint("sha-256", "passive", cb.fingerprint))
    b = DtlsPeer(cb, active=False, remote=Fingerprint("sha-256", "active", signalled_a))
    return a, b


def test_fingerprint_and_group_round_trip() -> None:
    fp = Fingerprint("sha-256", "actpass", Certificate.generate().fingerprint)
    transport = Transport("uf", "pw", fingerprints=[fp])
    elem = transport.to_element()
    child = elem.find(q(NS_DTLS, "fingerprint"))
    assert child is not None and child.get("setup") == "actpass" and child.text == fp.value
    assert Transport.from_element(elem).fingerprints == [fp]
    assert len(fp.value.split(":")) == 32

    jingle = Jingle("session-initiate", "s1", groups=[("BUNDLE", ["audio"])])
    jingle.contents.append(Content("initiator", "audio", transport=transport))
    elem = ET.fromstring(ET.tostring(jingle.to_element()))
    group = elem.find(q(NS_GROUPING, "group"))
    assert group is not None and group.get("semantics") == "BUNDLE"
    back = Jingle.from_element(elem)
    assert back.groups == [("BUNDLE", ["audio"])] and back.fingerprints() == [fp]


def test_bare_candidates_leave_out_generation_id_and_network() -> None:
    cand = Candidate(component=1, foundation="1", ip="10.0.0.1", port=4000, priority=1)
    assert {"generation", "id", "network"} <= set(cand.to_element().attrib)
    bare = Transport(candidates=[cand], bare_candidates=True).to_element()
    attrs = bare.find(q(NS_ICE, "candidate"))
    assert attrs is not None
    assert not {"generation", "id", "network"} & set(attrs.attrib)
    assert Candidate.from_element(attrs).generation == 0


def test_reason_text_is_read() -> None:
    elem = ET.fromstring(
        "<jingle xmlns='urn:xmpp:jingle:1' action='session-terminate' sid='s'>"
        "<reason><security-error/><text>DTLS-SRTP (XEP-0320) is required</text></reason>"
        "</jingle>"
    )
    jingle = Jingle.from_element(elem)
    assert (jingle.reason, jingle.reason_text) == (
        "security-error",
        "DTLS-SRTP (XEP-0320) is required",
    )


def test_dtls_pair_keys_srtp_both_ways_and_sees_the_client_hello() -> None:
    a, b = pair()
    a.start()
    first = a.outgoing()
    assert first and is_dtls(first[0]) and is_client_hello(first[0])
    for data in first:
        b.feed(data)
    pump(a, b)
    assert a.handshake_done and b.handshake_done
    assert a.keyed and b.keyed and a.fingerprint_ok and b.fingerprint_ok
    assert b.first_dtls_is_client_hello is True and a.client_hellos_sent == 1
    rtp = RtpSender().next_packet()
    assert b.unprotect(a.protect(rtp)) == rtp
    assert a.unprotect(b.protect(rtp)) == rtp
    assert a.unprotect(rtp) is None  # plain RTP does not pass as SRTP


def test_dtls_pair_refuses_a_certificate_that_is_not_the_signalled_one() -> None:
    a, b = pair(mismatch=True)
    a.start()
    pump(a, b)
    assert b.handshake_done and not b.fingerprint_ok and not b.keyed
    assert "does not match" in b.error
    assert a.keyed  # the other side's check passed
