"""Real calls through the gateway's component: the rig's client, prosody with the component,
callctl's Gateway, the patched Asterisk (res_xmpp + chan_motif), the routing daemon and the
SIPp phone on trunk carrier-a (the interop matrix's machinery, support.jingle.matrix).

    out: client --session-initiate--> +1555...@gw.localhost --(Gateway: c-<token>)--> Asterisk
         --Stasis--> daemon: token -> (alice, the number) -> carrier-a --SIP--> SIPp phone
    in:  SIPp --SIP to a DID--> Asterisk --Stasis--> daemon: DID -> alice's bare JID
         -> Motif/.../t-<token>@gw.localhost --(Gateway: JMI propose to both devices)--> the
         device that proceeds gets the session-initiate, media directly with Asterisk
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from callctl.routing import RoutingConfig
from support import gateway_calls as calls
from support import xmppgw
from support.gateway_calls import DID_ROUTING_JID, Events, GatewayCalls
from support.jingle import client as rig_client
from support.jingle.fixtures import ClientFactory
from support.jingle.matrix import HOTLINE, parse_routing, routing_text
from support.xmppgw import GATEWAY_DOMAIN

pytestmark = [pytest.mark.asterisk, pytest.mark.slow]

gateway_prosody = xmppgw.gateway_prosody
prosody_server = xmppgw.prosody_server
gateway = xmppgw.gateway
gateway_calls = calls.gateway_calls
callctl_events = calls.callctl_events

NUMBER = "+15550104488"  # not alice's hotline (+15550104477): the number JID's own number


@pytest.mark.parametrize(
    ("callee", "routed_to"),
    [(f"{NUMBER}@{GATEWAY_DOMAIN}", NUMBER), (GATEWAY_DOMAIN, HOTLINE)],
    ids=["number-jid", "bare-domain-hotline"],
)
async def test_a_number_jid_reaches_the_phone_with_rtp_both_ways(
    callee: str,
    routed_to: str,
    gateway_calls: GatewayCalls,
    jingle_clients: ClientFactory,
    callctl_events: Events,
) -> None:
    client = await jingle_clients("alice", "chromium", resource="m-chromium")
    result = await gateway_calls.call_out("chromium", client, callee)
    assert result.passed, result.why()
    started = callctl_events("call.start")
    assert len(started) == 1, started
    assert f"number={routed_to}" in started[0] and "caller=alice@jingle.test" in started[0]
    assert ("hotline=True" in started[0]) == (routed_to == HOTLINE)
    # The client only ever saw the JID it called: no token, no Asterisk JID.
    call = next(iter(client.calls.values()))
    assert call.session_accept is not None
    assert call.session_accept.responder in ("", callee)


async def test_a_number_the_policy_refuses_ends_the_session_at_the_client(
    gateway_calls: GatewayCalls,
    jingle_clients: ClientFactory,
    callctl_events: Events,
) -> None:
    """+44 is outside the matrix config's allowed destinations (+1 only)."""
    client = await jingle_clients("alice", "chromium", resource="m-chromium")
    callee = f"+442079460000@{GATEWAY_DOMAIN}"
    result = await gateway_calls.call_out("chromium", client, callee)
    assert not result.passed
    refused = callctl_events("call.refused")
    assert len(refused) == 1 and "number=+442079460000" in refused[0], refused
    assert "reason=destination-not-allowed" in refused[0]
    call = next(iter(client.calls.values()))
    assert call.terminated.is_set() and not call.accepted.is_set()


async def test_a_jmi_propose_to_a_number_jid_is_proceeded_and_the_call_reaches_the_phone(
    gateway_calls: GatewayCalls, jingle_clients: ClientFactory
) -> None:
    """Conversations' way: <propose/> first, then the session-initiate to whoever proceeded."""
    client = await jingle_clients("alice", "conversations", resource="m-conversations")
    jmi = xmppgw.Jmi(client)
    number_jid = f"{NUMBER}@{GATEWAY_DOMAIN}"
    jmi.send(number_jid, "propose", "jmi-out-1", media=True)
    proceed = await jmi.wait("proceed", 5, sid="jmi-out-1")
    assert proceed.frm == f"{number_jid}/gateway" and proceed.to == "alice@jingle.test"
    # The rig's client picks its sids with secrets.token_hex; XEP-0353's session takes
    # the proposal's id, so the client's module gets that id for this one call.
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(rig_client, "secrets", SimpleNamespace(token_hex=lambda _n: "jmi-out-1"))
        result = await gateway_calls.call_out("conversations", client, proceed.frm)
    assert result.passed, result.why()
    finish = await jmi.wait("finish", 5, sid="jmi-out-1")
    assert finish.frm == proceed.frm and finish.reason == "success"
    # The phone's 180 reached the client as Jingle ringing, and as JMI <ringing/> too.
    verbs = [e.verb for e in jmi.events if e.sid == "jmi-out-1"]
    assert verbs == ["proceed", "ringing", "finish"], verbs


CALLER = "+15550109999"  # phone_uac_did.xml's From


async def test_an_inbound_call_rings_both_devices_and_the_one_that_answers_gets_the_media(
    gateway_calls: GatewayCalls, jingle_clients: ClientFactory
) -> None:
    laptop = await jingle_clients("alice", "chromium", resource="laptop")
    phone = await jingle_clients("alice", "chromium", resource="phone")
    jmi_laptop, jmi_phone = xmppgw.Jmi(laptop), xmppgw.Jmi(phone)

    async def answer_on_the_phone() -> None:
        propose = await jmi_phone.wait("propose", 20)
        await jmi_laptop.wait("propose", 5, sid=propose.sid)
        caller = propose.frm.split("/")[0]
        jmi_laptop.send(caller, "ringing", propose.sid)
        jmi_phone.send(caller, "ringing", propose.sid)
        jmi_phone.send(caller, "proceed", propose.sid)
        while not phone.calls:  # the session-initiate reached the phone
            await asyncio.sleep(0.05)
        jmi_laptop.send(caller, "proceed", propose.sid)  # too late: told so
        await jmi_laptop.wait("retract", 5, sid=propose.sid)

    result, _ = await gateway_calls.call_in(
        "chromium", phone, gateway_calls.did_rings(DID_ROUTING_JID), answer_on_the_phone()
    )
    assert result.passed, result.why()
    (propose,) = [e for e in jmi_phone.events if e.verb == "propose"]
    assert propose.frm == f"{CALLER}@{GATEWAY_DOMAIN}/gateway"
    assert propose.to == DID_ROUTING_JID and propose.nick == "matrix phone"
    assert [e.frm for e in jmi_laptop.got("propose", propose.sid)] == [propose.frm]
    assert not laptop.calls, "only the device that proceeded gets the Jingle session"
    session = next(iter(phone.calls.values()))
    assert session.sid == propose.sid and session.peer == propose.frm
    for jmi in (jmi_phone, jmi_laptop):  # the end reaches every device
        finish = await jmi.wait("finish", 5, sid=propose.sid)
        assert finish.frm == propose.frm


@pytest.mark.parametrize(
    ("device_does", "cause"),
    [("reject busy", 17), ("reject decline", 21), ("nothing", 19)],
)
async def test_a_reject_or_no_answer_ends_the_inbound_call_with_its_cause(
    gateway_calls: GatewayCalls,
    jingle_clients: ClientFactory,
    callctl_events: Events,
    device_does: str,
    cause: int,
) -> None:
    phone = await jingle_clients("alice", "chromium", resource="phone")
    jmi_phone = xmppgw.Jmi(phone)

    async def device() -> xmppgw.JmiEvent:
        propose = await jmi_phone.wait("propose", 20)
        caller = propose.frm.split("/")[0]
        jmi_phone.send(caller, "ringing", propose.sid)
        if device_does.startswith("reject"):
            jmi_phone.send(caller, "reject", propose.sid, reason=device_does.split()[1])
        return propose

    config = gateway_calls.did_rings(DID_ROUTING_JID, ring_timeout=3)
    result, propose = await gateway_calls.call_in("chromium", phone, config, device())
    assert not result.passed and not phone.calls  # no Jingle session ever started
    ends = callctl_events("call.end")
    assert len(ends) == 1 and f"cause={cause} " in ends[0] + " ", ends
    if device_does == "nothing":  # the router's ring timer ended it: the devices stop ringing
        retract = await jmi_phone.wait("retract", 5, sid=propose.sid)
        assert retract.to == DID_ROUTING_JID


async def test_an_inbound_call_to_a_user_with_no_device_online_ends_at_once(
    gateway_calls: GatewayCalls,
    jingle_clients: ClientFactory,
    callctl_events: Events,
) -> None:
    """prosody bounces the <propose/> (no resource, no offline storage): the call ends as
    'no user responding' (18) instead of ringing into the router's 30 s timeout."""
    bob = await jingle_clients("bob", "chromium", resource="phone")  # alice stays offline
    result, _ = await gateway_calls.call_in(
        "chromium", bob, gateway_calls.did_rings(DID_ROUTING_JID)
    )
    assert not result.passed and not bob.calls
    ends = callctl_events("call.end")
    assert len(ends) == 1 and "cause=18 " in ends[0] + " ", ends


async def test_an_inbound_call_to_a_full_jid_reaches_that_client_without_jmi(
    gateway_calls: GatewayCalls, jingle_clients: ClientFactory
) -> None:
    """The matrix's own config (DID -> one full JID) through the gateway: a client without
    XEP-0353 (the rig's gajim profile, as Gajim 1.7) gets the session-initiate directly,
    from the caller's number JID, and the media flows."""
    gajim = await jingle_clients("alice", "gajim", resource="m-gajim")
    jmi = xmppgw.Jmi(gajim)
    result, _ = await gateway_calls.call_in("gajim", gajim)
    assert result.passed, result.why()
    session = next(iter(gajim.calls.values()))
    assert session.peer == f"{CALLER}@{GATEWAY_DOMAIN}/gateway"
    assert jmi.events == []  # no proposal, no finish: this client never spoke XEP-0353


async def test_a_sequential_did_rings_bob_then_alice_through_the_gateway(
    gateway_calls: GatewayCalls,
    jingle_clients: ClientFactory,
    callctl_events: Events,
) -> None:
    """A DID with `ring: sequential` over [bob (bare: JMI to his devices), alice's client
    (full JID: directly)], 4 s each: bob's device rings and never answers, so the router's
    timer ends his leg (his devices get a retract) and rings alice, whose client answers and
    gets the media; both hear the call from the caller's number JID."""
    bob = await jingle_clients("bob", "chromium", resource="phone")
    alice = await jingle_clients("alice", "chromium", resource="m-chromium")
    jmi_bob, jmi_alice = xmppgw.Jmi(bob), xmppgw.Jmi(alice)

    async def bob_rings() -> xmppgw.JmiEvent:
        propose = await jmi_bob.wait("propose", 20)
        jmi_bob.send(propose.frm.split("/")[0], "ringing", propose.sid)
        return propose

    def bob_then_alice(did: str) -> RoutingConfig:
        text = routing_text(
            "jingle.test", gateway_calls.routed.ast.endpoint, {did: "bob@jingle.test"}
        )
        text = text.replace(
            "    jids: [bob@jingle.test]\n",
            "    jids: [bob@jingle.test, alice@jingle.test/m-chromium]\n"
            "    ring: sequential\n"
            "    ring_timeout: 4\n",
        )
        return parse_routing(text)

    result, propose = await gateway_calls.call_in("chromium", alice, bob_then_alice, bob_rings())
    assert result.passed, result.why()
    caller = f"{CALLER}@{GATEWAY_DOMAIN}/gateway"
    assert propose.frm == caller and propose.to == "bob@jingle.test"
    retract = await jmi_bob.wait("retract", 5, sid=propose.sid)
    assert retract.to == "bob@jingle.test"
    assert not bob.calls, "bob never proceeded: no Jingle session reached him"
    session = next(iter(alice.calls.values()))
    assert session.peer == caller and session.sid != propose.sid
    assert jmi_alice.events == []  # a full JID: no XEP-0353
    starts = callctl_events("call.start")
    assert len(starts) == 1 and "mode=sequential" in starts[0], starts
    # alice was rung only once bob's leg had ended unanswered (the ring timer: cause 19).
    (step,) = callctl_events("leg.next")
    assert "failed=bob@jingle.test " in step and "cause=19 " in step, step
    assert step.endswith("next=alice@jingle.test/m-chromium"), step
