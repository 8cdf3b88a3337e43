"""Dial-string builders refuse anything outside the strict forms, whoever calls them."""

from __future__ import annotations

import pytest
from callctl.routing.dialstring import UnsafeDialString, motif, pjsip


def test_pjsip_form() -> None:
    assert pjsip("+15550104477", "carrier-a") == "PJSIP/+15550104477@carrier-a"


@pytest.mark.parametrize(
    "number",
    [
        "15550104477",
        "+1555010447&PJSIP/+1900@carrier-a",
        "+15550104477/sip:evil@example.com",
        "+15550104477,,tT",
        "+15550104477\n",
        "+1555${EXTEN}",
        "+1555010447\u0667",
        "+1",
    ],
)
def test_pjsip_refuses_numbers_that_are_not_e164(number: str) -> None:
    with pytest.raises(UnsafeDialString):
        pjsip(number, "carrier-a")


@pytest.mark.parametrize("trunk", ["", "carrier a", "a&b", "a/b", "a,b", "${T}", "a(b)", "c\u00e1"])
def test_pjsip_refuses_bad_trunk_names(trunk: str) -> None:
    with pytest.raises(UnsafeDialString):
        pjsip("+15550104477", trunk)


def test_motif_form() -> None:
    assert motif("xmpp-gw", "alice@example.org") == "Motif/xmpp-gw/alice@example.org"
    assert motif("xmpp-gw", "bob@example.org/phone") == "Motif/xmpp-gw/bob@example.org/phone"


@pytest.mark.parametrize(
    "jid",
    [
        "Alice@example.org",  # not canonical: callers must pass the loader's form
        "alice@example.org/a/b",
        "alice@example.org&Motif/xmpp-gw/eve@example.org",
        "alice@example.org/${X}",
        "alice@example.org,tT",
        "alice",
    ],
)
def test_motif_refuses_non_canonical_jids(jid: str) -> None:
    with pytest.raises(UnsafeDialString):
        motif("xmpp-gw", jid)


def test_motif_refuses_bad_endpoint() -> None:
    with pytest.raises(UnsafeDialString):
        motif("gw/evil", "alice@example.org")
