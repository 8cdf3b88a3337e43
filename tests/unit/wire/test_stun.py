"""callctl.wire.stun / dtls / classify: header and attribute decoding (pure).

Messages are built here field by field from RFC 8489 section 5-6 and 14 (header, attribute
TLVs, XOR-MAPPED-ADDRESS, ERROR-CODE), RFC 8445 section 16.1 (PRIORITY, USE-CANDIDATE,
ICE-CONTROLLED/CONTROLLING) and the renomination draft (NOMINATION); the real captures are in
test_ice.py.
"""

from __future__ import annotations

import ipaddress
import struct

import pytest
from callctl.wire import dtls, stun
from callctl.wire.classify import RtpHeader, classify
from callctl.wire.errors import DecodeError

TID = bytes(range(1, 13))


def attr(code: int, value: bytes) -> bytes:
    return struct.pack("!HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def message(mtype: int, *attrs: bytes, tid: bytes = TID) -> bytes:
    body = b"".join(attrs)
    return struct.pack("!HHI", mtype, len(body), stun.MAGIC) + tid + body


def xor_v4(addr: str, port: int) -> bytes:
    raw = bytes(
        a ^ b
        for a, b in zip(
            ipaddress.IPv4Address(addr).packed, struct.pack("!I", stun.MAGIC), strict=True
        )
    )
    return struct.pack("!BBH", 0, 1, port ^ (stun.MAGIC >> 16)) + raw


def test_binding_request_with_ice_attributes():
    m = stun.decode(
        message(
            0x0001,
            attr(stun.USERNAME, b"RFRAG:LFRAG"),
            attr(stun.PRIORITY, struct.pack("!I", 1862270975)),
            attr(stun.USE_CANDIDATE, b""),
            attr(stun.ICE_CONTROLLING, struct.pack("!Q", 0x1122334455667788)),
        )
    )
    assert (m.cls, m.method, m.transaction) == ("request", "Binding", TID.hex())
    assert m.username == "RFRAG:LFRAG" and m.priority == 1862270975 and m.use_candidate
    assert (m.role, m.tie_breaker) == ("controlling", 0x1122334455667788)
    assert m.nomination is None


@pytest.mark.parametrize("code", [0xC001, 0x0030])
def test_nomination_under_both_code_points_keeps_24_bits(code):
    m = stun.decode(message(0x0001, attr(code, struct.pack("!I", 0xFF000007))))
    assert m.nomination == (code, 7)  # the first octet is reserved


def test_success_with_xor_mapped_address_and_error_487():
    ok = stun.decode(message(0x0101, attr(stun.XOR_MAPPED_ADDRESS, xor_v4("192.0.2.1", 32853))))
    assert (ok.cls, ok.xor_mapped) == ("success", "192.0.2.1:32853")
    err = stun.decode(message(0x0111, attr(stun.ERROR_CODE, b"\0\0\x04\x57Role Conflict")))
    assert (err.cls, err.error) == ("error", (487, "Role Conflict"))


def test_turn_allocate_success():
    m = stun.decode(
        message(
            0x0103,
            attr(stun.XOR_RELAYED_ADDRESS, xor_v4("203.0.113.5", 49152)),
            attr(stun.LIFETIME, struct.pack("!I", 600)),
        )
    )
    assert (m.name, m.xor_relayed, m.lifetime) == ("Allocate success", "203.0.113.5:49152", 600)


@pytest.mark.parametrize(
    "data",
    [
        b"\0\x01\0\x04" + struct.pack("!I", stun.MAGIC) + TID,  # length past the end
        message(0x0001, attr(stun.PRIORITY, b"\0\0")),  # PRIORITY of 2 bytes
        message(0x0001)[:-1],
        message(0x0001, struct.pack("!HH", stun.USERNAME, 40) + b"ab"),  # attribute overrun
    ],
)
def test_malformed_stun_is_a_decode_error(data):
    with pytest.raises(DecodeError):
        stun.decode(data)


def test_dtls_handshake_and_alert_headers():
    hello = bytes([22, 0xFE, 0xFD]) + struct.pack("!H", 0) + b"\0" * 6
    body = bytes([1]) + b"\0" * 11  # ClientHello, lengths and fragment fields
    rec = hello + struct.pack("!H", len(body)) + body
    alert = bytes([21, 0xFE, 0xFD, 0, 0]) + b"\0" * 6 + struct.pack("!H", 2) + bytes([2, 40])
    records = dtls.decode(rec + alert)
    assert [r.message for r in records] == ["ClientHello", "fatal:handshake_failure"]
    with pytest.raises(DecodeError):
        dtls.decode(rec[:-1])


def test_classify_demultiplexes_rfc7983():
    assert isinstance(classify(message(0x0001)), stun.StunMessage)
    rtp = bytes([0x80, 0x00]) + b"\0" * 6 + struct.pack("!I", 0xABCD)
    assert classify(rtp) == RtpHeader(False, 0, 0xABCD)
    rtcp = bytes([0x80, 200, 0, 6]) + struct.pack("!I", 0x1234)
    assert classify(rtcp) == RtpHeader(True, 200, 0x1234)
    assert classify(b"\x40abc") == "channel-data"
    assert classify(b"") == classify(b"\xffxyz") == "other"
