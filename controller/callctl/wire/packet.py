"""Link layer, IPv4/IPv6 and UDP: a captured frame to a UDP datagram (pure).

Link types (tcpdump.org linktypes): 0 BSD loopback, 1 Ethernet (with 802.1Q tags), 101 and
12/14 raw IP, 113 Linux cooked (SLL, `tcpdump -i any`), 276 Linux cooked v2. Anything that is
not UDP, or a non-first IP fragment, gives None.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from callctl.wire.errors import DecodeError
from callctl.wire.pcap import Frame


@dataclass(frozen=True, slots=True)
class Datagram:
    ts: float
    src: str  # "addr:port" as pjnath writes it (IPv6 without brackets)
    dst: str
    payload: bytes

    @property
    def flow(self) -> tuple[str, str]:
        return self.src, self.dst


_V4: dict[bytes, str] = {}  # a capture has few addresses: their text is kept (bounded)


def _v4(raw: bytes) -> str:
    text = _V4.get(raw)
    if text is None:
        text = socket.inet_ntop(socket.AF_INET, raw)
        if len(_V4) < 4096:
            _V4[raw] = text
    return text


def _ip_payload(linktype: int, data: bytes) -> tuple[int, bytes] | None:
    """(IP version, IP packet) of a frame, None when it carries no IP."""
    if linktype == 1:
        if len(data) < 14:
            raise DecodeError("short Ethernet frame")
        pos, (etype,) = 12, struct.unpack_from("!H", data, 12)
        while etype in (0x8100, 0x88A8) and len(data) >= pos + 6:
            pos += 4
            (etype,) = struct.unpack_from("!H", data, pos)
        body = data[pos + 2 :]
    elif linktype == 113:
        if len(data) < 16:
            raise DecodeError("short Linux cooked header")
        (etype,) = struct.unpack_from("!H", data, 14)
        body = data[16:]
    elif linktype == 276:
        if len(data) < 20:
            raise DecodeError("short Linux cooked v2 header")
        (etype,) = struct.unpack_from("!H", data, 0)
        body = data[20:]
    elif linktype in (101, 12, 14, 228, 229):
        body = data
        etype = 0x0800 if data[:1] and data[0] >> 4 == 4 else 0x86DD
    elif linktype == 0:
        if len(data) < 4:
            raise DecodeError("short loopback header")
        body = data[4:]
        etype = 0x0800 if body[:1] and body[0] >> 4 == 4 else 0x86DD
    else:
        return None
    if etype == 0x0800:
        return 4, body
    if etype == 0x86DD:
        return 6, body
    return None


def udp_datagram(frame: Frame) -> Datagram | None:
    ip = _ip_payload(frame.linktype, frame.data)
    if ip is None:
        return None
    version, pkt = ip
    if version == 4:
        if len(pkt) < 20 or pkt[0] >> 4 != 4:
            raise DecodeError("bad IPv4 header")
        ihl = (pkt[0] & 0x0F) * 4
        if ihl < 20 or len(pkt) < ihl:
            raise DecodeError("bad IPv4 header length")
        (frag,) = struct.unpack_from("!H", pkt, 6)
        if pkt[9] != 17 or frag & 0x1FFF:
            return None
        src = _v4(pkt[12:16])
        dst = _v4(pkt[16:20])
        udp = pkt[ihl:]
    else:
        if len(pkt) < 40 or pkt[0] >> 4 != 6:
            raise DecodeError("bad IPv6 header")
        if pkt[6] != 17:  # extension headers: not on this path
            return None
        src = socket.inet_ntop(socket.AF_INET6, pkt[8:24])
        dst = socket.inet_ntop(socket.AF_INET6, pkt[24:40])
        udp = pkt[40:]
    if len(udp) < 8:
        raise DecodeError("short UDP header")
    sport, dport, length = struct.unpack_from("!HHH", udp, 0)
    payload = udp[8:length] if 8 <= length <= len(udp) else udp[8:]
    return Datagram(frame.ts, f"{src}:{sport}", f"{dst}:{dport}", payload)
