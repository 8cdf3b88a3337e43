"""callctl.wire.pcap and packet: real captures of the rig (tests/data/pcap/README.md)."""

from __future__ import annotations

import struct

import pytest
from callctl.paths import REPO_ROOT
from callctl.wire.errors import DecodeError
from callctl.wire.packet import udp_datagram
from callctl.wire.pcap import PcapReader

DATA = REPO_ROOT / "tests" / "data" / "pcap"
PCAP = DATA / "rig-stock-nominated-host.pcap"
PCAPNG = DATA / "rig-stock-nominated-host.pcapng"


def read(data: bytes, chunk: int) -> list:
    r = PcapReader()
    frames = []
    for i in range(0, len(data), chunk):
        frames += r.feed(data[i : i + chunk])
    r.finish()
    return frames


def test_pcap_and_pcapng_of_the_same_capture_agree():
    a = read(PCAP.read_bytes(), 1 << 20)
    b = read(PCAPNG.read_bytes(), 1 << 20)
    assert len(a) == len(b) > 100
    assert [(f.data, f.wire_len) for f in a] == [(f.data, f.wire_len) for f in b]
    assert all(abs(x.ts - y.ts) < 1e-6 for x, y in zip(a, b, strict=True))
    assert a[0].ts > 1.7e9  # seconds since the epoch


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_any_chunking_gives_the_same_frames(chunk):
    data = PCAPNG.read_bytes() if chunk != 4096 else PCAP.read_bytes()
    whole = read(data, len(data))
    assert read(data, chunk) == whole


def test_udp_datagrams_of_the_rig():
    frames = read(PCAP.read_bytes(), 1 << 20)
    datagrams = [udp_datagram(f) for f in frames]
    assert all(d is not None for d in datagrams)
    assert {d.src.rsplit(":", 1)[0] for d in datagrams if d} == {"10.213.0.1", "10.213.0.2"}


def test_bad_input_is_a_typed_error():
    with pytest.raises(DecodeError, match="not a pcap"):
        PcapReader().feed(b"GIF89a....")
    data = PCAP.read_bytes()
    r = PcapReader()
    r.feed(data[:-5])
    with pytest.raises(DecodeError, match="ends inside a record"):
        r.finish()
    huge = data[:24] + struct.pack("<IIII", 0, 0, 1 << 30, 1 << 30)
    with pytest.raises(DecodeError, match="record of"):
        PcapReader().feed(huge)
    with pytest.raises(DecodeError, match="empty"):
        PcapReader().finish()
