"""A sans-IO reader of pcap and pcapng capture files.

`PcapReader.feed(bytes)` takes any chunking and returns the complete frames it now holds;
`finish()` checks nothing is left half-read. Memory is bounded: one block at a time, a block
larger than `MAX_BLOCK` is a `DecodeError` (tcpdump and dumpcap write at most the snap length,
262,144 bytes by default, plus a header).

Formats: pcap (libpcap's file format: magic a1b2c3d4 microseconds or a1b23c4d nanoseconds,
either byte order) and pcapng (draft-ietf-opsawg-pcapng: Section Header, Interface
Description with if_tsresol, Enhanced and Simple Packet blocks; other blocks are skipped).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from callctl.wire.errors import DecodeError

MAX_BLOCK = 1 << 20

_PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_SHB = 0x0A0D0D0A
_IDB = 1
_SPB = 3
_EPB = 6
_BOM = 0x1A2B3C4D


@dataclass(frozen=True, slots=True)
class Frame:
    ts: float  # seconds since the epoch
    linktype: int  # LINKTYPE_* (1 Ethernet, 113 Linux cooked, 276 cooked v2, 101 raw IP...)
    data: bytes  # the captured bytes (at most the snap length)
    wire_len: int  # the packet's length on the wire


@dataclass(slots=True)
class _Interface:
    linktype: int
    resolution: float  # seconds per timestamp unit


class PcapReader:
    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._format: str | None = None  # "pcap" or "pcapng"
        self._endian = "<"
        self._resolution = 1e-6
        self._linktype = 0
        self._interfaces: list[_Interface] = []
        self.frames = 0
        self.bytes = 0

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        self.bytes += len(data)
        out: list[Frame] = []
        while True:
            frame_or_none = self._next()
            if frame_or_none is None:
                break
            if isinstance(frame_or_none, Frame):
                out.append(frame_or_none)
                self.frames += 1
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        return out

    def finish(self) -> None:
        if self._format is None and not self._buf:
            raise DecodeError("empty capture")
        if len(self._buf) - self._pos:
            raise DecodeError(f"capture ends inside a record ({len(self._buf) - self._pos} bytes)")

    # -- one record at a time; None = need more bytes, True = consumed a non-packet block ----
    def _avail(self) -> int:
        return len(self._buf) - self._pos

    def _next(self) -> Frame | bool | None:
        if self._format is None:
            return self._file_header()
        if self._format == "pcap":
            return self._pcap_record()
        return self._pcapng_block()

    def _file_header(self) -> bool | None:
        if self._avail() < 4:
            return None
        magic = bytes(self._buf[self._pos : self._pos + 4])
        if magic in _PCAP_MAGIC:
            if self._avail() < 24:
                return None
            self._endian, self._resolution = _PCAP_MAGIC[magic]
            (linktype,) = struct.unpack_from(self._endian + "I", self._buf, self._pos + 20)
            self._linktype = linktype & 0x0FFFFFFF
            self._format = "pcap"
            self._pos += 24
            return True
        if struct.unpack_from("<I", magic)[0] == _SHB:
            self._format = "pcapng"
            return True
        raise DecodeError(f"not a pcap or pcapng file (magic {magic.hex()})")

    def _pcap_record(self) -> Frame | None:
        if self._avail() < 16:
            return None
        sec, frac, caplen, wirelen = struct.unpack_from(self._endian + "IIII", self._buf, self._pos)
        if caplen > MAX_BLOCK:
            raise DecodeError(f"pcap record of {caplen} bytes")
        if self._avail() < 16 + caplen:
            return None
        start = self._pos + 16
        data = bytes(self._buf[start : start + caplen])
        self._pos = start + caplen
        return Frame(sec + frac * self._resolution, self._linktype, data, wirelen)

    def _pcapng_block(self) -> Frame | bool | None:
        if self._avail() < 12:
            return None
        (btype,) = struct.unpack_from("<I", self._buf, self._pos)
        if btype == _SHB:
            bom = bytes(self._buf[self._pos + 8 : self._pos + 12])
            if bom == b"\x4d\x3c\x2b\x1a":
                self._endian = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                self._endian = ">"
            else:
                raise DecodeError(f"pcapng section with byte-order magic {bom.hex()}")
        e = self._endian
        btype, blen = struct.unpack_from(e + "II", self._buf, self._pos)
        if blen < 12 or blen % 4 or blen > MAX_BLOCK:
            raise DecodeError(f"pcapng block of length {blen}")
        if self._avail() < blen:
            return None
        body = bytes(self._buf[self._pos + 8 : self._pos + blen - 4])
        (trailer,) = struct.unpack_from(e + "I", self._buf, self._pos + blen - 4)
        if trailer != blen:
            raise DecodeError(f"pcapng block length {blen} != trailing length {trailer}")
        self._pos += blen
        if btype == _SHB:
            self._interfaces = []  # a new section numbers its interfaces afresh
            return True
        if btype == _IDB:
            self._interfaces.append(self._idb(body))
            return True
        if btype == _EPB:
            return self._epb(body)
        if btype == _SPB:
            if not self._interfaces or len(body) < 4:
                raise DecodeError("simple packet block without an interface")
            (wirelen,) = struct.unpack_from(e + "I", body, 0)
            iface = self._interfaces[0]
            return Frame(0.0, iface.linktype, body[4 : 4 + wirelen], wirelen)
        return True  # name resolution, statistics, custom...: not needed

    def _idb(self, body: bytes) -> _Interface:
        e = self._endian
        if len(body) < 8:
            raise DecodeError("short interface description block")
        (linktype,) = struct.unpack_from(e + "H", body, 0)
        resolution = 1e-6
        pos = 8
        while pos + 4 <= len(body):
            code, length = struct.unpack_from(e + "HH", body, pos)
            if code == 0:
                break
            value = body[pos + 4 : pos + 4 + length]
            if code == 9 and length == 1:  # if_tsresol
                v = value[0]
                resolution = 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0 ** -(v & 0x7F)
            pos += 4 + length + (-length % 4)
        return _Interface(linktype, resolution)

    def _epb(self, body: bytes) -> Frame:
        e = self._endian
        if len(body) < 20:
            raise DecodeError("short enhanced packet block")
        iface_id, ts_hi, ts_lo, caplen, wirelen = struct.unpack_from(e + "IIIII", body, 0)
        if iface_id >= len(self._interfaces):
            raise DecodeError(f"packet on undescribed interface {iface_id}")
        if 20 + caplen > len(body):
            raise DecodeError("enhanced packet block shorter than its captured length")
        iface = self._interfaces[iface_id]
        ts = ((ts_hi << 32) | ts_lo) * iface.resolution
        return Frame(ts, iface.linktype, body[20 : 20 + caplen], wirelen)
