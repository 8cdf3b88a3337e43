"""disco#info and XEP-0115 caps of the gateway and its number JIDs."""

from __future__ import annotations

import base64
import hashlib

from callctl.xmppgw import disco
from callctl.xmppgw.xml import NS_DISCO_INFO, NS_DTLS


def test_caps_ver_matches_the_xep_0115_worked_example() -> None:
    # XEP-0115 §5.2: Exodus 0.9.1 with four features.
    ver = disco.caps_ver(
        [("client", "pc", "", "Exodus 0.9.1")],
        (
            "http://jabber.org/protocol/caps",
            "http://jabber.org/protocol/disco#info",
            "http://jabber.org/protocol/disco#items",
            "http://jabber.org/protocol/muc",
        ),
    )
    assert ver == "QgayPKawpkPSDYmwT/WM94uAlu0="


def test_presence_caps_hash_what_disco_answers() -> None:
    for dtls in (False, True):
        query = disco.info_query(False, dtls)
        ident = query.find(f"{{{NS_DISCO_INFO}}}identity")
        assert ident is not None
        feats = sorted(f.get("var", "") for f in query.findall(f"{{{NS_DISCO_INFO}}}feature"))
        text = f"{ident.get('category')}/{ident.get('type')}//{ident.get('name')}<"
        text += "".join(f"{v}<" for v in feats)
        expected = base64.b64encode(hashlib.sha1(text.encode()).digest()).decode()
        c = disco.presence("+1555@gw", "a@b", dtls=dtls).find(f"{{{disco.NS_CAPS}}}c")
        assert c is not None and c.get("ver") == expected and c.get("hash") == "sha-1"
        assert (NS_DTLS in feats) == dtls


def test_subscription_replies_carry_no_caps() -> None:
    pres = disco.presence("+1555@gw", "a@b", "subscribed")
    assert pres.get("type") == "subscribed" and len(pres) == 0
