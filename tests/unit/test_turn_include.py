"""callctl.turn.include: the rtp.conf include (render and read back)."""

from __future__ import annotations

from callctl.turn.include import TurnCredential, parse, render
from callctl.turn.rest import rest_credentials
from hypothesis import given
from hypothesis import strategies as st


def test_render_has_exactly_asterisks_keys() -> None:
    text = render(TurnCredential("192.0.2.10:3478", "1700000600:asterisk", "pw+/="))
    keys = [ln.split("=")[0].strip() for ln in text.splitlines() if not ln.startswith(";")]
    assert keys == ["turnaddr", "turnusername", "turnpassword"]
    assert "turnpassword = pw+/=\n" in text
    assert "; expires 2023-11-14 22:23:20Z" in text  # 1700000600, UTC
    assert "[" not in text  # no section: it is included inside rtp.conf's [general]


@given(
    secret=st.text(min_size=1, max_size=30),
    user=st.from_regex(r"[A-Za-z0-9._@+-]{1,20}", fullmatch=True),
    now=st.integers(0, 2**32),
    ttl=st.integers(60, 7 * 24 * 3600),
)
def test_parse_reads_back_what_render_wrote(secret: str, user: str, now: int, ttl: int) -> None:
    username, password = rest_credentials(secret, user, ttl=ttl, now=now)
    credential = TurnCredential("turn.example.org:3478", username, password)
    assert parse(render(credential)) == credential
    assert credential.expires == now + ttl


def test_parse_refuses_anything_else() -> None:
    assert parse("") is None
    assert parse("turnaddr = 1.2.3.4\nturnusername = 1:a\n") is None  # no password
    assert parse("turnaddr = x\nturnusername = alice\nturnpassword = p\n") is None


def test_rtp_conf_includes_it_inside_general_only_when_asked() -> None:
    from callctl.sandbox.render import _env

    template = _env().get_template("rtp.conf.j2")
    with_turn = template.render(rtp_start=10000, rtp_end=10100, turn_include="/etc/a/turn.conf")
    sections = [ln for ln in with_turn.splitlines() if ln.startswith("[")]
    assert sections == ["[general]"]
    assert with_turn.splitlines()[-1] == '#tryinclude "/etc/a/turn.conf"'
    without = template.render(rtp_start=10000, rtp_end=10100)
    assert "include" not in without
    assert template.render(rtp_start=10000, rtp_end=10100, turn_include="") == without
