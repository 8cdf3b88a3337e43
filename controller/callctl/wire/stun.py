"""STUN messages (RFC 5389 / RFC 8489) with the ICE (RFC 8445) and TURN (RFC 8656)
attributes an ICE debugging session needs (pure).

NOMINATION is decoded under both code points seen in the wild: 0xC001 (the renomination
draft, draft-thatcher-ice-renomination, as Conversations/libwebrtc send it) and 0x0030
(RFC 8445 section 16.1's later IANA code point in some stacks); its value is 24 bits (the
first octet is reserved).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

from callctl.wire.errors import DecodeError

MAGIC = 0x2112A442
CLASSES = {0: "request", 1: "indication", 2: "success", 3: "error"}
METHODS = {
    0x001: "Binding",
    0x003: "Allocate",
    0x004: "Refresh",
    0x006: "Send",
    0x007: "Data",
    0x008: "CreatePermission",
    0x009: "ChannelBind",
}
USERNAME = 0x0006
ERROR_CODE = 0x0009
XOR_PEER_ADDRESS = 0x0012
XOR_RELAYED_ADDRESS = 0x0016
XOR_MAPPED_ADDRESS = 0x0020
PRIORITY = 0x0024
USE_CANDIDATE = 0x0025
NOMINATION_CODES = (0xC001, 0x0030)
ICE_CONTROLLED = 0x8029
ICE_CONTROLLING = 0x802A
LIFETIME = 0x000D
MAX_ATTRIBUTES = 64


@dataclass(frozen=True, slots=True)
class StunMessage:
    cls: str  # request, indication, success, error
    method: str  # Binding, Allocate, ... or "0x..." when unknown
    transaction: str  # 96-bit transaction id, hex
    username: str | None = None
    priority: int | None = None
    use_candidate: bool = False
    nomination: tuple[int, int] | None = None  # (attribute code, 24-bit value)
    role: str | None = None  # "controlling" / "controlled"
    tie_breaker: int | None = None
    error: tuple[int, str] | None = None  # (code, reason)
    xor_mapped: str | None = None
    xor_relayed: str | None = None
    xor_peer: str | None = None
    lifetime: int | None = None
    unknown: tuple[int, ...] = field(default_factory=tuple)

    @property
    def name(self) -> str:
        return f"{self.method} {self.cls}"


def looks_like_stun(data: bytes) -> bool:
    return (
        len(data) >= 20
        and data[0] < 4
        and struct.unpack_from("!I", data, 4)[0] == MAGIC
        and struct.unpack_from("!H", data, 2)[0] % 4 == 0
    )


def _xor_address(value: bytes, tid: bytes) -> str:
    if len(value) < 8:
        raise DecodeError("short XOR address")
    family = value[1]
    port = struct.unpack_from("!H", value, 2)[0] ^ (MAGIC >> 16)
    if family == 1:
        raw = bytes(b ^ k for b, k in zip(value[4:8], struct.pack("!I", MAGIC), strict=True))
        return f"{ipaddress.IPv4Address(raw)}:{port}"
    if family == 2 and len(value) >= 20:
        key = struct.pack("!I", MAGIC) + tid
        raw = bytes(b ^ k for b, k in zip(value[4:20], key, strict=True))
        return f"{ipaddress.IPv6Address(raw)}:{port}"
    raise DecodeError(f"XOR address of family {family}")


def decode(data: bytes) -> StunMessage:
    if len(data) < 20:
        raise DecodeError("short STUN header")
    mtype, length, cookie = struct.unpack_from("!HHI", data, 0)
    if mtype & 0xC000 or cookie != MAGIC:
        raise DecodeError("not a STUN message (top bits or magic cookie)")
    if length % 4 or 20 + length > len(data):
        raise DecodeError(f"STUN length {length} for {len(data) - 20} bytes of attributes")
    cls = CLASSES[((mtype >> 7) & 0x2) | ((mtype >> 4) & 0x1)]
    method_code = (mtype & 0x000F) | ((mtype >> 1) & 0x0070) | ((mtype >> 2) & 0x0F80)
    method = METHODS.get(method_code, f"0x{method_code:03x}")
    tid = data[8:20]
    fields: dict[str, object] = {}
    unknown: list[int] = []
    pos, end, count = 20, 20 + length, 0
    while pos + 4 <= end:
        atype, alen = struct.unpack_from("!HH", data, pos)
        value = data[pos + 4 : pos + 4 + alen]
        if len(value) < alen or pos + 4 + alen > end:
            raise DecodeError(f"attribute 0x{atype:04x} runs past the message")
        count += 1
        if count > MAX_ATTRIBUTES:
            raise DecodeError("too many attributes")
        _attribute(fields, unknown, atype, value, tid)
        pos += 4 + alen + (-alen % 4)
    return StunMessage(cls, method, tid.hex(), unknown=tuple(unknown[:16]), **fields)  # type: ignore[arg-type]


def _attribute(
    fields: dict[str, object], unknown: list[int], atype: int, value: bytes, tid: bytes
) -> None:
    if atype == USERNAME:
        fields["username"] = value.decode("utf-8", "replace")
    elif atype == PRIORITY:
        if len(value) != 4:
            raise DecodeError("PRIORITY is not 4 bytes")
        fields["priority"] = struct.unpack("!I", value)[0]
    elif atype == USE_CANDIDATE:
        fields["use_candidate"] = True
    elif atype in NOMINATION_CODES:
        if len(value) != 4:
            raise DecodeError("NOMINATION is not 4 bytes")
        fields["nomination"] = (atype, struct.unpack("!I", value)[0] & 0xFFFFFF)
    elif atype in (ICE_CONTROLLED, ICE_CONTROLLING):
        if len(value) != 8:
            raise DecodeError("ICE-CONTROLLED/CONTROLLING is not 8 bytes")
        fields["role"] = "controlling" if atype == ICE_CONTROLLING else "controlled"
        fields["tie_breaker"] = struct.unpack("!Q", value)[0]
    elif atype == ERROR_CODE:
        if len(value) < 4:
            raise DecodeError("short ERROR-CODE")
        code = (value[2] & 0x07) * 100 + value[3]
        fields["error"] = (code, value[4:].decode("utf-8", "replace"))
    elif atype == XOR_MAPPED_ADDRESS:
        fields["xor_mapped"] = _xor_address(value, tid)
    elif atype == XOR_RELAYED_ADDRESS:
        fields["xor_relayed"] = _xor_address(value, tid)
    elif atype == XOR_PEER_ADDRESS:
        fields["xor_peer"] = _xor_address(value, tid)
    elif atype == LIFETIME and len(value) == 4:
        fields["lifetime"] = struct.unpack("!I", value)[0]
    elif atype < 0x8000 and atype not in (0x0008, 0x8028, 0x0013, 0x0014, 0x0015, 0x0017):
        unknown.append(atype)  # comprehension-required and not understood here
