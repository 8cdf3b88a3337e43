"""The Jingle rig against itself: two rig clients call each other through prosody.

No Asterisk here: this proves the rig (prosody, namespace, signalling, ICE, RTP) so that a
failure in the Asterisk tests points at Asterisk.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from support.jingle.client import Call, JingleClient, JingleError
from support.jingle.fixtures import ClientFactory
from support.jingle.profiles import CONVERSATIONS

pytestmark = pytest.mark.usefixtures("prosody_server")


async def _call(caller: JingleClient, callee: JingleClient) -> tuple[Call, Call]:
    """Both ends of a call from `caller` to `callee`, once the callee has the initiate."""
    out = await caller.call(callee.full_jid)
    return out, await callee.next_incoming(timeout=5)


async def _alice_calls_bob(
    jingle_clients: ClientFactory, profile: Any, **options: Any
) -> tuple[Call, Call]:
    """alice (`profile`, in the namespace) calls bob (chromium, on the host side)."""
    alice = await jingle_clients("alice", profile, **options)
    bob = await jingle_clients("bob", "chromium", side="host")
    return await _call(alice, bob)


async def _answer(out: Call, inc: Call) -> None:
    """The callee rings and accepts; ICE completes at both ends."""
    await inc.ring()
    await inc.accept()
    assert await out.wait_ice(5), out.ice_error
    assert await inc.wait_ice(5), inc.ice_error


@pytest.mark.parametrize("profile", ["plain", "chromium", "firefox", "gajim"])
async def test_client_to_client_call_carries_rtp_both_ways(
    jingle_clients: ClientFactory, profile: str
) -> None:
    alice = await jingle_clients("alice", profile)
    bob = await jingle_clients("bob", profile, side="host")
    assert await alice.is_online(bob.full_jid)
    assert not await alice.is_online("bob@jingle.test/nobody")
    out, inc = await _call(alice, bob)
    await _answer(out, inc)

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
    out, inc = await _alice_calls_bob(jingle_clients, "firefox")
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
    out, inc = await _alice_calls_bob(jingle_clients, "gajim")
    inc.content_creator = "responder"  # the chan_motif defect, imitated
    with pytest.raises(JingleError, match="session-accept refused: bad-request"):
        await inc.accept()
    await asyncio.wait_for(out.terminated.wait(), 5)
    assert out.rejected.startswith("session-accept")
    assert out.terminate_reason == "failed-application"
    assert ("session-accept", "responder", "audio") in out.creator_mismatches


async def test_conversations_nominates_with_0xc001_only(jingle_clients: ClientFactory) -> None:
    out, inc = await _alice_calls_bob(jingle_clients, "conversations")
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
    out, inc = await _alice_calls_bob(
        jingle_clients, replace(CONVERSATIONS, signal_renomination=True)
    )
    init = inc.session_initiate
    assert init is not None and init.contents[0].transport is not None
    assert init.contents[0].transport.ice_options == ["renomination"]
    await out.hangup()


async def test_firefox_caller_drops_component_2_when_the_answer_muxes_rtcp(
    jingle_clients: ClientFactory,
) -> None:
    out, inc = await _alice_calls_bob(jingle_clients, "firefox")
    await _answer(out, inc)
    assert out.session_accept is not None and out.session_accept.contents[0].rtcp_mux
    assert (out.components, inc.components) == (1, 1)
    assert {c.component for c in inc.received("transport-info")[1].candidates()} == {2}
    await out.send_media(20)
    await out.hangup()
    assert inc.counter.pcmu == 20


async def test_plain_caller_keeps_rtp_and_rtcp_components(jingle_clients: ClientFactory) -> None:
    out, inc = await _alice_calls_bob(jingle_clients, "plain")
    await _answer(out, inc)
    assert (out.components, inc.components) == (2, 2)  # no rtcp-mux offered: bob follows
    assert out.session_accept is not None and not out.session_accept.contents[0].rtcp_mux
    await out.hangup()


async def test_nomination_withheld_from_the_preferred_candidate(
    jingle_clients: ClientFactory,
) -> None:
    """Two host candidates, only the lower-priority one nominated: the far end must send its
    media there (what patch 0010 makes Asterisk do)."""
    out, inc = await _alice_calls_bob(
        jingle_clients, "chromium", host_candidates=2, nominate_host=1
    )
    await _answer(out, inc)
    high, low = sorted(out.ice.local_candidates, key=lambda c: -c.priority)
    (pair,) = inc.ice.nominated_pairs().values()
    assert pair.remote_candidate.port == low.port
    await inc.send_media(30)
    await asyncio.sleep(0.3)
    assert out.ice.media_by_port.get(low.port) == 30
    assert high.port not in out.ice.media_by_port
    await out.hangup()
