"""The Jingle rig against itself: two rig clients call each other through prosody.

No Asterisk here: this proves the rig (prosody, namespace, signalling, ICE, RTP) so that a
failure in the Asterisk tests points at Asterisk.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from support.jingle.client import Call, JingleClient, JingleError
from support.jingle.fixtures import ClientFactory
from support.jingle.profiles import CONVERSATIONS

pytestmark = pytest.mark.usefixtures("prosody_server")


async def _connect(caller: JingleClient, callee: JingleClient) -> tuple[Call, Call]:
    out = await caller.call(callee.full_jid)
    inc = await callee.next_incoming(timeout=5)
    await inc.ring()
    await inc.accept()
    assert await out.wait_ice(5), out.ice_error
    assert await inc.wait_ice(5), inc.ice_error
    return out, inc


@pytest.mark.parametrize("profile", ["plain", "chromium", "firefox", "gajim"])
async def test_client_to_client_call_carries_rtp_both_ways(
    jingle_clients: ClientFactory, profile: str
) -> None:
    alice = await jingle_clients("alice", profile)
    bob = await jingle_clients("bob", profile, side="host")
    assert await alice.is_online(bob.full_jid)
    assert not await alice.is_online("bob@jingle.test/nobody")
    out, inc = await _connect(alice, bob)

    assert out.ringing.is_set() and out.accepted.is_set()
    assert out.session_accept is not None
    (content,) = out.session_accept.contents
    assert (content.creator, content.name) == ("initiator", "audio")
    assert content.has_payload("PCMU")
    assert not out.creator_mismatches and not inc.creator_mismatches

    await out.send_media(50)
    await inc.send_media(50)
    await out.hangup()
    await inc.terminated.wait()

    assert out.counter.pcmu == 50, out.counter
    assert inc.counter.pcmu == 50, inc.counter
    assert inc.terminate_reason == "success"


async def test_firefox_trickles_one_transport_info_per_component(
    jingle_clients: ClientFactory,
) -> None:
    alice = await jingle_clients("alice", "firefox")
    bob = await jingle_clients("bob", "chromium", side="host")
    out = await alice.call(bob.full_jid)
    inc = await bob.next_incoming(timeout=5)
    # Each stanza is handled in its own task: wait (bounded) until both arrived.
    for _ in range(100):
        infos = inc.received("transport-info")
        if len(infos) >= 2:
            break
        await asyncio.sleep(0.02)
    comps = [{c.component for c in j.candidates()} for j in infos]
    assert comps == [{1}, {2}]
    await out.hangup()


async def test_gajim_rejects_content_created_by_the_wrong_party(
    jingle_clients: ClientFactory,
) -> None:
    """What stock chan_motif does to Gajim: answer about content it claims to have created."""
    alice = await jingle_clients("alice", "gajim")
    bob = await jingle_clients("bob", "chromium", side="host")
    out = await alice.call(bob.full_jid)
    inc = await bob.next_incoming(timeout=5)
    inc.content_creator = "responder"  # the chan_motif defect, imitated
    with pytest.raises(JingleError, match="session-accept refused: bad-request"):
        await inc.accept()
    await asyncio.wait_for(out.terminated.wait(), 5)
    assert out.rejected.startswith("session-accept")
    assert out.terminate_reason == "failed-application"
    assert ("session-accept", "responder", "audio") in out.creator_mismatches


async def test_conversations_nominates_with_0xc001_only(jingle_clients: ClientFactory) -> None:
    alice = await jingle_clients("alice", "conversations")
    bob = await jingle_clients("bob", "chromium", side="host")
    out = await alice.call(bob.full_jid)
    inc = await bob.next_incoming(timeout=5)
    await inc.accept()
    # aioice (the far end here) knows only USE-CANDIDATE, so it never sees a nomination:
    # the controlling side completes, the controlled side does not. That is the seed's bug.
    assert await out.wait_ice(5), out.ice_error
    assert out.ice.nominations_sent, "no NOMINATION attribute was sent"
    assert not await inc.wait_ice(1.5)
    init = inc.session_initiate
    assert init is not None
    transport = init.contents[0].transport
    assert transport is not None and transport.ice_options == []  # not signalled (see profile)
    await out.hangup()


async def test_signal_renomination_puts_the_ice_option_in_the_transport(
    jingle_clients: ClientFactory,
) -> None:
    alice = await jingle_clients("alice", replace(CONVERSATIONS, signal_renomination=True))
    bob = await jingle_clients("bob", "chromium", side="host")
    out = await alice.call(bob.full_jid)
    inc = await bob.next_incoming(timeout=5)
    init = inc.session_initiate
    assert init is not None and init.contents[0].transport is not None
    assert init.contents[0].transport.ice_options == ["renomination"]
    await out.hangup()


async def test_firefox_caller_drops_component_2_when_the_answer_muxes_rtcp(
    jingle_clients: ClientFactory,
) -> None:
    alice = await jingle_clients("alice", "firefox")
    bob = await jingle_clients("bob", "chromium", side="host")
    out, inc = await _connect(alice, bob)
    assert out.session_accept is not None and out.session_accept.contents[0].rtcp_mux
    assert (out.components, inc.components) == (1, 1)
    assert {c.component for c in inc.received("transport-info")[1].candidates()} == {2}
    await out.send_media(20)
    await out.hangup()
    assert inc.counter.pcmu == 20


async def test_plain_caller_keeps_rtp_and_rtcp_components(jingle_clients: ClientFactory) -> None:
    alice = await jingle_clients("alice", "plain")
    bob = await jingle_clients("bob", "chromium", side="host")
    out, inc = await _connect(alice, bob)
    assert (out.components, inc.components) == (2, 2)  # no rtcp-mux offered: bob follows
    assert out.session_accept is not None and not out.session_accept.contents[0].rtcp_mux
    await out.hangup()


async def test_nomination_withheld_from_the_preferred_candidate(
    jingle_clients: ClientFactory,
) -> None:
    """Two host candidates, only the lower-priority one nominated: the far end must send its
    media there (what patch 0010 makes Asterisk do)."""
    alice = await jingle_clients("alice", "chromium", host_candidates=2, nominate_host=1)
    bob = await jingle_clients("bob", "chromium", side="host")
    out, inc = await _connect(alice, bob)
    high, low = sorted(out.ice.local_candidates, key=lambda c: -c.priority)
    (pair,) = inc.ice.nominated_pairs().values()
    assert pair.remote_candidate.port == low.port
    await inc.send_media(30)
    await asyncio.sleep(0.3)
    assert out.ice.media_by_port.get(low.port) == 30
    assert high.port not in out.ice.media_by_port
    await out.hangup()
