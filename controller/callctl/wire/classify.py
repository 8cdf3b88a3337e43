"""What a UDP payload on an ICE media port is (RFC 7983 section 7 demultiplexing), decoded.

First byte 0-3: STUN; 20-63: DTLS; 64-79: TURN ChannelData; 128-191: RTP or RTCP (RTCP when
the second byte is a payload type 192-223, RFC 5761 section 4). Anything else is "other".
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from callctl.wire import dtls, stun
from callctl.wire.errors import DecodeError


@dataclass(frozen=True, slots=True)
class RtpHeader:
    rtcp: bool
    payload_type: int
    ssrc: int


Decoded = stun.StunMessage | list[dtls.DtlsRecord] | RtpHeader | str


def classify(payload: bytes) -> Decoded:
    """The decoded message; "other" or "channel-data" when not decoded. DecodeError when the
    first byte says STUN/DTLS/RTP but the rest does not hold together."""
    if not payload:
        return "other"
    b0 = payload[0]
    if b0 < 4:
        return stun.decode(payload) if stun.looks_like_stun(payload) else "other"
    if 20 <= b0 <= 63:
        return dtls.decode(payload)
    if 64 <= b0 <= 79:
        return "channel-data"
    if 128 <= b0 <= 191:
        if len(payload) < 8:
            raise DecodeError("short RTP/RTCP header")
        pt = payload[1]
        if 192 <= pt <= 223:
            (ssrc,) = struct.unpack_from("!I", payload, 4)
            return RtpHeader(True, pt, ssrc)
        if len(payload) < 12:
            raise DecodeError("short RTP header")
        (ssrc,) = struct.unpack_from("!I", payload, 8)
        return RtpHeader(False, pt & 0x7F, ssrc)
    return "other"
