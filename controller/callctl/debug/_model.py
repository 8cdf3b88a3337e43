"""The debug session model: durations, prior state, the steps of `on` and how each is undone.

Pure: no I/O. The service (`service.py`) runs these steps over AMI and records progress in the
state file (`_store.py`) after each one, so a crash at any point leaves enough on disk to undo
exactly what was applied.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from callctl.errors import StateError, UsageError

DEFAULT_DURATION = timedelta(minutes=15)
MAX_DURATION = timedelta(hours=4)
MIN_DURATION = timedelta(seconds=10)
DEFAULT_LEVEL = 5
DEFAULT_NAME = "callctl-debug"
# `verbose` carries the pjsip logger's SIP messages; `debug` carries pjnath at pjproject
# level 3-4 and Asterisk's ast_debug; `trace` carries pjproject levels 5-6.
CHANNEL_LEVELS = "notice,warning,error,debug,verbose,trace"
STATE_VERSION = 1

_DURATION_PART = re.compile(r"(\d+)([hms])")
_NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def parse_duration(text: str) -> timedelta:
    """`90s`, `15m`, `1h`, `1h30m` -> timedelta, within [MIN_DURATION, MAX_DURATION]."""
    s = text.strip().lower()
    pos = 0
    total = 0
    seen: set[str] = set()
    for m in _DURATION_PART.finditer(s):
        if m.start() != pos or m.group(2) in seen:
            break
        seen.add(m.group(2))
        total += int(m.group(1)) * {"h": 3600, "m": 60, "s": 1}[m.group(2)]
        pos = m.end()
    if not s or pos != len(s):
        raise UsageError(
            f"bad duration {text!r}", hint="use a number with a unit: 90s, 15m, 1h, 1h30m"
        )
    d = timedelta(seconds=total)
    if d < MIN_DURATION:
        raise UsageError(f"duration {text!r} is shorter than {format_duration(MIN_DURATION)}")
    if d > MAX_DURATION:
        raise UsageError(
            f"duration {text!r} is longer than the maximum {format_duration(MAX_DURATION)}",
            hint="debug logging fills disks and slows Asterisk; run `callctl debug on` again "
            "later to extend",
        )
    return d


def format_duration(d: timedelta) -> str:
    secs = int(d.total_seconds())
    neg = secs < 0
    secs = abs(secs)
    h, rem = divmod(secs, 3600)
    m, s = divmod(rem, 60)
    parts = [f"{h}h" if h else "", f"{m}m" if m else "", f"{s}s" if s or not (h or m) else ""]
    return ("-" if neg else "") + "".join(parts)


def check_name(name: str) -> str:
    if not _NAME_OK.match(name):
        raise UsageError(
            f"bad channel name {name!r}",
            hint="letters, digits, '.', '_' and '-' only, at most 64 characters",
        )
    return name


def check_level(level: int) -> int:
    if not 1 <= level <= 6:
        raise UsageError(f"debug level {level} is out of range", hint="use 1 to 6 (default 5)")
    return level


@dataclass(frozen=True)
class Prior:
    """What Asterisk had before `debug on` changed anything."""

    core_debug: int
    pjproject_level: int
    pjproject_default: bool
    pjsip_logger: str  # "on", "off", "host:A,B", or "absent" (res_pjsip not loaded)
    pjsip_logger_source: str  # "config" (pjsip show settings) or "operator" (--pjsip-logger-was)
    channels: list[str]
    log_dir: str | None


@dataclass(frozen=True)
class Step:
    """One change `on` makes, the commands that make it and the commands that undo it."""

    key: str
    apply: tuple[str, ...]
    undo: tuple[str, ...]


STEP_ORDER = ("channel", "core_debug", "pjproject", "pjsip_logger")


def _pjsip_restore(prior_state: str) -> tuple[str, ...]:
    if prior_state == "off":
        return ("pjsip set logger off",)
    if prior_state.startswith("host:"):
        hosts = [h for h in prior_state[5:].split(",") if h]
        cmds = ["pjsip set logger off"]
        for i, h in enumerate(hosts):
            cmds.append(f"pjsip set logger {'host' if i == 0 else 'add'} {h}")
        return tuple(cmds)
    return ()


def plan_steps(prior: Prior, name: str, level: int) -> list[Step]:
    """The changes `on` makes, in order. Nothing that is already as wanted is touched."""
    steps = [
        Step(
            "channel",
            (f"logger add channel {name} {CHANNEL_LEVELS}",),
            (f"logger remove channel {name}",),
        )
    ]
    if prior.core_debug != level:
        undo = f"core set debug {prior.core_debug}" if prior.core_debug else "core set debug off"
        steps.append(Step("core_debug", (f"core set debug {level}",), (undo,)))
    if prior.pjproject_level != level:
        undo_pj = "default" if prior.pjproject_default else str(prior.pjproject_level)
        steps.append(
            Step(
                "pjproject",
                (f"pjproject set log level {level}",),
                (f"pjproject set log level {undo_pj}",),
            )
        )
    if prior.pjsip_logger not in ("on", "absent"):
        steps.append(
            Step("pjsip_logger", ("pjsip set logger on",), _pjsip_restore(prior.pjsip_logger))
        )
    return steps


def relevel_steps(prior: Prior, old_level: int, new_level: int) -> list[Step]:
    """Steps moving a running session from old_level to new_level; the undo stays the prior."""
    if old_level == new_level:
        return []
    core_undo = f"core set debug {prior.core_debug}" if prior.core_debug else "core set debug off"
    pj_undo = "default" if prior.pjproject_default else str(prior.pjproject_level)
    return [
        Step("core_debug", (f"core set debug {new_level}",), (core_undo,)),
        Step(
            "pjproject",
            (f"pjproject set log level {new_level}",),
            (f"pjproject set log level {pj_undo}",),
        ),
    ]


def now_utc() -> datetime:
    return datetime.now(UTC)


def _iso(dt: datetime) -> str:
    # Milliseconds: truncating to seconds would let debug expire up to a second early.
    return dt.astimezone(UTC).isoformat(timespec="milliseconds")


def _parse_dt(value: Any, what: str) -> datetime:
    try:
        dt = datetime.fromisoformat(str(value))
    except ValueError:
        raise StateError(f"debug state file: bad {what} timestamp {value!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt


@dataclass
class DebugState:
    """What is on disk while debug logging is (or is being turned) on.

    `status`: "turning_on" (steps being applied), "on", "turning_off" (steps being undone).
    `applied` lists the keys of the steps currently in effect, in the order applied.
    """

    status: str
    target: str
    name: str
    level: int
    log_file: str
    prior: Prior
    steps: list[Step]
    applied: list[str]
    since: datetime
    expires: datetime
    requested_by: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "status": self.status,
            "target": self.target,
            "name": self.name,
            "level": self.level,
            "log_file": self.log_file,
            "prior": asdict(self.prior),
            "steps": [
                {"key": s.key, "apply": list(s.apply), "undo": list(s.undo)} for s in self.steps
            ],
            "applied": list(self.applied),
            "since": _iso(self.since),
            "expires": _iso(self.expires),
            "requested_by": dict(self.requested_by),
            "history": list(self.history),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> DebugState:
        if doc.get("version") != STATE_VERSION:
            raise StateError(f"debug state file has version {doc.get('version')!r}, not 1")
        try:
            p = doc["prior"]
            prior = Prior(
                core_debug=int(p["core_debug"]),
                pjproject_level=int(p["pjproject_level"]),
                pjproject_default=bool(p["pjproject_default"]),
                pjsip_logger=str(p["pjsip_logger"]),
                pjsip_logger_source=str(p["pjsip_logger_source"]),
                channels=[str(c) for c in p["channels"]],
                log_dir=p.get("log_dir"),
            )
            steps = [Step(str(s["key"]), tuple(s["apply"]), tuple(s["undo"])) for s in doc["steps"]]
            state = cls(
                status=str(doc["status"]),
                target=str(doc["target"]),
                name=str(doc["name"]),
                level=int(doc["level"]),
                log_file=str(doc["log_file"]),
                prior=prior,
                steps=steps,
                applied=[str(a) for a in doc["applied"]],
                since=_parse_dt(doc["since"], "since"),
                expires=_parse_dt(doc["expires"], "expires"),
                requested_by=dict(doc["requested_by"]),
                history=list(doc.get("history", [])),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise StateError(f"debug state file is incomplete or corrupt: {err}") from None
        if state.status not in ("turning_on", "on", "turning_off"):
            raise StateError(f"debug state file has unknown status {state.status!r}")
        known = {s.key for s in steps}
        if not set(state.applied) <= known:
            raise StateError("debug state file lists applied steps it has no undo for")
        return state

    def step(self, key: str) -> Step:
        for s in self.steps:
            if s.key == key:
                return s
        raise KeyError(key)

    def undo_order(self) -> list[Step]:
        return [self.step(k) for k in reversed(self.applied)]

    def remaining(self, now: datetime) -> timedelta:
        return self.expires - now

    def expired(self, now: datetime) -> bool:
        return now >= self.expires
