"""controller/callctl/icelog/jingle.py: Jingle signalling in res_xmpp's debug output (pure)."""

from __future__ import annotations

from callctl.icelog.jingle import MAX_SESSIONS, JingleWatch

RECV = "<--- XMPP received from 'rig' --->"
SENT = "<--- XMPP sent to 'rig' --->"
NS = "xmlns='urn:xmpp:jingle:1'"


def initiate(sid: str, creator: str = "initiator", name: str = "audio") -> str:
    return (
        f"<iq type='set' id='1'><jingle action='session-initiate' {NS} sid='{sid}'>"
        f"<content name='{name}' creator='{creator}'><description/></content></jingle></iq>"
    )


def transport_info(sid: str, creator: str, name: str = "audio", quote: str = "'") -> str:
    q = quote
    return (
        f"<iq type='set' id='2'><jingle action={q}transport-info{q} sid={q}{sid}{q} {NS}>"
        f"<content creator={q}{creator}{q} name={q}{name}{q}><transport/></content>"
        f"</jingle></iq>"
    )


def feed(watch: JingleWatch, *lines: str) -> list[str]:
    return [m.evidence() for line in lines for m in watch.line(line)]


def test_content_of_a_peer_initiated_session_sent_back_as_responder_is_named() -> None:
    found = feed(JingleWatch(), RECV, initiate("s1"), SENT, transport_info("s1", "responder"))
    assert found == [
        "Asterisk's transport-info for Jingle session s1 names content 'audio' "
        "creator='responder', but the client created it (creator='initiator' in "
        "the session-initiate)"
    ]


def test_right_creator_or_own_session_is_clean() -> None:
    assert feed(JingleWatch(), RECV, initiate("s1"), SENT, transport_info("s1", "initiator")) == []
    # Asterisk initiated: its own content, creator='initiator' both ways
    assert (
        feed(
            JingleWatch(),
            SENT,
            initiate("s2"),
            SENT,
            transport_info("s2", "initiator"),
            RECV,
            transport_info("s2", "initiator"),
        )
        == []
    )
    # what the *peer* sends is not Asterisk's mistake
    assert feed(JingleWatch(), RECV, initiate("s3"), RECV, transport_info("s3", "responder")) == []


def test_unknown_session_other_content_and_double_quotes() -> None:
    watch = JingleWatch()
    assert feed(watch, SENT, transport_info("nope", "responder")) == []
    assert (
        feed(watch, RECV, initiate("s1"), SENT, transport_info("s1", "responder", name="video"))
        == []
    )
    assert len(feed(watch, SENT, transport_info("s1", "responder", quote='"'))) == 1
    assert feed(watch, SENT, transport_info("s1", "responder")) == []  # once per session


def test_two_stanzas_on_one_line_and_rejections_counted() -> None:
    watch = JingleWatch()
    feed(watch, RECV, initiate("s1"))
    reply = (
        "<iq type='error' id='2'><error type='modify'><bad-request/></error></iq>"
        f"<iq type='set'><jingle action='session-terminate' {NS} sid='s1'>"
        "<reason><failed-application/></reason></jingle></iq>"
    )
    assert feed(watch, RECV, reply) == []
    assert watch.rejections == 1


def test_lines_before_any_header_and_memory_bound() -> None:
    watch = JingleWatch()
    assert feed(watch, initiate("s0"), transport_info("s0", "responder")) == []
    watch.line(RECV)
    for i in range(MAX_SESSIONS + 10):
        watch.line(initiate(f"x{i}"))
    assert len(watch._sessions) == MAX_SESSIONS
