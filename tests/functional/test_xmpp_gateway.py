"""The gateway's XMPP component against a real prosody: disco#info, presence, JMI, hostile
number JIDs (no Asterisk needed; the calls through Asterisk are in test_xmpp_gateway_calls.py).

prosody runs the rig's test config plus a `Component "gw.localhost"`; callctl's Gateway is
that component (XEP-0114) in the test's event loop; the rig's slixmpp clients talk to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from callctl.asterisk.ami import AmiConfig
from callctl.asterisk.ari import AriCredentials
from callctl.daemon.server import Daemon, DaemonConfig
from callctl.routing import parse_config
from callctl.xmppgw import Component, ComponentTarget, Gateway, GatewayConfig, disco
from callctl.xmppgw.link import SECRET_ENV, component_target
from slixmpp.exceptions import IqError
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath
from support import xmppgw
from support.jingle.fixtures import ClientFactory
from support.jingle.prosody import Prosody
from support.xmppgw import GATEWAY_DOMAIN, ComponentConf, add_component

# The rig's fixtures, with the prosody that has the gateway's component.
gateway_prosody = xmppgw.gateway_prosody
prosody_server = xmppgw.prosody_server
gateway = xmppgw.gateway

NS_DISCO = "http://jabber.org/protocol/disco#info"


async def _disco(client: object, to: str) -> ET.Element:
    iq = client.make_iq_get(ito=to)  # type: ignore[attr-defined]
    iq.append(ET.Element(f"{{{NS_DISCO}}}query"))
    reply = await iq.send(timeout=5)
    query = reply.xml.find(f"{{{NS_DISCO}}}query")
    assert query is not None
    return query


def _features(query: ET.Element) -> set[str]:
    return {f.get("var", "") for f in query.findall(f"{{{NS_DISCO}}}feature")}


async def test_disco_on_gateway_and_number_jids(
    gateway: Gateway, jingle_clients: ClientFactory
) -> None:
    alice = await jingle_clients("alice", "plain")
    domain_info = await _disco(alice, GATEWAY_DOMAIN)
    identity = domain_info.find(f"{{{NS_DISCO}}}identity")
    assert identity is not None and identity.get("category") == "gateway"
    number_info = await _disco(alice, f"+15551234567@{GATEWAY_DOMAIN}")
    identity = number_info.find(f"{{{NS_DISCO}}}identity")
    assert identity is not None and identity.get("category") == "client"
    expected = {
        NS_DISCO,
        "urn:xmpp:jingle:1",
        "urn:xmpp:jingle:apps:rtp:1",
        "urn:xmpp:jingle:apps:rtp:audio",
        "urn:xmpp:jingle:transports:ice-udp:1",
        "urn:xmpp:jingle-message:0",
    }
    # DTLS is off on this Motif endpoint, so it is not advertised.
    assert _features(domain_info) == expected
    assert _features(number_info) == expected


# "&" cannot be sent at all (not a valid localpart); the unit and property tests cover it.
@pytest.mark.parametrize("local", ["${EXTEN}", "+1555,x", "\u0663\u0663\u0663", "1" * 1000])
async def test_disco_on_hostile_localparts_is_item_not_found(
    gateway: Gateway, jingle_clients: ClientFactory, local: str
) -> None:
    alice = await jingle_clients("alice", "plain")
    with pytest.raises(IqError) as err:
        await _disco(alice, f"{local}@{GATEWAY_DOMAIN}")
    # prosody itself refuses localparts it cannot stringprep (1,000 characters): either way
    # the gateway never takes them for a number.
    assert err.value.iq["error"]["condition"] in ("item-not-found", "jid-malformed")


async def test_a_subscription_is_approved_and_the_number_is_available(
    gateway: Gateway, jingle_clients: ClientFactory
) -> None:
    """Clients that offer a call button only for contacts they see online get one."""
    alice = await jingle_clients("alice", "plain")
    await alice.get_roster()  # prosody pushes roster changes only to resources that asked
    number = f"+15551234567@{GATEWAY_DOMAIN}"
    available: asyncio.Future[ET.Element] = asyncio.get_running_loop().create_future()

    def seen(pres: Any) -> None:
        if str(pres["from"]) == number and not available.done():
            available.set_result(pres.xml)

    alice.add_event_handler("presence_available", seen)
    alice.send_presence(pto=number, ptype="subscribe")
    presence = await asyncio.wait_for(available, 5)
    # XEP-0115 caps: clients learn the number's features (Jingle audio, JMI) from presence.
    caps = presence.find("{http://jabber.org/protocol/caps}c")
    assert caps is not None and caps.get("ver") == disco.caps(dtls=False).get("ver")
    for _ in range(50):  # the roster push for the approval
        if alice.client_roster[number]["subscription"] == "to":
            break
        await asyncio.sleep(0.1)
    assert alice.client_roster[number]["subscription"] == "to"


async def test_callctl_run_serves_the_gateway_domain_with_xmpp_component(
    gateway_prosody: tuple[Prosody, ComponentConf], jingle_clients: ClientFactory
) -> None:
    """The daemon's wiring (`callctl run --xmpp-component`): its router gets the Gateway,
    /health reports the component, and the domain answers. ARI and AMI are not needed for
    that, so they point at nothing here."""
    _, conf = gateway_prosody
    routing, issues = parse_config(
        "version: 1\ntrunks: {primary: carrier-a}\njingle: {endpoint: jingle}\n"
        'policy: {allowed_destinations: ["+1"]}\n'
        f"gateway: {{domain: {conf.domain}, asterisk_jid: {xmppgw.ASTERISK_JID}}}\n"
    )
    assert routing is not None, issues
    target = component_target(f"127.0.0.1:{conf.port}", routing, {SECRET_ENV: conf.secret})
    daemon = Daemon(
        DaemonConfig(
            ari=AriCredentials("http://127.0.0.1:9/ari", "u", "p"),
            ami=AmiConfig("127.0.0.1", 9, "u", "p"),
            routing=routing,
            listen_port=0,
            debug_watch=False,
            reconnect_base=0.2,
            reconnect_cap=1.0,
            xmpp_component=target,
        )
    )
    await daemon.start()
    try:
        assert daemon.xmpp is not None and daemon.router.gateway is daemon.xmpp.gateway
        await asyncio.wait_for(daemon.xmpp.ready.wait(), 10)
        assert daemon.health()["checks"]["xmpp"] is True
        alice = await jingle_clients("alice", "plain")
        info = await _disco(alice, f"+15551234567@{GATEWAY_DOMAIN}")
        assert "urn:xmpp:jingle-message:0" in _features(info)
    finally:
        await daemon.shutdown()
    assert daemon.health()["checks"]["xmpp"] is False


@contextlib.contextmanager
def own_prosody() -> Iterator[tuple[Prosody, ComponentConf]]:
    """A prosody of the test's own with the gateway's component host, started (the module's
    prosody stays up)."""
    server = Prosody.prepare()
    try:
        conf = add_component(server)
        server.start()
        yield server, conf
    finally:
        server.cleanup()


@contextlib.asynccontextmanager
async def linked(link: Component) -> AsyncIterator[None]:
    """The component's link runs (connects, reconnects) for the block."""
    task = asyncio.create_task(link.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_the_component_reconnects_after_the_server_restarts() -> None:
    """A prosody of its own (the module's stays up): stop it under a connected component,
    start it again on the same port; the component logs in again by itself, with the
    gateway's state (here: a registered inbound call) kept."""
    with own_prosody() as (server, conf):
        gw = Gateway(GatewayConfig(asterisk_jid=xmppgw.ASTERISK_JID, domain=conf.domain))
        link = Component(
            gw,
            ComponentTarget("127.0.0.1", conf.port, conf.secret),
            backoff_base=0.1,
            backoff_cap=0.5,
        )
        async with linked(link):
            await asyncio.wait_for(link.ready.wait(), 10)
            relay = gw.expect_inbound("alice@jingle.test", "+15550109999")
            await asyncio.to_thread(server.stop)
            for _ in range(100):
                if not link.connected:
                    break
                await asyncio.sleep(0.05)
            assert not link.connected
            await asyncio.to_thread(server.start)
            await asyncio.wait_for(link.ready.wait(), 10)
            assert link.connected and len(gw.legs) == 1
            assert relay.startswith("t-")


async def test_a_wrong_secret_never_connects() -> None:
    with own_prosody() as (_, conf):
        gw = Gateway(GatewayConfig(asterisk_jid=xmppgw.ASTERISK_JID, domain=conf.domain))
        link = Component(gw, ComponentTarget("127.0.0.1", conf.port, "wrong"), backoff_base=0.1)
        async with linked(link):
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(link.ready.wait(), 3)
            assert not link.connected


NS_CARBONS = "urn:xmpp:carbons:2"
NS_FORWARD = "urn:xmpp:forward:0"


async def test_other_devices_learn_from_carbons_that_the_call_was_answered_elsewhere(
    gateway: Gateway, jingle_clients: ClientFactory
) -> None:
    """An inbound call rings every device of alice (JMI <propose/> to her bare JID); the phone
    proceeds. The laptop, with XEP-0280 carbons enabled (mod_carbons, as Debian's prosody
    config has it), gets a copy of the phone's <proceed/>: the call was answered elsewhere,
    so it stops ringing (XEP-0353). The tablet, without carbons, gets no copy (the control).
    The phone then gets the session and Asterisk's candidates, only after its ack. Asterisk
    is played by a rig client logged in as res_xmpp's JID."""
    relay = gateway.expect_inbound("alice@jingle.test", "+15550109999", "Ann")
    phone = await jingle_clients("alice", "plain", resource="phone")
    laptop = await jingle_clients("alice", "plain", resource="laptop")
    tablet = await jingle_clients("alice", "plain", resource="tablet")
    jmi_phone, jmi_laptop = xmppgw.Jmi(phone), xmppgw.Jmi(laptop)
    enable = laptop.make_iq_set()
    enable.append(ET.Element(f"{{{NS_CARBONS}}}enable"))
    await enable.send(timeout=5)
    copies: dict[str, list[ET.Element]] = {"laptop": [], "tablet": []}

    for name, device in (("laptop", laptop), ("tablet", tablet)):
        device.register_handler(
            Callback(
                f"carbons-{name}",
                MatchXPath(f"{{jabber:client}}message/{{{NS_CARBONS}}}sent"),
                lambda msg, name=name: copies[name].append(msg.xml[0]),
            )
        )

    ast = await jingle_clients("asterisk", "plain", resource="asterisk")
    await ast.call(relay)  # the gateway acks, holds it and proposes to alice's devices
    propose = await jmi_phone.wait("propose", 5)
    await jmi_laptop.wait("propose", 5, sid=propose.sid)
    caller = propose.frm.split("/")[0]
    jmi_phone.send(caller, "proceed", propose.sid)

    for _ in range(50):
        if copies["laptop"]:
            break
        await asyncio.sleep(0.1)
    (sent,) = copies["laptop"]
    copied = sent.find(f"{{{NS_FORWARD}}}forwarded/{{jabber:client}}message")
    assert copied is not None
    assert copied.get("from") == "alice@jingle.test/phone" and copied.get("to") == caller
    proceed = copied.find(f"{{{xmppgw.NS_JMI}}}proceed")
    assert proceed is not None and proceed.get("id") == propose.sid
    assert copies["tablet"] == [], "a device without carbons gets no copy"
    # The phone took the session: Asterisk's trickled candidates reached it after its ack.
    call = await phone.next_incoming(timeout=5)
    assert call.sid == propose.sid and call.peer == propose.frm
    for _ in range(50):
        if any(r.direction == "in" and r.jingle.action == "transport-info" for r in call.records):
            break
        await asyncio.sleep(0.1)
    actions = [r.jingle.action for r in call.records if r.direction == "in"]
    assert actions[:2] == ["session-initiate", "transport-info"], actions
    assert not phone.unknown_sessions, "nothing of the session before the session-initiate"
    assert not laptop.calls and not tablet.calls
