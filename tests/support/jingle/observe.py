"""What the stock-vs-patched tests look for (issue 8), in Asterisk's log and in the stanzas.

Pure functions over text and parsed Jingle, so they are unit-tested without Asterisk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .stanzas import Jingle

# astobj2's complaints about a bad object pointer (defect 1 of issue 8): FRACK when the
# garbage is not an ao2 object, "Invalid refcount" when it is a stale pointer to one.
_FRACK = re.compile(r"FRACK|bad magic number")
_BAD_REFCOUNT = re.compile(r"Invalid refcount -?\d+ on ao2 object")
# pjnath ice_session.c pj_ice_sess_create(): LOG4 "ICE session created, comp_cnt=%d, role is
# %s agent" with role_names[] = Unknown / Controlled / Controlling.
_ROLE = re.compile(r"ICE session created, comp_cnt=(\d+), role is (\w+) agent")
_ROLE_CHANGE = re.compile(r"Role changed to (\w+)")
# pjnath on_ice_complete(): LOG4 "ICE process complete, status=%s" (pj_strerror text).
_COMPLETE = re.compile(r"ICE process complete, status=(.*?)\s*$")
_IGNORED_LATE_CHECK = "Ignored incoming check after ICE nego has been completed!"


def frack_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if _FRACK.search(line)]


def ao2_errors(log: str) -> list[str]:
    """FRACK lines and refcount underflows: either is defect 1 showing."""
    return [line for line in log.splitlines() if _FRACK.search(line) or _BAD_REFCOUNT.search(line)]


@dataclass(frozen=True)
class IceSessionLog:
    comp_cnt: int
    role: str  # "Unknown", "Controlled" or "Controlling"
    line: str


def ice_sessions(log: str) -> list[IceSessionLog]:
    """Every pjnath ICE session creation in the log, with the role it started with."""
    found = []
    for line in log.splitlines():
        match = _ROLE.search(line)
        if match:
            found.append(IceSessionLog(int(match.group(1)), match.group(2), line))
    return found


def role_changes(log: str) -> list[str]:
    return [line for line in log.splitlines() if _ROLE_CHANGE.search(line)]


def ice_completions(log: str) -> list[str]:
    """pjnath's verdict for each finished ICE session: "Success" or the error text."""
    return [m.group(1) for m in map(_COMPLETE.search, log.splitlines()) if m]


# Asterisk's logger.conf (controller/callctl/templates) has `dateformat = %F %T.%3q`.
_STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\]")


def ice_completion_times(log: str) -> list[tuple[datetime, str]]:
    """(local time, verdict) of each pjnath `ICE process complete` line with a timestamp."""
    found = []
    for line in log.splitlines():
        done, stamp = _COMPLETE.search(line), _STAMP.match(line)
        if done and stamp:
            when = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S.%f")
            found.append((when, done.group(1)))
    return found


def late_checks_ignored(log: str) -> int:
    """How often pjnath dropped a peer's check because it had already given up (or finished)."""
    return log.count(_IGNORED_LATE_CHECK)


def session_accept_defects(accept: Jingle | None) -> list[str]:
    """What is wrong with a session-accept for a PCMU audio offer; [] if it is usable.

    Stock chan_motif answering before it read the offer (issue 8, defect 3) gives
    "content without a name" and "no PCMU payload-type". A transport with neither
    credentials nor candidates is reported too ("empty transport"); whether the patched build
    must fill it is for docs/asterisk-patches.md to say, so callers choose which to assert.
    """
    if accept is None:
        return ["no session-accept"]
    if accept.action != "session-accept":
        return [f"not a session-accept: {accept.action}"]
    if not accept.contents:
        return ["no content"]
    defects = []
    for content in accept.contents:
        if not content.name:
            defects.append("content without a name")
        if content.media != "audio":
            defects.append(f"description media is {content.media!r}")
        if not content.has_payload("PCMU"):
            defects.append("no PCMU payload-type")
        trans = content.transport
        if trans is None:
            defects.append("no transport")
        elif not (trans.ufrag or trans.pwd or trans.candidates):
            defects.append("empty transport")
    return defects


STOCK_IMMEDIATE_ANSWER_DEFECTS = {"content without a name", "no PCMU payload-type"}


class LogTail:
    """What a log file gained since the last `read()`: one call's lines, for per-call verdicts
    from a sandbox that handles several calls."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def read(self) -> str:
        if not self.path.exists():
            return ""
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        return data.decode(errors="replace")


def asterisk_ice_succeeded(log: str) -> bool:
    """pjnath on Asterisk's side finished ICE with success (and never with a failure)."""
    verdicts = ice_completions(log)
    return bool(verdicts) and all(v == "Success" for v in verdicts)
