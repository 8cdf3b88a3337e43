"""callctl.wire.dtls on a real DTLS 1.2 handshake: OpenSSL's own datagrams (pyOpenSSL, through
the Jingle rig's sans-IO DtlsPeer, the DTLS-SRTP of XEP-0320), not hand-built records."""

from __future__ import annotations

import struct

from callctl.wire import dtls, stun
from callctl.wire.ice import WireIce
from callctl.wire.packet import Datagram
from callctl.wire.signatures import diagnose
from support.jingle.dtls import Certificate, DtlsPeer

CLIENT, SERVER = "10.0.0.1:5000", "10.0.0.2:6000"


def handshake() -> list[tuple[str, str, bytes]]:
    """Every datagram of one handshake, in order, as (src, dst, bytes)."""
    client = DtlsPeer(Certificate.generate("client"), active=True)
    server = DtlsPeer(Certificate.generate("server"), active=False)
    wire: list[tuple[str, str, bytes]] = []
    client.start()
    for _ in range(10):
        out = [(CLIENT, SERVER, d) for d in client.outgoing()]
        out += [(SERVER, CLIENT, d) for d in server.outgoing()]
        if not out:
            break
        for src, dst, d in out:
            wire.append((src, dst, d))
            (server if dst == SERVER else client).feed(d)
    assert client.handshake_done and server.handshake_done
    return wire


def test_each_handshake_message_of_openssl_is_named():
    wire = handshake()
    messages = [(src, r.message) for src, _dst, d in wire for r in dtls.decode(d)]
    assert messages[0] == (CLIENT, "ClientHello")
    server_says = [m for src, m in messages if src == SERVER]
    # a message larger than the record is sent in fragments: one record (and name) each
    assert server_says[0] == "ServerHello" and "ServerHelloDone" in server_says
    client_says = [m for src, m in messages if src == CLIENT]
    assert {"ClientKeyExchange", "change_cipher_spec", "encrypted"} <= set(client_says)
    assert all(dtls.looks_like_dtls(d) for _s, _d, d in wire)


def _check(tid: int, username: str) -> bytes:
    body = struct.pack("!HH", stun.USERNAME, len(username)) + username.encode()
    body += b"\0" * (-len(username) % 4)
    return struct.pack("!HHI", 0x0001, len(body), stun.MAGIC) + tid.to_bytes(12, "big") + body


def _answer(tid: int) -> bytes:
    return struct.pack("!HHI", 0x0101, 0, stun.MAGIC) + tid.to_bytes(12, "big")


def test_client_hello_is_counted_for_the_active_side():
    w = WireIce()
    w.datagram(Datagram(0.0, CLIENT, SERVER, _check(1, "S:C")))
    w.datagram(Datagram(0.1, SERVER, CLIENT, _answer(1)))
    w.datagram(Datagram(0.2, SERVER, CLIENT, _check(2, "C:S")))
    w.datagram(Datagram(0.3, CLIENT, SERVER, _answer(2)))
    for i, (src, dst, d) in enumerate(handshake()):
        w.datagram(Datagram(1.0 + i / 100, src, dst, d))
    (s,) = diagnose(w, {CLIENT: "active", SERVER: "passive"})
    assert s.agents["C"].client_hello == 1 and s.agents["S"].client_hello == 0
    assert s.found == []
    (s,) = diagnose(w, {SERVER: "active"})  # had the server said active, it never sent one
    assert [f["signature"] for f in s.found] == ["wire-dtls-no-client-hello"]
    dtls_events = [e["detail"] for e in s.events if e["event"] == "dtls"]
    assert dtls_events[0].endswith("ClientHello") and any("ServerHello" in e for e in dtls_events)
