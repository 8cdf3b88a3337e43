"""Issue 12 items 1-3 on the real build: what WebRTC Jingle clients need from chan_motif.

- XEP-0320 DTLS-SRTP both ways (asterisk 0090, 0110): Asterisk's offer carries a fingerprint
  with setup='actpass', its answer 'active' (never 'actpass'), it sends the ClientHello when
  it is active, the peer's certificate must match the signalled fingerprint, SRTP carries the
  audio both ways (counted by the client after decryption), `dtls = required` refuses a peer
  without a fingerprint, and such a peer still gets plain RTP with the default `dtls = yes`.
- rtcp-mux offered on calls Asterisk places (0100): one ICE component when the answer takes
  it, two when it does not.
- What real clients send (0080): a XEP-0338 BUNDLE group, candidates without
  generation/id/network; a malformed candidate is refused with bad-request.

The client is the rig's emulated Jingle client (tests/support/jingle) in DTLS mode: pyOpenSSL
DTLS and pylibsrtp SRTP over its aioice connection (support/jingle/dtls.py). Every test here
fails on the stock build; the two `test_stock_*` tests pin down what stock does instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from support.jingle import observe
from support.jingle.client import Call, JingleError
from support.jingle.dtls import Certificate
from support.jingle.echo import ICE_TIMEOUT, assert_logged, echo, full_log, wait_log
from support.jingle.fixtures import AsteriskFactory, ClientFactory, RigAsterisk
from support.jingle.originate import call_from_asterisk
from support.jingle.stanzas import PCMU, Candidate, Content, Jingle, Transport

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]

PACKETS = 100  # 2 s of 20 ms PCMU
SHA256_HEX = 64  # hex digits of a SHA-256 fingerprint (32 bytes)


def incoming_transports(call: Call) -> list[Transport]:
    return [
        c.transport
        for r in call.records
        if r.direction == "in"
        for c in r.jingle.contents
        if c.transport is not None
    ]


def assert_transports_complete(call: Call) -> None:
    """Every transport Asterisk sent has ufrag, pwd and (DTLS on) its fingerprint."""
    transports = incoming_transports(call)
    assert transports
    for t in transports:
        assert t.ufrag and t.pwd and len(t.fingerprints) == 1, t


def fingerprint_setups(jingles: list[Jingle]) -> list[str]:
    return [fp.setup for j in jingles for fp in j.fingerprints()]


def assert_fingerprint(jingle: Jingle | None, setup: str) -> None:
    assert jingle is not None
    fps = jingle.fingerprints()
    assert len(fps) == 1, jingle
    fp = fps[0]
    assert (fp.hash, fp.setup) == ("sha-256", setup), fp
    assert len(fp.value.replace(":", "")) == SHA256_HEX, fp


@pytest.fixture
async def patched(asterisk_build: Any, jingle_asterisk: AsteriskFactory) -> RigAsterisk:
    """The patched build in the rig, chan_motif's default options (dtls = yes)."""
    return await jingle_asterisk(asterisk_build)


async def place_call(client: Any, to: str) -> Call:
    """`client.call()` for a call Asterisk terminates at once: the trickled transport-info
    after the session-initiate may meet a session that is already gone."""
    with contextlib.suppress(JingleError):
        return await client.call(to)  # type: ignore[no-any-return]
    (call,) = client.calls.values()
    return call  # type: ignore[no-any-return]


async def answer_call_from_asterisk(sandbox: Any, ast: Any, client: Any) -> Call:
    await call_from_asterisk(sandbox, ast.dial(client.full_jid), "Echo")
    call = await client.next_incoming(timeout=10)
    await call.ring()
    await call.accept()
    return call


# ---- DTLS-SRTP: a client calls (Asterisk answers) -------------------------------------------


async def test_client_call_gets_dtls_srtp_with_asterisk_active(
    patched: RigAsterisk, jingle_clients: ClientFactory
) -> None:
    sandbox, ast = patched
    alice = await jingle_clients("alice", "chromium", dtls="on")
    call = await alice.call(ast.jid)
    await asyncio.wait_for(call.accepted.wait(), 15)
    await echo(call, PACKETS)

    # The answer to an actpass offer says active (RFC 5763 section 5), never actpass, in the
    # session-accept and in every transport-info Asterisk sent before it.
    assert_fingerprint(call.session_accept, "active")
    assert set(fingerprint_setups(call.received("transport-info"))) <= {"active"}
    assert_transports_complete(call)
    dtls = call.dtls
    assert dtls is not None and not dtls.active
    # Asterisk, being active, really sent the ClientHello (the JMP bug: it never did).
    assert dtls.first_dtls_is_client_hello is True, dtls
    assert dtls.client_hellos_received >= 1 and dtls.client_hellos_sent == 0
    # Its certificate is the one it signalled; SRTP audio both ways, counted after decryption.
    assert dtls.fingerprint_ok and dtls.keyed, dtls.error
    assert dtls.srtp_protected == PACKETS
    assert dtls.srtp_unprotected >= PACKETS - 5 and dtls.srtp_failed == 0, dtls
    assert call.media_unkeyed == 0
    await call.hangup()

    log = full_log(sandbox)
    assert "DTLS-SRTP on session" in log and "our setup 'active'" in log
    assert "without an SSL session" not in log
    assert "does not match that of peer certificate" not in log


@pytest.mark.parametrize("direction", ["client-calls", "asterisk-calls"])
async def test_fingerprint_in_transport_info_before_the_accept_is_used(
    direction: str,
    asterisk_build: Any,
    jingle_asterisk: AsteriskFactory,
    jingle_clients: ClientFactory,
) -> None:
    """The client's fingerprint comes only in a transport-info sent before the session-accept:
    after its offer (client calls) or before its answer (Asterisk calls)."""
    sandbox, ast = await jingle_asterisk(asterisk_build)
    alice = await jingle_clients("alice", "chromium", dtls="on", fingerprint_in="transport-info")
    if direction == "client-calls":
        call = await alice.call(ast.jid)
        await asyncio.wait_for(call.accepted.wait(), 15)
        assert_fingerprint(call.session_accept, "active")
    else:
        call = await answer_call_from_asterisk(sandbox, ast, alice)
        assert_fingerprint(call.session_initiate, "actpass")
    await echo(call, PACKETS)

    sent = [r.jingle for r in call.records if r.direction == "out" and r.jingle.contents]
    first_info = next(i for i, j in enumerate(sent) if j.action == "transport-info")
    assert sent[first_info].fingerprints(), sent[first_info]
    assert all(not j.fingerprints() for j in sent if j.action != "transport-info")
    if direction == "asterisk-calls":
        accept = next(i for i, j in enumerate(sent) if j.action == "session-accept")
        assert first_info < accept
    assert call.dtls is not None and call.dtls.keyed, call.dtls
    await call.hangup()


async def test_mismatched_fingerprint_keys_no_media(
    patched: RigAsterisk, jingle_clients: ClientFactory
) -> None:
    """The client signals one fingerprint and presents another certificate: Asterisk checks
    the certificate against the signalled fingerprint (RFC 5763 section 6.7), keys no SRTP and
    ends the call; no media reaches the client, encrypted or plain."""
    sandbox, ast = patched
    alice = await jingle_clients("alice", "chromium", dtls="mismatch")
    call = await alice.call(ast.jid)
    await asyncio.wait_for(call.accepted.wait(), 15)
    assert_fingerprint(call.session_accept, "active")
    assert await call.wait_ice(ICE_TIMEOUT), call.ice_error
    await asyncio.wait_for(call.terminated.wait(), 10)

    await assert_logged(sandbox, "does not match that of peer certificate")
    dtls = call.dtls
    # The client itself finds Asterisk's certificate right (its check passes).
    assert dtls is not None and dtls.fingerprint_ok, dtls
    assert dtls.first_dtls_is_client_hello is True
    assert call.counter.pcmu == 0, call.counter
    assert dtls.srtp_unprotected == 0 and dtls.srtp_failed == 0, dtls
    assert call.media_unkeyed == 0
    await call.close()


# ---- DTLS-SRTP and rtcp-mux: Asterisk calls ----------------------------------------------------


@pytest.mark.parametrize("client_setup", ["active", "passive"])
async def test_asterisk_call_offers_actpass_and_rtcp_mux_and_gets_srtp(
    client_setup: str,
    asterisk_build: Any,
    jingle_asterisk: AsteriskFactory,
    jingle_clients: ClientFactory,
) -> None:
    sandbox, ast = await jingle_asterisk(asterisk_build)
    alice = await jingle_clients("alice", "chromium", dtls="on", dtls_setup=client_setup)
    call = await answer_call_from_asterisk(sandbox, ast, alice)

    init = call.session_initiate
    assert init is not None
    assert_fingerprint(init, "actpass")
    assert init.contents[0].rtcp_mux, "the offer has no <rtcp-mux/>"
    # Both components' candidates are offered until the answer takes rtcp-mux (RFC 5761).
    assert {c.component for c in init.candidates()} == {1, 2}
    assert call.components == 1
    await echo(call, PACKETS)
    assert_transports_complete(call)

    dtls = call.dtls
    assert dtls is not None and dtls.keyed and dtls.fingerprint_ok, dtls
    if client_setup == "passive":
        # Asterisk takes the active role and sends the ClientHello itself.
        assert dtls.first_dtls_is_client_hello is True and dtls.client_hellos_sent == 0
    else:
        assert dtls.client_hellos_sent >= 1 and dtls.client_hellos_received == 0
    assert dtls.srtp_failed == 0 and call.component2_packets == 0
    await call.hangup()

    log = await wait_log(sandbox, lambda t: "Multiplexing RTCP" in t)
    assert f"Multiplexing RTCP with RTP on session '{call.sid}', one ICE component" in log
    assert f"Starting ICE checks on session '{call.sid}' with 1 RTP and 0 RTCP candidates" in log
    assert observe.asterisk_ice_succeeded(log), observe.ice_completions(log)
    assert "without an SSL session" not in log


async def test_asterisk_call_keeps_two_components_when_rtcp_mux_is_not_taken(
    patched: RigAsterisk, jingle_clients: ClientFactory
) -> None:
    sandbox, ast = patched
    bob = await jingle_clients("alice", "plain")  # no rtcp-mux, no DTLS
    call = await answer_call_from_asterisk(sandbox, ast, bob)
    init = call.session_initiate
    assert init is not None and init.contents[0].rtcp_mux
    assert call.components == 2
    await echo(call, PACKETS)
    await call.hangup()

    checks = f"Starting ICE checks on session '{call.sid}' with 1 RTP and 1 RTCP candidates"
    await assert_logged(sandbox, checks, absent="Multiplexing RTCP")


# ---- without a fingerprint -----------------------------------------------------------------


async def test_client_without_fingerprint_gets_plain_rtp_by_default(
    patched: RigAsterisk, jingle_clients: ClientFactory
) -> None:
    """dtls = yes (the default): Asterisk offers DTLS and falls back to plain RTP for a client
    that has none (Gajim), in both directions."""
    sandbox, ast = patched
    alice = await jingle_clients("alice", "plain")

    out = await alice.call(ast.jid)
    await asyncio.wait_for(out.accepted.wait(), 15)
    await echo(out, PACKETS)
    assert out.session_accept is not None and out.session_accept.fingerprints() == []
    await out.hangup()

    inc = await answer_call_from_asterisk(sandbox, ast, alice)
    assert_fingerprint(inc.session_initiate, "actpass")
    await echo(inc, PACKETS)
    await inc.hangup()

    plain = f"Peer of session '{inc.sid}' sent no DTLS fingerprint, media is plain RTP"
    await assert_logged(sandbox, plain, absent="Refusing session")


async def test_dtls_required_refuses_a_client_without_fingerprint(
    asterisk_build: Any, jingle_asterisk: AsteriskFactory, jingle_clients: ClientFactory
) -> None:
    sandbox, ast = await jingle_asterisk(asterisk_build, motif_options="dtls = required\n")
    alice = await jingle_clients("alice", "plain")

    out = await place_call(alice, ast.jid)  # acknowledged, then terminated
    await asyncio.wait_for(out.terminated.wait(), 10)
    assert out.terminate_reason == "security-error"
    (term,) = out.received("session-terminate")
    assert "DTLS-SRTP" in term.reason_text
    assert not out.accepted.is_set()

    await call_from_asterisk(sandbox, ast.dial(alice.full_jid), "Echo")
    inc = await alice.next_incoming(timeout=10)
    assert_fingerprint(inc.session_initiate, "actpass")
    with contextlib.suppress(JingleError):  # the trickle may meet the terminated session
        await inc.accept()  # without a fingerprint
    await asyncio.wait_for(inc.terminated.wait(), 10)
    assert inc.terminate_reason == "security-error"

    log = full_log(sandbox)
    for sid in (out.sid, inc.sid):
        line = f"Refusing session '{sid}' with "
        assert line in log and "DTLS-SRTP is required (dtls = required)" in log, sid


async def test_dtls_no_never_signals_a_fingerprint(
    asterisk_build: Any, jingle_asterisk: AsteriskFactory, jingle_clients: ClientFactory
) -> None:
    """dtls = no: stock behaviour on purpose; a DTLS client falls back to plain RTP."""
    sandbox, ast = await jingle_asterisk(asterisk_build, motif_options="dtls = no\n")
    alice = await jingle_clients("alice", "chromium", dtls="on")

    out = await alice.call(ast.jid)
    await asyncio.wait_for(out.accepted.wait(), 15)
    await echo(out, PACKETS)
    assert out.session_accept is not None and out.session_accept.fingerprints() == []
    assert out.dtls_declined and out.dtls is None
    await out.hangup()

    inc = await answer_call_from_asterisk(sandbox, ast, alice)
    assert inc.session_initiate is not None and inc.session_initiate.fingerprints() == []
    await echo(inc, PACKETS)
    assert inc.dtls_declined
    await inc.hangup()
    log = full_log(sandbox)
    assert "Ignoring DTLS fingerprint on session" in log and "DTLS-SRTP set up" not in log


async def test_configured_certificate_is_the_one_signalled_and_presented(
    tmp_path: Path,
    asterisk_build: Any,
    jingle_asterisk: AsteriskFactory,
    jingle_clients: ClientFactory,
) -> None:
    """dtlscertfile + dtlsprivatekey instead of a generated certificate."""
    cert = Certificate.generate("asterisk-configured")
    cert_file, key_file = tmp_path / "dtls.crt", tmp_path / "dtls.key"
    cert_file.write_bytes(cert.cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        cert.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    options = f"dtlscertfile = {cert_file}\ndtlsprivatekey = {key_file}\n"
    _, ast = await jingle_asterisk(asterisk_build, motif_options=options)
    alice = await jingle_clients("alice", "chromium", dtls="on")
    call = await alice.call(ast.jid)
    await asyncio.wait_for(call.accepted.wait(), 15)
    await echo(call, PACKETS)
    assert call.session_accept is not None
    (fp,) = call.session_accept.fingerprints()
    assert fp.value == cert.fingerprint
    assert call.dtls is not None and call.dtls.peer_fingerprint == cert.fingerprint
    await call.hangup()


# ---- what real clients send -------------------------------------------------------------------


async def test_bundle_group_and_candidates_without_generation_or_id_are_accepted(
    patched: RigAsterisk, jingle_clients: ClientFactory
) -> None:
    """A WebRTC-like client: BUNDLE group, bare candidates, DTLS."""
    _, ast = patched
    alice = await jingle_clients("alice", "chromium", dtls="on", bundle=True, bare_candidates=True)
    call = await alice.call(ast.jid)
    await asyncio.wait_for(call.accepted.wait(), 15)
    await echo(call, PACKETS)

    sent = [r.jingle for r in call.records if r.direction == "out"]
    assert sent[0].groups == [("BUNDLE", [call.content_name])]
    assert call.session_accept is not None
    assert call.session_accept.groups == [("BUNDLE", [call.content_name])]
    assert not call.terminated.is_set()
    await call.hangup()


async def test_malformed_candidate_is_refused_with_bad_request(
    patched: RigAsterisk, jingle_clients: ClientFactory
) -> None:
    """A candidate without an address is broken input: bad-request, and no session."""
    sandbox, ast = patched
    alice = await jingle_clients("alice", "chromium")
    call = await alice._new_call("0badc0de", ast.jid, "initiator", controlling=True, rtcp_mux=True)
    broken = Candidate(component=1, foundation="1", ip="", port=40000, priority=2130706431)
    content = Content(
        "initiator", "audio", payloads=[PCMU], rtcp_mux=True, transport=Transport("u", "p" * 22)
    )
    assert content.transport is not None
    content.transport.candidates = [broken]
    with pytest.raises(JingleError, match="bad-request"):
        await alice.send_jingle(
            call, Jingle("session-initiate", call.sid, initiator=alice.full_jid, contents=[content])
        )
    await asyncio.sleep(1.0)
    assert call.received("session-terminate") == []
    channels = await asyncio.to_thread(sandbox.rx, "core show channels count")
    assert "0 active channels" in channels, channels
    await call.close()


# ---- stock -------------------------------------------------------------------------------------


async def test_stock_refuses_a_bundle_group_and_offers_neither_dtls_nor_rtcp_mux(
    asterisk_build_stock: Any, jingle_asterisk: AsteriskFactory, jingle_clients: ClientFactory
) -> None:
    sandbox, ast = await jingle_asterisk(asterisk_build_stock, expect_frack=True)
    alice = await jingle_clients("alice", "chromium", bundle=True)
    out = await place_call(alice, ast.jid)
    await asyncio.wait_for(out.terminated.wait(), 10)
    assert not out.accepted.is_set()
    assert "Received content without a name" in full_log(sandbox)

    inc = await answer_call_from_asterisk(sandbox, ast, alice)
    init = inc.session_initiate
    assert init is not None
    assert init.fingerprints() == [] and not init.contents[0].rtcp_mux
    await inc.hangup()


async def test_stock_hangs_up_on_a_dtls_client(
    asterisk_build_stock: Any, jingle_asterisk: AsteriskFactory, jingle_clients: ClientFactory
) -> None:
    """Stock takes the XEP-0320 <fingerprint/> in the offer's transport for an incomplete
    candidate and ends the session: no WebRTC client gets through. (The terminate's reason
    is <success/>: the cause queued on the channel is never read, which 0040 fixes.)"""
    sandbox, ast = await jingle_asterisk(asterisk_build_stock, expect_frack=True)
    alice = await jingle_clients("alice", "chromium", dtls="on")
    call = await place_call(alice, ast.jid)
    await asyncio.wait_for(call.terminated.wait(), 10)
    assert not call.accepted.is_set()
    assert "Incomplete ICE-UDP candidate received" in full_log(sandbox)
