"""The page's record of a call (rig.report()) read into the probe's stage timeline."""

from __future__ import annotations

from typing import Any

from callctl.probe.browser.report import apply, ended_by_peer, first, initiate_refused, last_state
from callctl.probe.timeline import Timeline


def _report(marks: dict[str, float], *events: tuple[str, Any]) -> dict[str, Any]:
    return {
        "marks": marks,
        "events": [{"t": 1.0 + i, "what": w, "detail": d} for i, (w, d) in enumerate(events)],
    }


def test_page_marks_become_probe_events_on_the_probe_clock() -> None:
    t = Timeline()
    marks = {
        "initiated": 100.0,
        "ringing": 150.0,
        "accept": 400.0,
        "connected": 450.0,  # a page mark the probe has no event for
        "ice": 420.0,
        "dtls": 440.5,
        "audioOut": 460.0,
        "audioIn": 480.0,
    }
    apply(t, _report(marks), offset=2.0)  # the page's 0 ms is the probe's 2 s
    assert t.times == {
        "session-initiate": 2.1,
        "ringing": 2.15,
        "accept": 2.4,
        "ice": 2.42,
        "dtls": 2.4405,
        "audio-out": 2.46,
        "audio-in": 2.48,
    }


def test_a_later_record_keeps_the_first_times_and_adds_the_new_ones() -> None:
    t = Timeline()
    apply(t, _report({"initiated": 100.0}), offset=1.0)
    apply(t, _report({"initiated": 100.0, "accept": 300.0}), offset=1.5)  # offset re-measured
    assert t.times == {"session-initiate": 1.1, "accept": 1.8}


def test_a_record_without_marks_or_with_bad_values_marks_nothing() -> None:
    t = Timeline()
    apply(t, {}, offset=1.0)
    apply(t, {"marks": {"accept": None, "ice": "soon", "dtls": True}}, offset=1.0)
    assert t.times == {}


def test_how_the_session_ended_and_why_the_initiate_was_refused() -> None:
    running = _report({}, ("jingle:outgoing", "s1"), ("ice", "checking"))
    assert ended_by_peer(running) is None and initiate_refused(running) is None
    ended = _report({}, ("ice", "checking"), ("terminated", "decline"), ("terminated", "x"))
    assert ended_by_peer(ended) == "decline"
    assert ended_by_peer(_report({}, ("terminated", ""))) == "no reason given"
    refused = _report({}, ("initiate-error", '{"condition":"item-not-found"}'))
    assert initiate_refused(refused) == '{"condition":"item-not-found"}'
    assert first(refused, "terminate-error") is None


def test_the_last_state_seen_names_where_media_stopped() -> None:
    r = _report({}, ("ice", "checking"), ("dtls", "new"), ("ice", "failed"))
    assert last_state(r, "ice") == "failed"
    assert last_state(r, "dtls") == "new"
    assert last_state(r, "connection") == "none"
