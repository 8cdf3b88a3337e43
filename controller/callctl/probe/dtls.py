"""DTLS-SRTP over an aioice connection (XEP-0320, RFC 5763/5764): the probe's client and the
Jingle test rig's emulated client (tests/support/jingle/dtls.py re-exports this module).

pyOpenSSL does the DTLS handshake through memory BIOs and exports the SRTP keys; pylibsrtp
protects and unprotects the media. Both are what aiortc itself uses for its DTLS transport;
taking them directly keeps the caller's own aioice connection (host sockets in a namespace,
renomination) and lets a test see what a real stack hides: whether the first DTLS message
from Asterisk is a ClientHello, whether the certificate Asterisk presents matches the
fingerprint it signalled, and what arrives before SRTP is keyed.

Sans-IO: `DtlsPeer` takes datagrams in (`feed`) and hands datagrams out (`outgoing`); the
caller moves them over ICE and drives the retransmission timer (`timeout`).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
from dataclasses import dataclass, field
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.x509.oid import NameOID
from OpenSSL import SSL
from pylibsrtp import Policy, Session


class Fingerprint(Protocol):
    """The signalled fingerprint (XEP-0320): only its value is compared."""

    @property
    def value(self) -> str: ...


SRTP_PROFILE = b"SRTP_AES128_CM_SHA1_80"
_KEY_LEN = 16  # AES-128 master key
_SALT_LEN = 14
# RFC 7983 section 7: what the first byte of a datagram says it is.
DTLS_FIRST_BYTES = range(20, 64)
RTP_FIRST_BYTES = range(128, 192)
_HANDSHAKE = 22  # DTLS record content type
_CLIENT_HELLO = 1  # handshake message type
_RECORD_HEADER = 13  # type, version (2), epoch (2), sequence (6), length (2)


def is_dtls(data: bytes) -> bool:
    return bool(data) and data[0] in DTLS_FIRST_BYTES


def is_client_hello(data: bytes) -> bool:
    """Whether a DTLS datagram starts with a handshake record holding a ClientHello."""
    if len(data) <= _RECORD_HEADER:
        return False
    return data[0] == _HANDSHAKE and data[_RECORD_HEADER] == _CLIENT_HELLO


@dataclass(frozen=True)
class Certificate:
    """A self-signed ECDSA P-256 certificate, as browsers generate one per connection."""

    cert: x509.Certificate
    key: EllipticCurvePrivateKey
    der: bytes

    @classmethod
    def generate(cls, name: str = "rig") -> Certificate:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256())
        )
        return cls(cert, key, cert.public_bytes(serialization.Encoding.DER))

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the DER certificate, as XEP-0320 / RFC 8122 write it (AB:CD:...)."""
        return fingerprint_of(self.der)


def fingerprint_of(der: bytes) -> str:
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


@dataclass
class DtlsPeer:
    """One DTLS-SRTP association on one ICE component.

    `active=True` is the DTLS client (sends the ClientHello), as `setup='active'` says.
    `remote` is the fingerprint the peer signalled; after the handshake the peer's
    certificate is compared with it (`peer_fingerprint`, `fingerprint_ok`) and SRTP is keyed
    only if it matches, as RFC 5763 section 6.7 requires.
    """

    certificate: Certificate
    active: bool
    remote: Fingerprint | None = None
    # What happened, for tests.
    received_dtls: int = 0
    first_dtls_is_client_hello: bool | None = None
    client_hellos_received: int = 0
    client_hellos_sent: int = 0
    handshake_done: bool = False
    peer_fingerprint: str = ""
    error: str = ""
    srtp_protected: int = 0
    srtp_unprotected: int = 0
    srtp_failed: int = 0
    _out: list[bytes] = field(default_factory=list)
    _conn: SSL.Connection | None = None
    _tx: Session | None = None
    _rx: Session | None = None

    def __post_init__(self) -> None:
        ctx = SSL.Context(SSL.DTLS_METHOD)
        ctx.use_certificate(self.certificate.cert)
        ctx.use_privatekey(self.certificate.key)
        ctx.set_tlsext_use_srtp(SRTP_PROFILE)
        # Self-signed certificates: trust comes from the signalled fingerprint, checked below.
        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, lambda *_: True)
        conn = SSL.Connection(ctx)
        if self.active:
            conn.set_connect_state()
        else:
            conn.set_accept_state()
        self._conn = conn

    @property
    def keyed(self) -> bool:
        return self._tx is not None

    @property
    def fingerprint_ok(self) -> bool:
        expected = self.remote.value.upper() if self.remote else ""
        return bool(expected and self.peer_fingerprint == expected)

    def start(self) -> None:
        """The active side sends its ClientHello (call once ICE is connected)."""
        if self.active:
            self._step()

    def outgoing(self) -> list[bytes]:
        out, self._out = self._out, []
        return out

    def timeout(self) -> float | None:
        """Seconds until a retransmission is due (None: nothing pending)."""
        assert self._conn is not None
        if self.handshake_done:
            return None
        value = self._conn.DTLSv1_get_timeout()
        return None if value is None else float(value)

    def handle_timeout(self) -> None:
        assert self._conn is not None
        if not self.handshake_done and self._conn.DTLSv1_handle_timeout():
            self._flush()

    def feed(self, data: bytes) -> None:
        """A DTLS datagram from the peer."""
        assert self._conn is not None
        self.received_dtls += 1
        hello = is_client_hello(data)
        if self.first_dtls_is_client_hello is None:
            self.first_dtls_is_client_hello = hello
        self.client_hellos_received += hello
        self._conn.bio_write(data)
        if self.handshake_done:
            with contextlib.suppress(SSL.WantReadError, SSL.ZeroReturnError, SSL.Error):
                self._conn.recv(1500)
            self._flush()
            return
        self._step()

    def protect(self, rtp: bytes) -> bytes:
        assert self._tx is not None
        self.srtp_protected += 1
        return bytes(self._tx.protect(rtp))

    def unprotect(self, packet: bytes) -> bytes | None:
        """Decrypt SRTP or SRTCP (RFC 5761 demultiplexing); None when it does not check out."""
        if self._rx is None:
            self.srtp_failed += 1
            return None
        try:
            if len(packet) >= 2 and 192 <= packet[1] <= 223:
                plain = bytes(self._rx.unprotect_rtcp(packet))
            else:
                plain = bytes(self._rx.unprotect(packet))
        except Exception:  # pylibsrtp raises its own Error for auth/replay failures
            self.srtp_failed += 1
            return None
        self.srtp_unprotected += 1
        return plain

    def _step(self) -> None:
        assert self._conn is not None
        try:
            self._conn.do_handshake()
        except SSL.WantReadError:
            self._flush()
            return
        except SSL.Error as exc:
            self.error = f"DTLS handshake failed: {exc}"
            self._flush()
            return
        self._flush()
        self._finish()

    def _flush(self) -> None:
        assert self._conn is not None
        while True:
            try:
                data = self._conn.bio_read(65536)
            except SSL.WantReadError:
                return
            if not data:
                return
            if is_client_hello(data):
                self.client_hellos_sent += 1
            self._out.append(data)

    def _finish(self) -> None:
        assert self._conn is not None
        self.handshake_done = True
        peer = self._conn.get_peer_certificate(as_cryptography=True)
        if peer is not None:
            self.peer_fingerprint = fingerprint_of(peer.public_bytes(serialization.Encoding.DER))
        if not self.fingerprint_ok:
            self.error = (
                f"peer certificate {self.peer_fingerprint or '(none)'} does not match the "
                f"signalled fingerprint {self.remote.value if self.remote else '(none)'}"
            )
            return
        if self._conn.get_selected_srtp_profile() != SRTP_PROFILE:
            self.error = f"SRTP profile {self._conn.get_selected_srtp_profile()!r} negotiated"
            return
        # RFC 5764 section 4.2: client key, server key, client salt, server salt.
        material = self._conn.export_keying_material(
            b"EXTRACTOR-dtls_srtp", 2 * (_KEY_LEN + _SALT_LEN)
        )
        client_key = material[:_KEY_LEN]
        server_key = material[_KEY_LEN : 2 * _KEY_LEN]
        client_salt = material[2 * _KEY_LEN : 2 * _KEY_LEN + _SALT_LEN]
        server_salt = material[2 * _KEY_LEN + _SALT_LEN :]
        ours, theirs = (
            (client_key + client_salt, server_key + server_salt)
            if self.active
            else (server_key + server_salt, client_key + client_salt)
        )
        self._tx = Session(Policy(key=ours, ssrc_type=Policy.SSRC_ANY_OUTBOUND))
        self._rx = Session(Policy(key=theirs, ssrc_type=Policy.SSRC_ANY_INBOUND))
