"""The Gateway core with no sockets: stanzas in (as the server would deliver them), stanzas
out, for calls out to number JIDs and calls in through JMI."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from callctl.xmppgw import Gateway, GatewayConfig
from callctl.xmppgw.jids import Jid, parse_token
from callctl.xmppgw.xml import NS_COMPONENT, NS_JINGLE, NS_JMI, NS_NICK, split

AST = "asterisk@example.org/asterisk"
ALICE = "alice@example.org/phone"
ALICE2 = "alice@example.org/laptop"
DOMAIN = "gw.localhost"
NUMBER_JID = f"+15551234567@{DOMAIN}"
J = f"xmlns='{NS_JINGLE}'"


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def stanza(text: str) -> ET.Element:
    """A stanza as the server delivers it to the component."""
    return ET.fromstring(f"<w xmlns='{NS_COMPONENT}'>{text}</w>")[0]


def gw(clock: Clock | None = None) -> Gateway:
    return Gateway(GatewayConfig(asterisk_jid=AST, domain=DOMAIN), clock or Clock())


def jingle_of(elem: ET.Element) -> ET.Element:
    found = elem.find(f"{{{NS_JINGLE}}}jingle")
    assert found is not None
    return found


def initiate(
    to: str = NUMBER_JID, frm: str = ALICE, sid: str = "s1", id_: str = "c1"
) -> ET.Element:
    return stanza(
        f"<iq type='set' id='{id_}' from='{frm}' to='{to}'>"
        f"<jingle {J} action='session-initiate' sid='{sid}' initiator='{frm}'>"
        "<content creator='initiator' name='audio'/></jingle></iq>"
    )


def call_out(g: Gateway) -> ET.Element:
    (sent,) = g.handle(initiate())
    return sent


# -- out: client -> NUMBER@domain -> Asterisk --------------------------------------------


def test_session_initiate_to_a_number_jid_goes_to_asterisk_from_a_token_jid() -> None:
    g = gw()
    sent = call_out(g)
    relay = sent.get("from", "")
    token = parse_token(Jid.parse(relay), DOMAIN)
    assert token is not None and token[0] == "c"
    assert sent.get("to") == AST and sent.get("id") not in ("c1", "")
    jingle = jingle_of(sent)
    assert jingle.get("sid") == "s1" and jingle.get("initiator") == relay
    assert jingle.find(f"{{{NS_JINGLE}}}content") is not None  # payload copied
    call = g.resolve_caller(relay)
    assert call is not None and (call.caller, call.number) == (ALICE, "+15551234567")


def test_the_bare_gateway_domain_is_the_hotline() -> None:
    g = gw()
    (sent,) = g.handle(initiate(to=DOMAIN))
    call = g.resolve_caller(sent.get("from", ""))
    assert call is not None and call.number == ""


def test_asterisks_answers_go_back_with_the_clients_ids_and_jids() -> None:
    g = gw()
    sent = call_out(g)
    relay = sent.get("from", "")
    (result,) = g.handle(
        stanza(f"<iq type='result' id='{sent.get('id')}' from='{AST}' to='{relay}'/>")
    )
    assert (result.get("id"), result.get("from"), result.get("to")) == ("c1", NUMBER_JID, ALICE)
    accept = stanza(
        f"<iq type='set' id='a9' from='{AST}' to='{relay}'>"
        f"<jingle {J} action='session-accept' sid='s1' initiator='{relay}' responder='{AST}'/></iq>"
    )
    (relayed,) = g.handle(accept)
    assert (relayed.get("from"), relayed.get("to")) == (NUMBER_JID, ALICE)
    jingle = jingle_of(relayed)
    assert (jingle.get("initiator"), jingle.get("responder")) == (ALICE, NUMBER_JID)
    (ack,) = g.handle(
        stanza(f"<iq type='result' id='{relayed.get('id')}' from='{ALICE}' to='{NUMBER_JID}'/>")
    )
    assert (ack.get("id"), ack.get("to"), ack.get("from")) == ("a9", AST, relay)


def test_an_answer_from_anyone_but_the_expected_peer_is_dropped() -> None:
    g = gw()
    sent = call_out(g)
    forged = stanza(
        f"<iq type='result' id='{sent.get('id')}' from='eve@example.org/x' "
        f"to='{sent.get('from')}'/>"
    )
    assert g.handle(forged) == []


def test_only_asterisk_may_talk_to_token_jids() -> None:
    g = gw()
    relay = call_out(g).get("from", "")
    forged = stanza(
        f"<iq type='set' id='e1' from='eve@example.org/x' to='{relay}'>"
        f"<jingle {J} action='session-terminate' sid='s1'/></iq>"
    )
    (err,) = g.handle(forged)
    assert err.get("type") == "error" and "forbidden" in ET.tostring(err, encoding="unicode")


def test_another_client_cannot_touch_a_session_by_its_sid() -> None:
    g = gw()
    call_out(g)
    other = stanza(
        f"<iq type='set' id='e2' from='eve@example.org/x' to='{NUMBER_JID}'>"
        f"<jingle {J} action='session-terminate' sid='s1'/></iq>"
    )
    (err,) = g.handle(other)
    assert err.get("type") == "error" and "unknown-session" in ET.tostring(err, encoding="unicode")


@pytest.mark.parametrize(
    "local", ["+1555&amp;x", "${EXTEN}", "\u0663\u0663\u0663", "1" * 1000, "c-" + "0" * 20]
)
def test_hostile_number_jids_never_start_a_call(local: str) -> None:
    g = gw()
    (err,) = g.handle(initiate(to=f"{local}@{DOMAIN}"))
    # item-not-found; forbidden for a token JID (only Asterisk may talk to those)
    assert err.get("type") == "error" and err.get("to") == ALICE
    assert g.legs == {}


def test_a_bare_jid_caller_or_a_repeated_sid_is_refused() -> None:
    g = gw()
    (err,) = g.handle(initiate(frm="alice@example.org"))
    assert "bad-request" in ET.tostring(err, encoding="unicode")
    call_out(g)
    (err,) = g.handle(initiate())
    assert "conflict" in ET.tostring(err, encoding="unicode")


def test_sessions_per_user_are_bounded() -> None:
    g = Gateway(GatewayConfig(asterisk_jid=AST, domain=DOMAIN, max_sessions_per_user=2), Clock())
    g.handle(initiate(sid="a"))
    g.handle(initiate(sid="b"))
    (err,) = g.handle(initiate(sid="c"))
    assert "resource-constraint" in ET.tostring(err, encoding="unicode")


def test_terminate_ends_the_session_and_it_is_forgotten_later() -> None:
    clock = Clock()
    g = gw(clock)
    relay = call_out(g).get("from", "")
    term = stanza(
        f"<iq type='set' id='t1' from='{AST}' to='{relay}'>"
        f"<jingle {J} action='session-terminate' sid='s1'><reason><busy/></reason></jingle></iq>"
    )
    (relayed,) = g.handle(term)
    assert relayed.get("to") == ALICE
    assert g.resolve_caller(relay) is not None  # still there for late IQ results
    clock.now += 31
    g.expire()
    assert g.resolve_caller(relay) is None and g.legs == {}


# -- JMI out: the client proposes to a number JID -------------------------------------------


def jmi(verb: str, frm: str, to: str, sid: str = "s1", reason: str = "") -> ET.Element:
    inner = f"<reason {J}><{reason}/></reason>" if reason else ""
    return stanza(
        f"<message type='chat' from='{frm}' to='{to}'>"
        f"<{verb} xmlns='{NS_JMI}' id='{sid}'>{inner}</{verb}></message>"
    )


def jmi_of(elem: ET.Element) -> tuple[str, str, str, str]:
    child = next(c for c in elem if split(c.tag)[0] == NS_JMI)
    return split(child.tag)[1], child.get("id", ""), elem.get("from", ""), elem.get("to", "")


def test_propose_to_a_number_is_proceeded_then_the_session_finishes() -> None:
    g = gw()
    (proceed,) = g.handle(jmi("propose", ALICE, NUMBER_JID))
    facing = f"{NUMBER_JID}/gateway"
    assert jmi_of(proceed) == ("proceed", "s1", facing, "alice@example.org")
    (sent,) = g.handle(initiate(to=facing))
    relay = sent.get("from", "")
    ring = stanza(
        f"<iq type='set' id='r1' from='{AST}' to='{relay}'><jingle {J} action='session-info' "
        "sid='s1'><ringing xmlns='urn:xmpp:jingle:apps:rtp:info:1'/></jingle></iq>"
    )
    relayed, ringing = g.handle(ring)
    assert relayed.get("from") == facing
    assert jmi_of(ringing)[0] == "ringing"
    term = stanza(
        f"<iq type='set' id='t2' from='{ALICE}' to='{facing}'>"
        f"<jingle {J} action='session-terminate' sid='s1'/></iq>"
    )
    to_ast, finish = g.handle(term)
    assert to_ast.get("to") == AST
    assert jmi_of(finish) == ("finish", "s1", facing, "alice@example.org")


def test_propose_to_a_hostile_number_gets_nothing() -> None:
    assert gw().handle(jmi("propose", ALICE, f"$[1+1]@{DOMAIN}")) == []


# -- in: Asterisk -> token JID -> JMI to the user's devices -----------------------------------


def asterisk_initiate(relay: str, sid: str = "ast1") -> ET.Element:
    return stanza(
        f"<iq type='set' id='i1' from='{AST}' to='{relay}'>"
        f"<jingle {J} action='session-initiate' sid='{sid}' initiator='{AST}'>"
        "<content creator='initiator' name='audio'/></jingle></iq>"
    )


def transport_info(relay: str, sid: str = "ast1") -> ET.Element:
    return stanza(
        f"<iq type='set' id='i2' from='{AST}' to='{relay}'>"
        f"<jingle {J} action='transport-info' sid='{sid}'>"
        "<content creator='initiator' name='audio'/></jingle></iq>"
    )


def device_result(sent: ET.Element) -> ET.Element:
    """The device's acknowledgement of an IQ the gateway sent it."""
    return stanza(
        f"<iq type='result' id='{sent.get('id')}' from='{sent.get('to')}' to='{sent.get('from')}'/>"
    )


def offered(
    g: Gateway, number: str | None = "+15550001111", name: str | None = "Ann O'Dial"
) -> str:
    relay = g.expect_inbound("alice@example.org", number, name)
    return relay


def test_an_inbound_call_is_proposed_to_every_device_from_the_callers_number() -> None:
    g = gw()
    relay = offered(g)
    assert parse_token(Jid.parse(relay), DOMAIN) is not None
    result, propose = g.handle(asterisk_initiate(relay))
    assert result.get("type") == "result" and result.get("to") == AST
    assert jmi_of(propose) == (
        "propose",
        "ast1",
        f"+15550001111@{DOMAIN}/gateway",
        "alice@example.org",
    )
    nick = propose.find(f"{{{NS_NICK}}}nick")
    assert nick is not None and nick.text == "Ann O'Dial"
    (ack,) = g.handle(transport_info(relay))  # held until a device answers
    assert ack.get("type") == "result"


def test_first_device_to_proceed_gets_the_session_others_are_told() -> None:
    g = gw()
    relay = offered(g)
    g.handle(asterisk_initiate(relay))
    g.handle(transport_info(relay))
    (ring,) = g.handle(jmi("ringing", ALICE, f"+15550001111@{DOMAIN}", "ast1"))
    assert jingle_of(ring).get("action") == "session-info" and ring.get("to") == AST
    assert g.handle(jmi("ringing", ALICE2, f"+15550001111@{DOMAIN}", "ast1")) == []
    (initiate_sent,) = g.handle(jmi("proceed", ALICE2, f"+15550001111@{DOMAIN}", "ast1"))
    facing = f"+15550001111@{DOMAIN}/gateway"
    assert (initiate_sent.get("to"), initiate_sent.get("from")) == (ALICE2, facing)
    assert jingle_of(initiate_sent).get("initiator") == facing
    assert jingle_of(initiate_sent).get("sid") == "ast1"
    (info_sent,) = g.handle(device_result(initiate_sent))  # the held transport-info follows
    assert jingle_of(info_sent).get("action") == "transport-info"
    assert info_sent.get("to") == ALICE2
    (late,) = g.handle(jmi("proceed", ALICE, f"+15550001111@{DOMAIN}", "ast1"))
    assert jmi_of(late) == ("retract", "ast1", facing, ALICE)
    accept = stanza(
        f"<iq type='set' id='d1' from='{ALICE2}' to='{facing}'>"
        f"<jingle {J} action='session-accept' sid='ast1' responder='{ALICE2}'/></iq>"
    )
    (to_ast,) = g.handle(accept)
    assert (to_ast.get("from"), to_ast.get("to")) == (relay, AST)
    assert jingle_of(to_ast).get("responder") == relay
    term = stanza(
        f"<iq type='set' id='t9' from='{AST}' to='{relay}'>"
        f"<jingle {J} action='session-terminate' sid='ast1'/></iq>"
    )
    relayed, finish = g.handle(term)
    assert relayed.get("to") == ALICE2
    assert jmi_of(finish)[0] == "finish"


def test_the_other_user_cannot_answer_someone_elses_call() -> None:
    g = gw()
    relay = offered(g)
    g.handle(asterisk_initiate(relay))
    assert g.handle(jmi("proceed", "eve@example.org/x", f"+15550001111@{DOMAIN}", "ast1")) == []


@pytest.mark.parametrize(
    ("reason", "expected"), [("busy", "busy"), ("decline", "decline"), ("", "decline")]
)
def test_a_reject_ends_the_call_at_asterisk(reason: str, expected: str) -> None:
    g = gw()
    relay = offered(g)
    g.handle(asterisk_initiate(relay))
    (term,) = g.handle(jmi("reject", ALICE, f"+15550001111@{DOMAIN}", "ast1", reason))
    jingle = jingle_of(term)
    assert term.get("to") == AST and jingle.get("action") == "session-terminate"
    assert ET.tostring(jingle, encoding="unicode").count(f"<ns0:{expected} ") == 1


def test_the_phone_caller_hanging_up_retracts_the_proposal() -> None:
    g = gw()
    relay = offered(g)
    g.handle(asterisk_initiate(relay))
    term = stanza(
        f"<iq type='set' id='t9' from='{AST}' to='{relay}'><jingle {J} "
        "action='session-terminate' sid='ast1'><reason><cancel/></reason></jingle></iq>"
    )
    result, retract = g.handle(term)
    assert result.get("type") == "result"
    assert jmi_of(retract) == (
        "retract",
        "ast1",
        f"+15550001111@{DOMAIN}/gateway",
        "alice@example.org",
    )


@pytest.mark.parametrize(
    "number",
    [
        None,
        "anonymous",
        "+1555&x",
        "${CALLERID(num)}",
        "+\u0663\u0663\u0663\u0663\u0663\u0663\u0663",
    ],
)
def test_withheld_or_hostile_caller_numbers_come_from_the_anonymous_jid(number: str | None) -> None:
    g = gw()
    relay = offered(g, number, "x\ny")
    _, propose = g.handle(asterisk_initiate(relay))
    assert propose.get("from") == f"anonymous@{DOMAIN}/gateway"
    nick = propose.find(f"{{{NS_NICK}}}nick")
    assert nick is not None and nick.text == "xy"  # no line break in a nick


def test_disco_on_token_jids_is_item_not_found() -> None:
    g = gw()
    relay = offered(g)
    query = stanza(
        f"<iq type='get' id='q1' from='{ALICE}' to='{relay}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
    )
    (err,) = g.handle(query)
    assert err.get("type") == "error"


def test_a_propose_that_bounces_ends_the_call_as_no_user_response() -> None:
    g = gw()
    relay = offered(g)
    _, propose = g.handle(asterisk_initiate(relay))
    # As prosody bounces it: the message's id and addresses, an error, no payload.
    bounce = stanza(
        f"<message type='error' id='{propose.get('id')}' from='alice@example.org' "
        f"to='+15550001111@{DOMAIN}/gateway'><error type='cancel'>"
        "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"
    )
    (term,) = g.handle(bounce)
    assert term.get("to") == AST and jingle_of(term).get("action") == "session-terminate"
    assert "expired" in ET.tostring(term, encoding="unicode")
    assert g.handle(bounce) == []  # once


def test_a_device_refusing_the_session_initiate_ends_the_call() -> None:
    g = gw()
    relay = offered(g)
    g.handle(asterisk_initiate(relay))
    (sent,) = g.handle(jmi("proceed", ALICE, f"+15550001111@{DOMAIN}", "ast1"))
    error = stanza(
        f"<iq type='error' id='{sent.get('id')}' from='{ALICE}' to='{sent.get('from')}'>"
        "<error type='cancel'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
        "</error></iq>"
    )
    (term,) = g.handle(error)
    assert (term.get("from"), term.get("to")) == (relay, AST)
    assert "general-error" in ET.tostring(term, encoding="unicode")


def test_an_unused_inbound_token_outlasts_a_long_sequential_ring() -> None:
    clock = Clock()
    g = gw(clock)
    relay = offered(g)
    clock.now += 600  # ten minutes of other targets ringing first
    g.expire()
    result, _ = g.handle(asterisk_initiate(relay))
    assert result.get("type") == "result"


def test_proposals_are_bounded_and_forgotten() -> None:
    clock = Clock()
    g = Gateway(GatewayConfig(asterisk_jid=AST, domain=DOMAIN, max_sessions=2), clock)
    assert g.handle(jmi("propose", ALICE, NUMBER_JID, "p1"))
    assert g.handle(jmi("propose", ALICE, NUMBER_JID, "p2"))
    assert g.handle(jmi("propose", ALICE, NUMBER_JID, "p3")) == []
    clock.now += 121
    g.expire()
    assert g.handle(jmi("propose", ALICE, NUMBER_JID, "p4"))


def test_a_call_to_a_full_jid_goes_straight_to_that_device() -> None:
    g = gw()
    relay = g.expect_inbound(ALICE, "+15550001111", None)
    result, initiate_sent = g.handle(asterisk_initiate(relay))
    assert result.get("type") == "result"
    facing = f"+15550001111@{DOMAIN}/gateway"
    assert (initiate_sent.get("to"), initiate_sent.get("from")) == (ALICE, facing)
    assert jingle_of(initiate_sent).get("action") == "session-initiate"
    (ack,) = g.handle(transport_info(relay))  # before the device's ack: held
    assert ack.get("type") == "result" and ack.get("to") == AST
    (info,) = g.handle(device_result(initiate_sent))
    assert info.get("to") == ALICE and jingle_of(info).get("action") == "transport-info"
    again = transport_info(relay)
    again.set("id", "i3")
    (relayed,) = g.handle(again)  # after it: relayed, the device's answer goes to Asterisk
    assert relayed.get("to") == ALICE and relayed.get("id") != "i3"
    (answer,) = g.handle(device_result(relayed))
    assert (answer.get("to"), answer.get("id")) == (AST, "i3")


def test_asterisks_trickle_waits_for_the_devices_ack_of_the_session_initiate() -> None:
    """The gateway acknowledges Asterisk's session-initiate itself, so chan_motif (stock:
    an empty offer, then its candidates) trickles before the device has the session; the
    device must get nothing of a session before the session-initiate it acknowledged."""
    g = gw()
    relay = g.expect_inbound(ALICE, "+15550001111", None)
    _, initiate_sent = g.handle(asterisk_initiate(relay))
    for n in range(3):
        info = transport_info(relay)
        info.set("id", f"i{n + 2}")
        (ack,) = g.handle(info)
        assert ack.get("type") == "result" and ack.get("to") == AST
    released = g.handle(device_result(initiate_sent))
    assert [jingle_of(s).get("action") for s in released] == ["transport-info"] * 3
    assert {s.get("to") for s in released} == {ALICE}
    # A device that refuses the session-initiate gets nothing more; Asterisk hears of it.
    g2 = gw()
    relay2 = g2.expect_inbound(ALICE, "+15550001111", None)
    _, initiate2 = g2.handle(asterisk_initiate(relay2))
    g2.handle(transport_info(relay2))
    refused = device_result(initiate2)
    refused.set("type", "error")
    (terminate,) = g2.handle(refused)
    assert terminate.get("to") == AST
    assert jingle_of(terminate).get("action") == "session-terminate"


def test_a_client_cannot_name_a_third_party_to_asterisk() -> None:
    g = gw()
    forged = initiate()
    jingle_of(forged).set("initiator", "eve@example.org/x")
    jingle_of(forged).set("responder", "mallory@example.org/y")
    (sent,) = g.handle(forged)
    jingle = jingle_of(sent)
    assert (jingle.get("initiator"), jingle.get("responder")) == (sent.get("from"), AST)
    assert "eve" not in ET.tostring(sent, encoding="unicode")


def test_a_sid_in_use_by_another_call_is_refused() -> None:
    g = gw()
    call_out(g)  # alice's sid s1
    (err,) = g.handle(initiate(frm="eve@example.org/x", sid="s1"))
    assert "conflict" in ET.tostring(err, encoding="unicode")
    relay = offered(g)
    g.handle(asterisk_initiate(relay, sid="ast1"))
    (err,) = g.handle(initiate(frm="eve@example.org/x", sid="ast1"))
    assert "conflict" in ET.tostring(err, encoding="unicode")
