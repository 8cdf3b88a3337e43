"""Read a capture file into a `WireIce` view, streaming, in constant memory."""

from __future__ import annotations

from typing import BinaryIO

from callctl.wire.errors import DecodeError
from callctl.wire.ice import WireIce
from callctl.wire.packet import udp_datagram
from callctl.wire.pcap import PcapReader

CHUNK = 1 << 20


class CaptureReader:
    """pcap/pcapng bytes in, `WireIce` out. A frame that does not decode is counted (with a
    few examples) and skipped; a file that is not a capture raises DecodeError."""

    def __init__(self) -> None:
        self.pcap = PcapReader()
        self.ice = WireIce()
        self.frames = 0
        self.udp = 0
        self.bad_frames = 0
        self.truncated = ""  # why the file ended early, when it did

    def feed(self, data: bytes) -> None:
        for frame in self.pcap.feed(data):
            self.frames += 1
            try:
                d = udp_datagram(frame)
            except DecodeError as err:
                self.bad_frames += 1
                if len(self.ice.decode_error_examples) < 10:
                    self.ice.decode_error_examples.append(f"frame {self.frames}: {err}")
                continue
            if d is not None:
                self.udp += 1
                self.ice.datagram(d)

    def finish(self) -> None:
        try:
            self.pcap.finish()
        except DecodeError as err:
            if self.frames == 0:
                raise
            self.truncated = str(err)  # a capture still being written ends mid-record


def read_capture(f: BinaryIO) -> CaptureReader:
    r = CaptureReader()
    while chunk := f.read(CHUNK):
        r.feed(chunk)
    r.finish()
    return r
