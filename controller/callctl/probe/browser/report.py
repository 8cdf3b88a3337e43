"""The page's record of a call (rig.report(): marks and events, in page milliseconds) read
into the probe's timeline (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from callctl.probe.timeline import Timeline

# The page's marks (first time each happened) and the probe event each one is.
MARKS: tuple[tuple[str, str], ...] = (
    ("initiated", "session-initiate"),  # the session-initiate was acknowledged
    ("ringing", "ringing"),
    ("accept", "accept"),
    ("ice", "ice"),
    ("dtls", "dtls"),
    ("audioOut", "audio-out"),  # getStats: the first audio RTP packet sent
    ("audioIn", "audio-in"),  # getStats: the first audio RTP packet received
)


def apply(timeline: Timeline, report: Mapping[str, Any], offset: float) -> None:
    """Mark the page's events on `timeline`; `offset`: the probe's clock (s) at page time 0."""
    marks = report.get("marks") or {}
    for mark, event in MARKS:
        at = marks.get(mark)
        if isinstance(at, int | float) and not isinstance(at, bool):
            timeline.mark(event, offset + at / 1000.0)


def first(report: Mapping[str, Any], what: str) -> str | None:
    """The detail of the page's first `what` event; None if there was none."""
    for ev in report.get("events") or []:
        if isinstance(ev, Mapping) and ev.get("what") == what:
            return str(ev.get("detail") or "")
    return None


def ended_by_peer(report: Mapping[str, Any]) -> str | None:
    """Why the session ended (session-terminate's reason), when it did; None if it runs."""
    reason = first(report, "terminated")
    return None if reason is None else reason or "no reason given"


def initiate_refused(report: Mapping[str, Any]) -> str | None:
    """The error the session-initiate got back, if it was refused."""
    return first(report, "initiate-error")


def last_state(report: Mapping[str, Any], what: str) -> str:
    """The last state the page saw of `what` (ice, dtls, connection), or 'none'."""
    states = [
        str(ev.get("detail"))
        for ev in report.get("events") or []
        if isinstance(ev, Mapping) and ev.get("what") == what
    ]
    return states[-1] if states else "none"
