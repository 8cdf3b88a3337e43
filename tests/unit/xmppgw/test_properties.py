"""Property tests: whatever localpart a client calls, nothing but '+' and ASCII digits
reaches the router as a number, and the router's dial strings stay strict."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from callctl.paths import REPO_ROOT
from callctl.routing import load_config, outbound
from callctl.xmppgw import Gateway, GatewayConfig
from callctl.xmppgw.jids import caller_jid, parse_number
from callctl.xmppgw.xml import NS_COMPONENT, NS_JINGLE
from hypothesis import example, given
from hypothesis import strategies as st

CONFIG = load_config(REPO_ROOT / "specs" / "routing.example.yaml")
CALLER = sorted(CONFIG.callers)[0]
DIAL_RE = re.compile(r"PJSIP/\+[1-9][0-9]{6,14}@[A-Za-z][A-Za-z0-9_.\-]{0,63}")
NUMBER_RE = re.compile(r"\+?[0-9]{1,20}")
hostile = st.text(
    alphabet=st.one_of(
        st.sampled_from("0123456789+&$,/(){}[];|#@\n\x00 \u0663\uff13\u00e9"), st.characters()
    ),
    max_size=40,
)


@given(hostile)
@example("+1555&x")
@example("${EXTEN}")
@example("\u0663" * 10)
@example("1" * 1000)
@example("")
def test_only_ascii_digits_pass_as_numbers(local: str) -> None:
    number = parse_number(local)
    assert number is None or (number.isascii() and NUMBER_RE.fullmatch(number))


@given(hostile)
@example("+15551234567&PJSIP/+19005550100@carrier-b")
@example("+1555,,tT(x)")
def test_a_call_to_any_localpart_dials_only_strict_strings(local: str) -> None:
    gw = Gateway(GatewayConfig(asterisk_jid="asterisk@example.org/a", domain="gw.localhost"))
    iq = ET.Element(
        f"{{{NS_COMPONENT}}}iq",
        {"type": "set", "id": "1", "from": f"{CALLER}/phone", "to": f"{local}@gw.localhost"},
    )
    ET.SubElement(iq, f"{{{NS_JINGLE}}}jingle", {"action": "session-initiate", "sid": "s"})
    out = gw.handle(iq)
    if not out or out[0].get("type") == "error":  # not addressed to us, or refused
        assert gw.legs == {}
        return
    call = gw.resolve_caller(out[0].get("from", ""))
    assert call is not None and NUMBER_RE.fullmatch(call.number)
    decision = outbound(CONFIG, call.caller, call.number, {})
    for dial in decision.dial_strings:
        assert DIAL_RE.fullmatch(dial), dial


@given(st.one_of(st.none(), hostile))
def test_inbound_caller_jids_are_e164_or_anonymous(number: str | None) -> None:
    jid = caller_jid("gw.localhost", number)
    local = jid.partition("@")[0]
    assert local == "anonymous" or re.fullmatch(r"\+[1-9][0-9]{6,14}", local)


jid_text = st.one_of(
    st.sampled_from(
        [
            "alice@example.org/phone",
            "asterisk@example.org/a",
            "gw.localhost",
            "+15551234567@gw.localhost",
            "+15551234567@gw.localhost/gateway",
            "c-" + "0" * 20 + "@gw.localhost/relay",
            "t-" + "0" * 20 + "@gw.localhost/relay",
            "@gw.localhost",
            "",
        ]
    ),
    hostile.map(lambda t: f"{t}@gw.localhost"),
    hostile,
)
children = st.sampled_from(
    [
        f"{{{NS_JINGLE}}}jingle",
        "{urn:xmpp:jingle-message:0}propose",
        "{urn:xmpp:jingle-message:0}proceed",
        "{urn:xmpp:jingle-message:0}reject",
        "{http://jabber.org/protocol/disco#info}query",
        "{jabber:component:accept}error",
        "{x}y",
    ]
)


@given(
    kind=st.sampled_from(["iq", "message", "presence", "handshake"]),
    stanza_type=st.sampled_from(
        ["get", "set", "result", "error", "chat", "subscribe", "probe", ""]
    ),
    frm=jid_text,
    to=jid_text,
    child=st.lists(children, max_size=2),
    action=st.sampled_from(["session-initiate", "session-terminate", "transport-info", "", "x"]),
    sid=hostile,
)
def test_any_stanza_is_handled_without_raising(
    kind: str, stanza_type: str, frm: str, to: str, child: list[str], action: str, sid: str
) -> None:
    gw = Gateway(GatewayConfig(asterisk_jid="asterisk@example.org/a", domain="gw.localhost"))
    gw.expect_inbound("alice@example.org", "+15550001111")
    elem = ET.Element(
        f"{{{NS_COMPONENT}}}{kind}", {"type": stanza_type, "from": frm, "to": to, "id": "1"}
    )
    for tag in child:
        ET.SubElement(elem, tag, {"action": action, "sid": sid, "id": sid})
    for out in gw.handle(elem):
        assert out.get("to") is not None  # every reply is addressed
