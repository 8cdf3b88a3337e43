"""The wire decoders on arbitrary bytes: nothing but DecodeError ever escapes (hypothesis)."""

from __future__ import annotations

import contextlib
import struct

from callctl.paths import REPO_ROOT
from callctl.wire import stun
from callctl.wire.capture import CaptureReader
from callctl.wire.classify import classify
from callctl.wire.errors import DecodeError
from callctl.wire.packet import udp_datagram
from callctl.wire.pcap import Frame, PcapReader
from callctl.wire.signatures import diagnose
from hypothesis import given, settings
from hypothesis import strategies as st

REAL = (REPO_ROOT / "tests" / "data" / "pcap" / "rig-stock-nominated-host.pcapng").read_bytes()
STUN_HEAD = struct.pack("!HHI", 0x0001, 0, stun.MAGIC) + bytes(12)


def decode_error_only(fn, *args) -> None:
    with contextlib.suppress(DecodeError):
        fn(*args)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400))
def test_payload_decoders(data):
    decode_error_only(classify, data)
    decode_error_only(
        classify, STUN_HEAD[:2] + struct.pack("!H", len(data) & ~3) + STUN_HEAD[4:] + data
    )
    decode_error_only(classify, bytes([22, 0xFE, 0xFD]) + data)
    decode_error_only(stun.decode, data)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([0, 1, 12, 101, 113, 276, 999]), st.binary(max_size=200))
def test_link_and_ip_layers(linktype, data):
    decode_error_only(udp_datagram, Frame(0.0, linktype, data, len(data)))
    ip4 = bytes([0x45]) + data
    decode_error_only(udp_datagram, Frame(0.0, 101, ip4, len(ip4)))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_capture_files_from_arbitrary_bytes(data):
    for head in (
        b"",
        REAL[:28],
        b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + bytes(8) + b"\xff\xff\0\0\1\0\0\0",
    ):
        r = PcapReader()
        decode_error_only(r.feed, head + data)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(REAL) - 1), st.binary(min_size=1, max_size=8))
def test_a_real_capture_with_bytes_overwritten(pos, junk):
    """Mutations of a real file reach deep: frames, UDP, STUN and DTLS of real traffic."""
    data = REAL[:pos] + junk + REAL[pos + len(junk) :]
    r = CaptureReader()
    try:
        r.feed(data)
        r.finish()
    except DecodeError:
        return
    diagnose(r.ice)
