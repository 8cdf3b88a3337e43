"""controller/callctl/icelog/webrtc.py: why a real WebRTC client got no media (pure), on the
real captures of the stock real-client matrix cells (tests/data/logs, see its README) and on
small stanzas that isolate each rule, including what a fixed Asterisk sends (no finding)."""

from __future__ import annotations

import pytest
from callctl import paths
from callctl.icelog.cli import analyze_file
from callctl.icelog.webrtc import SIGNATURES, WebrtcWatch

DATA = paths.REPO_ROOT / "tests" / "data" / "logs"
RECV = "<--- XMPP received from 'rig' --->"
SENT = "<--- XMPP sent to 'rig' --->"
NS = "xmlns='urn:xmpp:jingle:1'"
ICE = "xmlns='urn:xmpp:jingle:transports:ice-udp:1'"
FP = (
    "<fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' setup='actpass' hash='sha-256'>"
    "9C:98</fingerprint>"
)
GROUP = (
    "<group xmlns='urn:xmpp:jingle:apps:grouping:0' semantics='BUNDLE'><content name='0'/></group>"
)
FULL_CANDIDATE = (
    "<candidate generation='0' ip='10.213.0.2' component='1' foundation='1' priority='1' "
    "protocol='udp' port='4000' type='host' id='x1'/>"
)
BARE_CANDIDATE = (
    "<candidate ip='10.213.0.2' component='1' foundation='1' priority='1' protocol='udp' "
    "port='4000' type='host'/>"
)


def jingle(
    action: str,
    sid: str,
    transport: str = "",
    description: str = "",
    extra: str = "",
    iq_id: str = "1",
    senders: str = "",
) -> str:
    snd = f" senders='{senders}'" if senders else ""
    return (
        f"<iq type='set' id='{iq_id}'><jingle action='{action}' sid='{sid}' {NS}>"
        f"<content name='audio' creator='initiator'{snd}><description>{description}"
        f"</description>{transport}</content>{extra}</jingle></iq>"
    )


def transport(body: str = "", ufrag: bool = True) -> str:
    creds = " ufrag='u' pwd='p'" if ufrag else ""
    return f"<transport {ICE}{creds}>{body}</transport>" if body else f"<transport {ICE}{creds}/>"


def signatures(watch: WebrtcWatch, stanzas: list[str], logs: tuple[str, ...] = ()) -> set[str]:
    found = [f.signature for line in stanzas for f in watch.stanza(line)]
    found += [f.signature for text in logs for f in watch.asterisk(text)]
    found += [f.signature for f in watch.finish()]
    return set(found)


def browser_offer(sid: str, candidate: str = FULL_CANDIDATE) -> list[str]:
    return [RECV, jingle("session-initiate", sid, transport(FP + candidate), "<rtcp-mux/>", GROUP)]


# -- the real captures ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("capture", "expected"),
    [
        ("webrtc-stock-chromium-out.debug.log", {"webrtc-fingerprint-as-candidate"}),
        ("webrtc-stock-firefox-out.debug.log", {"webrtc-fingerprint-as-candidate"}),
        (
            "webrtc-stock-chromium-in.debug.log",
            {"webrtc-no-fingerprint", "webrtc-rtcp-mux-missing", "webrtc-transport-incomplete"},
        ),
        (
            "webrtc-stock-firefox-in.debug.log",
            {"webrtc-no-fingerprint", "webrtc-rtcp-mux-missing", "webrtc-transport-incomplete"},
        ),
    ],
)
def test_real_stock_captures_are_named(capture: str, expected: set[str]) -> None:
    report = analyze_file(DATA / capture).report()
    named = {s for s in report["signatures"] if s.startswith("webrtc-")}
    assert named == expected
    for finding in report["findings"]:
        if finding["signature"] in expected:
            assert finding["explanation"] and finding["patch"], finding


# -- one rule at a time ---------------------------------------------------------------------


def test_fingerprint_taken_for_a_candidate() -> None:
    log = ("Incomplete ICE-UDP candidate received on session 's1'",)
    assert signatures(WebrtcWatch(), browser_offer("s1"), log) == {
        "webrtc-fingerprint-as-candidate"
    }


def test_candidate_without_generation_and_id_is_told_apart() -> None:
    log = ("Incomplete ICE-UDP candidate received on session 's1'",)
    found = signatures(WebrtcWatch(), browser_offer("s1", BARE_CANDIDATE), log)
    assert found == {"webrtc-candidate-incomplete"}


def test_bundle_group_read_as_a_content() -> None:
    log = ("Received content without a name on session 's1'",)
    assert signatures(WebrtcWatch(), browser_offer("s1"), log) == {"webrtc-bundle-group-refused"}


def test_bundle_group_and_incompatible_parameters() -> None:
    end = f"<iq type='set' id='9'><jingle action='session-terminate' sid='s1' {NS}>"
    end += "<reason><incompatible-parameters/></reason></jingle></iq>"
    found = signatures(WebrtcWatch(), [*browser_offer("s1"), SENT, end])
    assert found == {"webrtc-bundle-group-refused"}


def test_answer_without_fingerprint_to_a_dtls_offer() -> None:
    answer = jingle("session-accept", "s1", transport(FULL_CANDIDATE), "<rtcp-mux/>")
    found = signatures(WebrtcWatch(), [*browser_offer("s1"), SENT, answer])
    assert found == {"webrtc-no-fingerprint"}


def test_a_fixed_answer_names_nothing() -> None:
    answer = jingle("session-accept", "s1", transport(FP + FULL_CANDIDATE), "<rtcp-mux/>")
    assert signatures(WebrtcWatch(), [*browser_offer("s1"), SENT, answer]) == set()


def test_dtls_never_started() -> None:
    answer = jingle("session-accept", "s1", transport(FP + FULL_CANDIDATE), "<rtcp-mux/>")
    log = ("Received SSL traffic on RTP instance '0x7f' without an SSL session",)
    found = signatures(WebrtcWatch(), [*browser_offer("s1"), SENT, answer], log)
    assert found == {"webrtc-dtls-never-started"}


def test_offer_without_rtcp_mux_refused_by_iq_error() -> None:
    offer = jingle("session-initiate", "s2", transport(FP + FULL_CANDIDATE), iq_id="off1")
    error = "<iq type='error' id='off1' from='alice@jingle.test/w'><error type='cancel'/></iq>"
    found = signatures(WebrtcWatch(), [SENT, offer, RECV, error])
    assert found == {"webrtc-rtcp-mux-missing"}


def test_bare_offer_refused_by_a_rejected_content() -> None:
    offer = jingle("session-initiate", "s2", transport(ufrag=False), iq_id="off1")
    accept = jingle("session-accept", "s2", transport(ufrag=False), senders="none")
    found = signatures(WebrtcWatch(), [SENT, offer, RECV, accept])
    assert found == {
        "webrtc-no-fingerprint",
        "webrtc-rtcp-mux-missing",
        "webrtc-transport-incomplete",
    }


def test_a_fixed_offer_accepted_names_nothing() -> None:
    offer = jingle("session-initiate", "s2", transport(FP + FULL_CANDIDATE), "<rtcp-mux/>")
    accept = jingle("session-accept", "s2", transport(FP + FULL_CANDIDATE), "<rtcp-mux/>")
    assert signatures(WebrtcWatch(), [SENT, offer, RECV, accept]) == set()


def test_a_plain_rtp_client_is_not_a_webrtc_failure() -> None:
    # A Gajim-style client: no fingerprint, no group; Asterisk answers without one: fine.
    offer = [RECV, jingle("session-initiate", "s3", transport(FULL_CANDIDATE))]
    answer = jingle("session-accept", "s3", transport(FULL_CANDIDATE))
    assert signatures(WebrtcWatch(), [*offer, SENT, answer]) == set()


def test_lines_for_unknown_sessions_and_noise_are_ignored() -> None:
    watch = WebrtcWatch()
    log = (
        "Incomplete ICE-UDP candidate received on session 'nope'",
        "Received SSL traffic on RTP instance '0x1' without an SSL session",
    )
    assert signatures(watch, ["<iq type='result' id='1'/>", RECV, "<jingle"], log) == set()


def test_every_signature_has_an_explanation_and_a_patch() -> None:
    from callctl.icelog.signatures import EXPLAIN, PATCHES

    for sig in SIGNATURES:
        assert EXPLAIN[sig] and PATCHES[sig]
