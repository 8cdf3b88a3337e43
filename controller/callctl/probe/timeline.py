"""A probe call's timeline (pure): events with their times, and the phase a failure is in.

A call goes through phases; each ends with an event. The phase that failed is the one whose
required event never came: a session-initiate that is never acknowledged fails in
`session-initiate`, a phone that rings and is never answered fails in `ringing` (the
session-accept ends that phase), media that never flows fails in `ice` or `audio`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# (event, phase, required) in call order.
EVENTS: tuple[tuple[str, str, bool], ...] = (
    ("login", "login", True),
    ("propose", "session-initiate", False),  # XEP-0353: the <proceed/> to a <propose/>
    ("session-initiate", "session-initiate", True),
    ("ringing", "ringing", False),  # the ringback indication; some phones answer at once
    ("accept", "ringing", True),
    ("ice", "ice", True),
    ("dtls", "dtls", False),  # only when the answer carries a DTLS fingerprint
    ("audio-out", "audio", True),
    ("audio-in", "audio", True),
    ("hangup", "hangup", True),
)
PHASES: tuple[str, ...] = tuple(dict.fromkeys(phase for _, phase, _ in EVENTS))
_PHASE = {event: phase for event, phase, _ in EVENTS}

RESULT_VERSION = 1


@dataclass
class Timeline:
    """Event times in seconds from the start of the probe; notes say why an event was skipped."""

    times: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    error: str = ""  # why the call stopped, when it did
    expected: set[str] = field(default_factory=set)  # optional events this call must reach

    def mark(self, event: str, at: float) -> None:
        if event not in _PHASE:
            raise ValueError(f"unknown probe event {event!r}")
        self.times.setdefault(event, round(at, 6))  # the first time counts

    def skip(self, event: str, why: str) -> None:
        if event not in _PHASE:
            raise ValueError(f"unknown probe event {event!r}")
        self.notes[event] = why

    def expect(self, event: str) -> None:
        """An optional event this call needs (DTLS once both sides signalled it): a call
        that stops before it fails in its phase."""
        if event not in _PHASE:
            raise ValueError(f"unknown probe event {event!r}")
        self.expected.add(event)

    def fail(self, why: str) -> None:
        self.error = self.error or why

    def missing(self) -> list[str]:
        needed = [e for e, _, required in EVENTS if required or e in self.expected]
        return [e for e in needed if e not in self.times]

    @property
    def failed_phase(self) -> str | None:
        """The phase of the first required event that never came; None if all came."""
        missing = self.missing()
        if missing:
            return _PHASE[missing[0]]
        return "hangup" if self.error else None

    @property
    def passed(self) -> bool:
        return self.failed_phase is None

    def rows(self) -> list[tuple[str, str, float | None, str]]:
        """(event, phase, seconds or None, note) for every event, in call order."""
        return [(e, p, self.times.get(e), self.notes.get(e, "")) for e, p, _ in EVENTS]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": RESULT_VERSION,
            "passed": self.passed,
            "failed_stage": self.failed_phase,
            "error": self.error or None,
            "events": [
                {"event": e, "phase": p, "seconds": s, **({"note": n} if n else {})}
                for e, p, s, n in self.rows()
            ],
        }

    def summary(self) -> str:
        phase = self.failed_phase
        if phase is None:
            return "probe passed"
        return f"probe failed at stage {phase}: {self.error or 'no ' + self.missing()[0]}"
