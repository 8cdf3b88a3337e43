"""Rig pieces for the XMPP gateway tests: prosody with the gateway's component, and
XEP-0353 (Jingle Message Initiation) on top of the rig's JingleClient.

The component host itself is support.jingle.component's (re-exported here).
"""

from __future__ import annotations

import asyncio
import contextlib
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest
from callctl.xmppgw import Component, ComponentTarget, Gateway, GatewayConfig
from slixmpp.stanza import Message
from slixmpp.xmlstream import StanzaBase
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from support.jingle.asterisk_conf import RESOURCE
from support.jingle.client import JingleClient
from support.jingle.component import GATEWAY_DOMAIN as GATEWAY_DOMAIN  # re-exported
from support.jingle.component import ComponentConf
from support.jingle.component import add_component as add_component  # re-exported
from support.jingle.fixtures import ASTERISK_USER, started_prosody
from support.jingle.prosody import DOMAIN, Prosody

NS_JMI = "urn:xmpp:jingle-message:0"
NS_JINGLE = "urn:xmpp:jingle:1"
NS_NICK = "http://jabber.org/protocol/nick"


ASTERISK_JID = f"{ASTERISK_USER}@{DOMAIN}/{RESOURCE}"  # res_xmpp's login in the rig


def enable_carbons(server: Prosody) -> None:
    """XEP-0280 message carbons (prosody 0.12's own mod_carbons) on a prepared prosody: a
    user's other devices get copies of what one device sends, e.g. its JMI <proceed/>."""
    text = server.config_path.read_text()
    if text.count("modules_enabled = { ") != 1:
        raise AssertionError("the rig's prosody config changed: enable_carbons needs updating")
    server.config_path.write_text(
        text.replace("modules_enabled = { ", 'modules_enabled = { "carbons"; ')
    )


# Fixtures: a test module binds them to module names (`prosody_server = xmppgw.prosody_server`,
# ...). `prosody_server` then replaces the rig's session-wide prosody for that module, so the
# rig's clients and Asterisk use the prosody that has the gateway's component.


@pytest.fixture(scope="module")
def gateway_prosody() -> Iterator[tuple[Prosody, ComponentConf]]:
    with started_prosody(enable_carbons) as started:
        yield started


@pytest.fixture(scope="module")
def prosody_server(gateway_prosody: tuple[Prosody, ComponentConf]) -> Prosody:
    return gateway_prosody[0]


@pytest.fixture
async def gateway(gateway_prosody: tuple[Prosody, ComponentConf]) -> AsyncIterator[Gateway]:
    """callctl's Gateway connected to the prosody as its component (in the test's loop)."""
    _, conf = gateway_prosody
    gw = Gateway(GatewayConfig(asterisk_jid=ASTERISK_JID, domain=conf.domain))
    component = Component(gw, ComponentTarget("127.0.0.1", conf.port, conf.secret))
    task = asyncio.create_task(component.run())
    try:
        await asyncio.wait_for(component.ready.wait(), 10)
        yield gw
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@dataclass(frozen=True)
class JmiEvent:
    verb: str  # propose, ringing, proceed, reject, retract, finish
    sid: str
    frm: str
    to: str
    reason: str = ""
    nick: str = ""


@dataclass
class Jmi:
    """XEP-0353 messages a client received, and the ones it can send."""

    client: JingleClient
    events: list[JmiEvent] = field(default_factory=list)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.client.register_handler(
            Callback("jmi", MatchXPath(f"{{jabber:client}}message/{{{NS_JMI}}}*"), self._on)
        )

    def _on(self, stanza: StanzaBase) -> None:
        msg = stanza.xml
        child = next((c for c in msg if c.tag.startswith(f"{{{NS_JMI}}}")), None)
        if child is None:  # JMI inside another payload (a carbon copy): not to this client
            return
        reason = child.find(f"{{{NS_JINGLE}}}reason")
        why = ""
        if reason is not None and len(reason):
            why = reason[0].tag.split("}", 1)[1]
        nick = msg.find(f"{{{NS_NICK}}}nick")
        event = JmiEvent(
            child.tag.split("}", 1)[1],
            child.get("id", ""),
            str(stanza["from"]),
            str(stanza["to"]),
            why,
            (nick.text or "") if nick is not None else "",
        )
        self.events.append(event)
        task = asyncio.get_running_loop().create_task(self._notify())
        self._tasks.add(task)  # asyncio keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)

    async def _notify(self) -> None:
        async with self.arrived:
            self.arrived.notify_all()

    async def wait(self, verb: str, timeout: float, sid: str | None = None) -> JmiEvent:
        def found() -> JmiEvent | None:
            return next((e for e in self.events if e.verb == verb and sid in (None, e.sid)), None)

        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: found() is not None), timeout)
        event = found()
        assert event is not None
        return event

    def got(self, verb: str, sid: str) -> list[JmiEvent]:
        return [e for e in self.events if e.verb == verb and e.sid == sid]

    def send(self, to: str, verb: str, sid: str, reason: str = "", media: bool = False) -> None:
        msg: Message = self.client.make_message(mto=to, mtype="chat")
        child = ET.SubElement(msg.xml, f"{{{NS_JMI}}}{verb}", {"id": sid})
        if media:
            ET.SubElement(child, "{urn:xmpp:jingle:apps:rtp:1}description", {"media": "audio"})
        if reason:
            ET.SubElement(
                ET.SubElement(child, f"{{{NS_JINGLE}}}reason"), f"{{{NS_JINGLE}}}{reason}"
            )
        msg.send()  # type: ignore[no-untyped-call]
