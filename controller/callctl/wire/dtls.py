"""DTLS record and handshake headers (RFC 6347 / RFC 9147), pure: which handshake messages
and alerts a datagram carries. Nothing is decrypted; after ChangeCipherSpec the handshake
is encrypted and shows as "encrypted"."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from callctl.wire.errors import DecodeError

CONTENT = {20: "change_cipher_spec", 21: "alert", 22: "handshake", 23: "application_data"}
HANDSHAKE = {
    0: "HelloRequest",
    1: "ClientHello",
    2: "ServerHello",
    3: "HelloVerifyRequest",
    4: "NewSessionTicket",
    11: "Certificate",
    12: "ServerKeyExchange",
    13: "CertificateRequest",
    14: "ServerHelloDone",
    15: "CertificateVerify",
    16: "ClientKeyExchange",
    20: "Finished",
}
ALERTS = {
    0: "close_notify",
    10: "unexpected_message",
    20: "bad_record_mac",
    40: "handshake_failure",
    42: "bad_certificate",
    43: "unsupported_certificate",
    45: "certificate_expired",
    46: "certificate_unknown",
    47: "illegal_parameter",
    48: "unknown_ca",
    50: "decode_error",
    51: "decrypt_error",
    70: "protocol_version",
    71: "insufficient_security",
    80: "internal_error",
    90: "user_canceled",
}
MAX_RECORDS = 64


@dataclass(frozen=True, slots=True)
class DtlsRecord:
    content: str  # handshake, alert, change_cipher_spec, application_data
    epoch: int
    message: str  # ClientHello... for epoch-0 handshakes, alert "fatal:handshake_failure"


def looks_like_dtls(data: bytes) -> bool:
    return len(data) >= 13 and 20 <= data[0] <= 63 and data[1] == 0xFE


def decode(data: bytes) -> list[DtlsRecord]:
    records: list[DtlsRecord] = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < 13:
            raise DecodeError("short DTLS record header")
        ctype, major, _minor, epoch = struct.unpack_from("!BBBH", data, pos)
        (length,) = struct.unpack_from("!H", data, pos + 11)
        if major != 0xFE:
            raise DecodeError(f"DTLS record version {major:#x}")
        body = data[pos + 13 : pos + 13 + length]
        if len(body) < length:
            raise DecodeError("DTLS record runs past the datagram")
        records.append(_record(ctype, epoch, body))
        if len(records) > MAX_RECORDS:
            raise DecodeError("too many DTLS records in one datagram")
        pos += 13 + length
    return records


def _record(ctype: int, epoch: int, body: bytes) -> DtlsRecord:
    content = CONTENT.get(ctype, f"content-{ctype}")
    if ctype == 22 and epoch == 0:
        if len(body) < 12:
            raise DecodeError("short DTLS handshake header")
        return DtlsRecord(content, epoch, HANDSHAKE.get(body[0], f"handshake-{body[0]}"))
    if ctype == 21 and epoch == 0 and len(body) >= 2:
        level = {1: "warning", 2: "fatal"}.get(body[0], str(body[0]))
        return DtlsRecord(content, epoch, f"{level}:{ALERTS.get(body[1], str(body[1]))}")
    return DtlsRecord(content, epoch, "encrypted" if epoch else content)
