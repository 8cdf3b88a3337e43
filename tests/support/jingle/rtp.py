"""Minimal RTP for the rig: PCMU (payload type 0), 20 ms packets, and counting what comes back."""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass, field

PCMU_PT = 0
SAMPLES_PER_PACKET = 160  # 20 ms at 8 kHz
PACKET_INTERVAL = 0.020
PCMU_SILENCE = b"\xff" * SAMPLES_PER_PACKET
_HEADER = struct.Struct("!BBHII")


@dataclass
class RtpSender:
    """Builds consecutive PCMU packets with one SSRC."""

    ssrc: int = field(default_factory=lambda: secrets.randbits(32))
    seq: int = field(default_factory=lambda: secrets.randbits(16))
    timestamp: int = field(default_factory=lambda: secrets.randbits(32))
    sent: int = 0

    def next_packet(self, payload: bytes = PCMU_SILENCE) -> bytes:
        marker = 0x80 if self.sent == 0 else 0
        header = _HEADER.pack(0x80, marker | PCMU_PT, self.seq, self.timestamp, self.ssrc)
        self.seq = (self.seq + 1) & 0xFFFF
        self.timestamp = (self.timestamp + SAMPLES_PER_PACKET) & 0xFFFFFFFF
        self.sent += 1
        return header + payload


def is_rtcp(data: bytes) -> bool:
    # RFC 5761 section 4: with RTCP multiplexed, packet types 192-223 are RTCP.
    return len(data) >= 2 and 192 <= data[1] <= 223


@dataclass
class RtpCounter:
    """Counts received RTP by payload type; RTCP and junk are counted apart."""

    by_pt: dict[int, int] = field(default_factory=dict)
    ssrcs: set[int] = field(default_factory=set)
    rtcp: int = 0
    other: int = 0

    def feed(self, data: bytes) -> None:
        if len(data) < 8 or data[0] >> 6 != 2:
            self.other += 1
            return
        if is_rtcp(data):
            self.rtcp += 1
            return
        if len(data) < _HEADER.size:
            self.other += 1
            return
        _, mpt, _, _, ssrc = _HEADER.unpack_from(data)
        pt = mpt & 0x7F
        self.by_pt[pt] = self.by_pt.get(pt, 0) + 1
        self.ssrcs.add(ssrc)

    @property
    def pcmu(self) -> int:
        return self.by_pt.get(PCMU_PT, 0)
