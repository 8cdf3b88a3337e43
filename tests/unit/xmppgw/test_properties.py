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
