"""The gateway's XMPP component against a real prosody: disco#info, presence, JMI, hostile
number JIDs (no Asterisk needed; the calls through Asterisk are in test_xmpp_gateway_calls.py).

prosody runs the rig's test config plus a `Component "gw.localhost"`; callctl's Gateway is
that component (XEP-0114) in the test's event loop; the rig's slixmpp clients talk to it.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET

import pytest
from callctl.xmppgw import Gateway
from slixmpp.exceptions import IqError
from support import xmppgw
from support.jingle.fixtures import ClientFactory
from support.xmppgw import GATEWAY_DOMAIN

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


async def test_a_subscription_gets_available_presence_from_the_number(
    gateway: Gateway, jingle_clients: ClientFactory
) -> None:
    """Clients that offer a call button only for contacts they see online get one."""
    alice = await jingle_clients("alice", "plain")
    number = f"+15551234567@{GATEWAY_DOMAIN}"
    available = asyncio.Event()
    alice.add_event_handler(
        "presence_available", lambda p: str(p["from"]) == number and available.set()
    )
    alice.send_presence(pto=number, ptype="subscribe")
    await asyncio.wait_for(available.wait(), 5)
