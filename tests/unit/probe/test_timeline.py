"""The probe's stage timeline: which stage a failed call is reported at."""

from __future__ import annotations

import pytest
from callctl.probe.timeline import EVENTS, PHASES, Timeline


def _reached(*events: str) -> Timeline:
    t = Timeline()
    for i, e in enumerate(events):
        t.mark(e, 0.1 * (i + 1))
    return t


ALL = ("login", "session-initiate", "ringing", "accept", "ice", "audio-out", "audio-in", "hangup")


def test_every_required_event_passes_and_optional_ones_may_be_missing() -> None:
    t = _reached(*(e for e in ALL if e != "ringing"))  # answered at once: no ringback
    assert t.passed and t.failed_phase is None
    assert t.summary() == "probe passed"


def test_a_phone_that_rings_and_never_answers_fails_at_ringing() -> None:
    t = _reached("login", "session-initiate", "ringing")
    t.fail("not answered within 5 s (it rang)")
    assert t.failed_phase == "ringing"
    assert t.summary() == "probe failed at stage ringing: not answered within 5 s (it rang)"


@pytest.mark.parametrize(
    ("reached", "phase"),
    [
        ((), "login"),
        (("login",), "session-initiate"),
        (("login", "session-initiate"), "ringing"),
        (("login", "session-initiate", "accept"), "ice"),
        (("login", "session-initiate", "accept", "ice", "audio-out"), "audio"),
        (ALL[:-1], "hangup"),
    ],
)
def test_the_failed_stage_is_the_phase_of_the_first_missing_required_event(
    reached: tuple[str, ...], phase: str
) -> None:
    assert _reached(*reached).failed_phase == phase


def test_an_error_after_every_event_still_fails() -> None:
    t = _reached(*ALL)
    t.fail("the gateway ended the call: general-error")
    assert not t.passed and t.failed_phase == "hangup"


def test_the_first_time_and_the_first_error_are_kept() -> None:
    t = Timeline()
    t.mark("login", 0.5)
    t.mark("login", 0.9)
    t.fail("first")
    t.fail("second")
    assert t.times["login"] == 0.5 and t.error == "first"


def test_unknown_events_are_refused() -> None:
    with pytest.raises(ValueError):
        Timeline().mark("connected", 1.0)
    with pytest.raises(ValueError):
        Timeline().skip("nope", "why")


def test_json_lists_every_event_in_call_order_with_notes() -> None:
    t = _reached("login")
    t.skip("dtls", "not negotiated")
    doc = t.to_json()
    assert doc["version"] == 1 and doc["failed_stage"] == "session-initiate"
    assert [e["event"] for e in doc["events"]] == [e for e, _, _ in EVENTS]
    dtls = next(e for e in doc["events"] if e["event"] == "dtls")
    assert dtls == {"event": "dtls", "phase": "dtls", "seconds": None, "note": "not negotiated"}
    assert PHASES[0] == "login" and PHASES[-1] == "hangup"


def test_an_expected_optional_event_that_never_came_is_where_the_call_failed() -> None:
    t = _reached("login", "session-initiate", "accept", "ice")
    t.fail("DTLS: no handshake within 10 s")
    assert t.failed_phase == "audio"  # DTLS is optional: not offered, it is not waited for
    t.expect("dtls")  # both sides signalled it: the call needs it
    assert t.failed_phase == "dtls"
    assert t.summary() == "probe failed at stage dtls: DTLS: no handshake within 10 s"
    with pytest.raises(ValueError, match="unknown probe event"):
        t.expect("dtls-ish")
