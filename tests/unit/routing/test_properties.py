"""Property-based tests: hostile numbers, DIDs, JIDs and names never reach a dial string.

Every dial string the router produces must match a strict regex built only from configured
names: one technology, one E.164 number or one configured JID, one configured endpoint. That
rules out a second destination ("&"), another tech or URI ("/"), Dial options (","), option
arguments ("("), variable or function expansion ("$", "${...}"), line breaks and non-ASCII.
"""

from __future__ import annotations

import json
import re

from callctl.paths import REPO_ROOT
from callctl.routing import RoutingConfig, inbound, load_config, outbound, parse_config
from callctl.routing.names import NAME_RE
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

EXAMPLE = REPO_ROOT / "specs" / "routing.example.yaml"
CONFIG: RoutingConfig = load_config(EXAMPLE)
CALLERS = sorted(CONFIG.callers)

_TRUNKS = "|".join(re.escape(t) for t in CONFIG.trunks)
PJSIP_RE = re.compile(rf"PJSIP/\+[1-9][0-9]{{6,14}}@(?:{_TRUNKS})")
_JIDS = "|".join(re.escape(j) for did in CONFIG.dids.values() for j in did.jids)
MOTIF_RE = re.compile(rf"Motif/{re.escape(CONFIG.motif_endpoint)}/(?:{_JIDS})")
METACHARACTERS = set("&,|;()$`{}[]'\"\\<>!*?#%^~= \t\r\n\x00")
# What a dialled number may contain at all; anything else must be refused.
NUMBER_CHARS = set("0123456789+ -.()")

INJECTIONS = [
    "&",
    ",",
    "/",
    "(",
    ")",
    "$",
    "${EXTEN}",
    "$[1+1]",
    "${SHELL(id)}",
    "\n",
    "\r\n",
    "\x00",
    "&PJSIP/+19005550100@carrier-b",
    ",,tT(x)",
    "/sip:eve@198.51.100.7",
    "@carrier-b",
    "\u0663",  # ARABIC-INDIC DIGIT THREE
    "\uff13",  # FULLWIDTH DIGIT THREE
    "\u00e9",
    "\u202e",  # RIGHT-TO-LEFT OVERRIDE
    ";",
    "|",
    "#",
]
hostile_chars = st.sampled_from(sorted(METACHARACTERS | {"/", "@", "+", "é", "٣", "\u2028"}))
hostile_text = st.text(
    alphabet=st.one_of(st.sampled_from("0123456789+ -.()"), hostile_chars, st.characters()),
    max_size=50,
)
valid_numbers = st.sampled_from(
    ["+15550104477", "(555) 010-4477", "011 44 20 7946 0000", "1 555 010 4477", "+15550104400"]
)


@st.composite
def injected_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """A number callers would dial, with a hostile fragment spliced in somewhere."""
    number = draw(valid_numbers)
    fragment = draw(st.sampled_from(INJECTIONS) | hostile_text)
    at = draw(st.integers(min_value=0, max_value=len(number)))
    return number[:at] + fragment + number[at:], fragment


def caller_jids() -> st.SearchStrategy[str]:
    known = st.sampled_from(CALLERS)
    suffixed = st.tuples(known, hostile_text).map(lambda t: t[0] + t[1])
    return st.one_of(known, suffixed, hostile_text)


def assert_safe_outbound(dialled: str, decision_dial_strings: tuple[str, ...]) -> None:
    for dial in decision_dial_strings:
        assert PJSIP_RE.fullmatch(dial), dial
        assert dial.isascii()
        assert not METACHARACTERS & set(dial)
        assert dial.count("/") == 1 and dial.count("@") == 1


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(caller=caller_jids(), dialled=hostile_text)
@example(caller="alice@example.org", dialled="+1555${EXTEN}0104477")
@example(caller="alice@example.org\n", dialled="+15550104477")
@example(caller="alice@example.org", dialled="+15550104477&${X},,tT")
@example(caller="alice@example.org/&PJSIP/+1900@carrier-a", dialled="+15550104477")
def test_outbound_dial_strings_are_always_strict(caller: str, dialled: str) -> None:
    d = outbound(CONFIG, caller, dialled, {})
    assert_safe_outbound(dialled, d.dial_strings)
    if not d.allowed:
        assert d.dial_strings == ()
        return
    # Allowed only if every input character can be part of a written phone number ...
    assert set(dialled) <= NUMBER_CHARS
    assert d.number is not None
    # ... and every digit dialled comes from the input (no digit invented, none reordered).
    digits = "".join(c for c in dialled if c.isascii() and c.isdigit())
    assert (CONFIG.numbering.country_code + digits).endswith(d.number[1:])
    assert d.dial_strings == tuple(f"PJSIP/{d.number}@{t}" for t in d.trunks)
    assert d.caller in CONFIG.callers


@settings(max_examples=600, deadline=None)
@given(case=injected_numbers(), caller=st.sampled_from(CALLERS))
def test_spliced_injections_are_refused(case: tuple[str, str], caller: str) -> None:
    dialled, fragment = case
    d = outbound(CONFIG, caller, dialled, {})
    assert_safe_outbound(dialled, d.dial_strings)
    if not set(fragment) <= NUMBER_CHARS:
        assert not d.allowed
        assert d.reason == "invalid-number"


@settings(max_examples=400, deadline=None)
@given(did=st.one_of(hostile_text, injected_numbers().map(lambda t: t[0])))
@example(did="+15550104401&Motif/xmpp-gw/eve@example.org")
@example(did="15550104401\n")
def test_inbound_dial_strings_are_always_strict(did: str) -> None:
    d = inbound(CONFIG, did)
    for dial in d.dial_strings:
        assert MOTIF_RE.fullmatch(dial), dial
        assert not METACHARACTERS & set(dial)
    if d.allowed:
        assert set(did) <= NUMBER_CHARS
        assert d.number in CONFIG.dids
    else:
        assert d.dial_strings == ()


def _config_with(trunk: str, jid: str) -> str:
    text = EXAMPLE.read_text()
    text = text.replace("fallbacks: [carrier-b]", f"fallbacks: [carrier-b, {json.dumps(trunk)}]")
    return text.replace("jids: [alice@example.org]", f"jids: [{json.dumps(jid)}]")


@settings(max_examples=300, deadline=None)
@given(
    trunk=st.one_of(st.sampled_from(INJECTIONS).map(lambda s: "carrier" + s), hostile_text),
    jid=st.one_of(st.sampled_from(INJECTIONS).map(lambda s: "eve@example.org" + s), hostile_text),
)
@example(trunk="carrier-c", jid="eve@example.org/phone")
def test_config_admits_only_strict_names(trunk: str, jid: str) -> None:
    config, issues = parse_config(_config_with(trunk, jid))
    if config is None:
        assert issues, "a refused config must say why"
        return
    # Whatever loaded is inside the strict forms, and so is every dial string built from it.
    for name in config.trunks:
        assert NAME_RE.fullmatch(name)
    for did in config.dids.values():
        for dial in inbound(config, did.number).dial_strings:
            assert dial.isascii() and not METACHARACTERS & set(dial), dial
            assert dial.count("/") in (2, 3)
    for caller in config.callers:
        for dial in outbound(config, caller, "+15550104477", {}).dial_strings:
            assert dial.isascii() and not METACHARACTERS & set(dial), dial
