"""DTLS-SRTP for the rig's emulated client (XEP-0320, RFC 5763/5764), over its aioice connection.

The implementation is the package's `callctl.probe.dtls` (`callctl probe` uses the same);
this module keeps the rig's import path. `DtlsPeer.remote` takes the rig's
`stanzas.Fingerprint` (anything with a `value`).
"""

from __future__ import annotations

from callctl.probe.dtls import (
    DTLS_FIRST_BYTES,
    RTP_FIRST_BYTES,
    SRTP_PROFILE,
    Certificate,
    DtlsPeer,
    fingerprint_of,
    is_client_hello,
    is_dtls,
)

__all__ = [
    "DTLS_FIRST_BYTES",
    "RTP_FIRST_BYTES",
    "SRTP_PROFILE",
    "Certificate",
    "DtlsPeer",
    "fingerprint_of",
    "is_client_hello",
    "is_dtls",
]
