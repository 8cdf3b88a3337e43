"""The model of one pjnath ICE session, and the pjnath log lines that change it (pure).

The messages matched here are quoted from pjproject 2.17 `pjnath/src/pjnath/ice_session.c`
(at `pj_log` level 4, which Asterisk maps to DEBUG, and level 5 for check states).
`apply_line` takes the text of one line of the session (pjlib's indent removed) and updates
the `Session`; it tells the caller when the line ends the session.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MAX_EVENTS = 200  # state changes kept per session (all are counted)
MAX_ITEMS = 1000  # pairs, candidates, nominations... kept per session (a real one has tens)

PairKey = tuple[int, str, str]  # (component, local address, remote address)

# Digit runs are bounded ({1,9}): a longer one is not pjnath's, and int() of thousands of
# digits raises (Python's int max str digits).
_PAIR = r"(\d{1,9}): \[(\d{1,9})\] (\S+)-->(\S+)"
RE_CREATED = re.compile(r"^ICE session created, comp_cnt=(\d{1,9}), role is (\w+) agent")
RE_ROLE = re.compile(r"^Role changed to (\w+)")
RE_CAND = re.compile(
    r"^Candidate (\d{1,9}) added: comp_id=(\d{1,9}), type=(\w+), foundation=(\S*), "
    r"addr=(\S+?):(\d+), base=(\S+?):(\d+), prio=0x([0-9a-fA-F]+)"
)
RE_STATE = re.compile(r"^Check " + _PAIR + r": state changed from (.+?) to (.+)$")
RE_CLIST_STATE = re.compile(r"^Checklist: state changed from (\w+) to (\w+)")
RE_DUMP_ROW = re.compile(r"^" + _PAIR + r" \((nominated|not nominated), state=(.+)\)$")
RE_RESULT = re.compile(
    r"^Check " + _PAIR + r" \((nominated|not nominated)\): connectivity check "
    r"(SUCCESS|FAILED)(?:: (.*))?$"
)
RE_VALID_NOM = re.compile(r"^Valid check " + _PAIR + r" is nominated")
RE_COMPLETE = re.compile(r"^ICE process complete, status=(.*)$")
RE_DESTROYED = re.compile(r"^ICE session (0x[0-9a-fA-F]+) destroyed")
# ice_strans.c (the pj_ice_strans object pjsua and pjmedia use; the session has its name)
RE_NEGOTIATION = re.compile(r"^ICE negotiation (success|failed) after (\d{1,9})s:(\d{3})")
RE_PRFLX_REMOTE = re.compile(r"^Added new remote candidate from the request: (\S+?):(\d+)")
TRIGGER_DONE = (
    "Performing triggered check",
    "New triggered check added",
    "Performing delayed triggerred check",
)
PEER_ACTIVITY = (
    "Triggered check for check",
    "Performing triggered check",
    "New triggered check added",
    "Received an early check",
    "Added new remote candidate from the request",
    "Ignored incoming check after ICE nego has been completed",
    "Performing delayed triggerred check",
)


def pair_key(m: re.Match[str], base: int = 2) -> PairKey:
    return int(m.group(base)), m.group(base + 1), m.group(base + 2)


def key_text(key: PairKey) -> str:
    return f"[{key[0]}] {key[1]}-->{key[2]}"


@dataclass
class CheckInfo:
    key: PairKey
    state: str = "Frozen"
    nominated: bool = False
    failed_at: float | None = None
    failure: str = ""
    succeeded_at: float | None = None


@dataclass
class Session:
    name: str
    ordinal: int
    created: float | None
    first_line: int
    comp_cnt: int = 0
    role: str = "Unknown"
    roles: list[str] = field(default_factory=list)
    local: list[dict[str, Any]] = field(default_factory=list)
    remote_prflx: list[str] = field(default_factory=list)
    checks: dict[PairKey, CheckInfo] = field(default_factory=dict)
    valid_list: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    events_dropped: int = 0
    started: float | None = None
    nominations: list[dict[str, Any]] = field(default_factory=list)
    completed: float | None = None
    status: str | None = None
    ended: float | None = None
    last_ts: float | None = None
    peer_first: float | None = None
    triggered_after_peer: int = 0
    ignored_after_complete: int = 0
    renomination_attr_seen: int = 0
    nomination_timeout: bool = False
    skipped_checklist: str = ""
    transactions: dict[str, float | None] = field(default_factory=dict)  # STUN dumps' tsx_id
    ufrags: set[str] = field(default_factory=set)  # from the USERNAME of dumped checks
    negotiation: dict[str, Any] | None = None  # ice_strans.c's own verdict and time
    stopped: str = ""  # the application stopped ICE (ice_strans.c / transport_ice.c), and why
    found: list[dict[str, Any]] = field(default_factory=list)
    dump: str = ""  # "checklist" or "valid" while pjnath prints a list's rows
    dropped: int = 0  # items past MAX_ITEMS, counted, not kept
    remotes: set[str] = field(default_factory=set)
    on_remote: Callable[[str, Session], None] | None = None  # told of each new remote

    def keep(self, items: list[Any], item: Any) -> None:
        """Append within MAX_ITEMS; count the rest."""
        if len(items) < MAX_ITEMS:
            items.append(item)
        else:
            self.dropped += 1

    def remote(self, addr: str) -> None:
        if addr not in self.remotes and len(self.remotes) < MAX_ITEMS:
            self.remotes.add(addr)
            if self.on_remote is not None:
                self.on_remote(addr, self)

    def event(self, ts: float | None, kind: str, text: str) -> None:
        if len(self.events) < MAX_EVENTS:
            self.events.append({"t": ts, "event": kind, "detail": text})
        else:
            self.events_dropped += 1

    def check(self, key: PairKey) -> CheckInfo:
        c = self.checks.get(key)
        if c is None:
            c = CheckInfo(key)
            if len(self.checks) < MAX_ITEMS:
                self.checks[key] = c
                self.remote(key[2])
            else:  # updated, then forgotten
                self.dropped += 1
        return c

    def outcome(self) -> str:
        if self.status is None:
            if self.negotiation is not None:  # ice_strans.c's verdict without the process line
                return "success" if self.negotiation["result"] == "success" else "failed"
            return "incomplete"
        return "success" if self.status == "Success" else "failed"


def created_line(text: str) -> tuple[int, str] | None:
    """(component count, role) of an "ICE session created" line."""
    m = RE_CREATED.match(text)
    return (int(m.group(1)), m.group(2)) if m else None


def destroyed_session(text: str) -> str | None:
    """The session name of ice_session.c's own "ICE session 0x... destroyed" line."""
    m = RE_DESTROYED.match(text)
    return "icess" + m.group(1) if m else None


def dump_row(s: Session, m: re.Match[str]) -> None:
    """One row of a "Checklist created/updated:" or "Valid list" dump."""
    key = pair_key(m)
    nominated = m.group(5) == "nominated"
    state = m.group(6)
    if s.dump == "valid":
        s.keep(
            s.valid_list,
            {
                "pair": key_text(key),
                "comp": key[0],
                "remote": key[2],
                "nominated": nominated,
                "state": state,
            },
        )
    else:
        c = s.check(key)
        c.state = state
        c.nominated = c.nominated or nominated


# --- one handler per kind of line; each returns True when the line ends the session -------


def _check_line(s: Session, ts: float | None, text: str) -> bool:
    m = RE_STATE.match(text)
    if m:
        key = pair_key(m)
        c = s.check(key)
        old, new = m.group(5), m.group(6)
        c.state = new
        if new == "Failed" and c.failed_at is None:
            c.failed_at = ts
        if new == "Succeeded":
            c.succeeded_at = ts
        s.event(ts, "check-state", f"{key_text(key)}: {old} -> {new}")
        return False
    m = RE_RESULT.match(text)
    if m:
        _check_result(s, ts, pair_key(m), m.group(5) == "nominated", m.group(6), m.group(7))
    return False


def _check_result(
    s: Session, ts: float | None, key: PairKey, nominated: bool, result: str, why: str | None
) -> None:
    c = s.check(key)
    if result == "FAILED":
        c.failure = why or ""
        if c.failed_at is None:
            c.failed_at = ts
        s.event(ts, "check-failed", f"{key_text(key)}: {c.failure}")
        return
    if c.succeeded_at is None:
        c.succeeded_at = ts
    s.event(ts, "check-succeeded", f"{key_text(key)}{' (nominated)' if nominated else ''}")
    if nominated:
        c.nominated = True
        s.keep(s.nominations, {"t": ts, "pair": key_text(key), "by": "check"})


def _checklist(s: Session, ts: float | None, text: str) -> bool:
    if text.startswith(("Checklist created:", "Checklist updated:")):
        s.dump = "checklist"
        return False
    m = RE_CLIST_STATE.match(text)
    if m:
        s.event(ts, "checklist-state", f"{m.group(1)} -> {m.group(2)}")
    return False


def _valid_list(s: Session, ts: float | None, text: str) -> bool:
    s.dump = "valid"
    s.valid_list = []
    return False


def _valid_check(s: Session, ts: float | None, text: str) -> bool:
    m = RE_VALID_NOM.match(text)
    if m:
        key = pair_key(m)
        s.check(key).nominated = True
        s.keep(s.nominations, {"t": ts, "pair": key_text(key), "by": "peer"})
        s.event(ts, "nominated", key_text(key))
    return False


def _candidate(s: Session, ts: float | None, text: str) -> bool:
    m = RE_CAND.match(text)
    if m:
        s.keep(
            s.local,
            {
                "id": int(m.group(1)),
                "comp": int(m.group(2)),
                "type": m.group(3),
                "addr": f"{m.group(5)}:{m.group(6)}",
            },
        )
    return False


def _complete(s: Session, ts: float | None, text: str) -> bool:
    m = RE_COMPLETE.match(text)
    if m and s.completed is None:
        s.completed = ts
        s.status = m.group(1).strip()
        s.event(ts, "complete", s.status)
    return False


def _start(s: Session, ts: float | None, text: str) -> bool:
    s.started = s.started if s.started is not None else ts
    s.event(ts, "start", "checks started")
    return False


def _role(s: Session, ts: float | None, text: str) -> bool:
    m = RE_ROLE.match(text)
    if m:
        s.role = m.group(1)
        s.keep(s.roles, m.group(1))
        s.event(ts, "role", m.group(1))
    return False


def _wait_nomination(s: Session, ts: float | None, text: str) -> bool:
    s.event(ts, "wait-nomination", "all checks done; waiting for nomination")
    return False


def _nomination_timeout(s: Session, ts: float | None, text: str) -> bool:
    s.nomination_timeout = True
    s.event(ts, "nomination-timeout", "gave up waiting for nomination")
    return False


def _no_checklist(s: Session, ts: float | None, text: str) -> bool:
    s.skipped_checklist = "no checklist can be created"
    return False


def _negotiation(s: Session, ts: float | None, text: str) -> bool:
    m = RE_NEGOTIATION.match(text)
    if m and s.negotiation is None:
        secs = int(m.group(2)) + int(m.group(3)) / 1000
        s.negotiation = {"result": m.group(1), "seconds": secs, "t": ts}
        s.event(ts, "negotiation", f"pjnath: ICE negotiation {m.group(1)} after {secs:.3f} s")
    return False


def _stopping(s: Session, ts: float | None, text: str) -> bool:
    """pjmedia/pjsua stop ICE when the call's media goes: "Stopping ICE, reason=..."
    (ice_strans.c), "Destroying ICE transport" (transport_ice.c)."""
    if not s.stopped and s.status is None and s.negotiation is None:
        reason = text.partition("reason=")[2].strip()[:200]
        s.stopped = reason or "the application destroyed the ICE transport"
        s.event(ts, "stopped", f"by the application: {s.stopped}")
    return False


def _destroying(s: Session, ts: float | None, text: str) -> bool:
    return True


def _peer_activity(s: Session, ts: float | None, text: str) -> bool:
    if s.peer_first is None:
        s.peer_first = ts
        s.event(ts, "peer-activity", text[:80])
    if text.startswith("Added new remote candidate"):
        m = RE_PRFLX_REMOTE.match(text)
        if m:
            addr = f"{m.group(1)}:{m.group(2)}"
            s.keep(s.remote_prflx, addr)
            s.remote(addr)
    if text.startswith("Ignored incoming check"):
        s.ignored_after_complete += 1
    if text.startswith(TRIGGER_DONE):
        s.triggered_after_peer += 1
        s.event(ts, "triggered-check", text[:80])
    return False


Handler = Callable[[Session, "float | None", str], bool]
# First matching prefix wins; the order matters only where prefixes overlap.
_HANDLERS: tuple[tuple[str | tuple[str, ...], Handler], ...] = (
    ("Check ", _check_line),
    ("Checklist", _checklist),
    ("Valid list", _valid_list),
    ("Valid check ", _valid_check),
    ("Candidate ", _candidate),
    ("ICE process complete", _complete),
    ("Starting ICE check", _start),
    ("Role changed to", _role),
    ("All checks have completed. Controlled agent now waits", _wait_nomination),
    ("Controlled agent timed-out in waiting", _nomination_timeout),
    ("Error: no checklist can be created", _no_checklist),
    ("Destroying ICE session", _destroying),
    (("Stopping ICE, reason=", "Destroying ICE transport"), _stopping),
    ("ICE negotiation ", _negotiation),
    (PEER_ACTIVITY, _peer_activity),
)


def apply_line(s: Session, ts: float | None, text: str) -> bool:
    """Apply one line of session `s`; True when pjnath says the session is being destroyed."""
    if text[:1].isdigit():
        m = RE_DUMP_ROW.match(text)
        if m and s.dump:
            dump_row(s, m)
        return False
    s.dump = ""
    for prefix, handler in _HANDLERS:
        if text.startswith(prefix):
            return handler(s, ts, text)
    return False
