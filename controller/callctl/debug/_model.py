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

from callctl.debug.capture import CaptureSpec
from callctl.errors import StateError, UsageError

DEFAULT_DURATION = timedelta(minutes=15)
MAX_DURATION = timedelta(hours=4)
MIN_DURATION = timedelta(seconds=10)
DEFAULT_LEVEL = 5
DEFAULT_NAME = "callctl-debug"
# `verbose` carries the pjsip logger's SIP messages; `debug` carries pjnath at pjproject
# level 3-4 and Asterisk's ast_debug; `trace` carries pjproject levels 5-6.
CHANNEL_LEVELS = "notice,warning,error,debug,verbose,trace"
STATE_VERSION = 2  # 2: steps are keys only; their commands are derived, never read
# Asterisk 22's debug categories for media (main/rtp_engine.c, main/stun.c register them).
CATEGORIES = (
    "rtp",
    "rtp_packet",
    "rtcp",
    "rtcp_packet",
    "dtls",
    "dtls_packet",
    "ice",
    "stun",
    "stun_packet",
)
_CATEGORY_OK = re.compile(r"(?P<name>[a-z_]+)(?::(?P<sub>[1-9][0-9]?))?")

_DURATION_PART = re.compile(r"([0-9]{1,9})([hms])")  # bounded: 20 digits overflowed timedelta
_NAME_OK = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


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
    if not _NAME_OK.fullmatch(name):
        raise UsageError(
            f"bad channel name {name!r}",
            hint="letters, digits, '.', '_' and '-' only, at most 64 characters",
        )
    return name


def check_level(level: int) -> int:
    if not 1 <= level <= 6:
        raise UsageError(f"debug level {level} is out of range", hint="use 1 to 6 (default 5)")
    return level


def parse_categories(text: str) -> tuple[str, ...]:
    """`ice,dtls:2,stun` -> ("ice", "dtls:2", "stun"): known names, an optional sublevel
    1-99 (`core set debug category NAME[:SUBLEVEL]`), each name once. `none` -> ()."""
    if text == "none":
        return ()
    entries = tuple(text.split(","))
    seen: set[str] = set()
    for entry in entries:
        m = _CATEGORY_OK.fullmatch(entry)
        if not m or m.group("name") not in CATEGORIES:
            raise UsageError(
                f"unknown debug category {entry!r}",
                hint=f"use {', '.join(CATEGORIES)}, each optionally with :SUBLEVEL (1-99)",
            )
        if m.group("name") in seen:
            raise UsageError(f"debug category {m.group('name')!r} given twice")
        seen.add(m.group("name"))
    return entries


def category_name(entry: str) -> str:
    return entry.partition(":")[0]


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
    # Debug categories enabled before (Asterisk 22 cannot list them: "assumed" none, or
    # what the operator said with --categories-were).
    categories: tuple[str, ...] = ()
    categories_source: str = "assumed"


@dataclass(frozen=True)
class Step:
    """One change `on` makes, the commands that make it and the commands that undo it."""

    key: str
    apply: tuple[str, ...]
    undo: tuple[str, ...]


STEP_ORDER = ("channel", "core_debug", "pjproject", "pjsip_logger")
# With --category, `categories` takes the place of `core_debug`.
# `capture` (tcpdump, not an AMI command) comes last, so it is stopped first.
KNOWN_STEPS = frozenset((*STEP_ORDER, "categories", "capture"))

# What a prior value may hold before it is put into a command: a forged or corrupt state
# file must not smuggle a second word (or a line break) into an AMI `Command:` header.
_HOST_OK = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:/_\[\]-]{0,254}")
MAX_CORE_DEBUG = 1_000_000


def _core_undo(prior: Prior) -> str:
    return f"core set debug {prior.core_debug}" if prior.core_debug else "core set debug off"


def _pj_undo(prior: Prior) -> str:
    return "pjproject set log level " + (
        "default" if prior.pjproject_default else str(prior.pjproject_level)
    )


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


def _categories_undo(prior: Prior, categories: tuple[str, ...]) -> tuple[str, ...]:
    """Back to exactly the prior of the categories `on` set: off, or the prior sublevel."""
    asked = {category_name(c) for c in categories}
    was = {category_name(c): c for c in prior.categories}
    off = [n for n in sorted(asked) if n not in was]
    back = [was[n] for n in sorted(asked) if n in was]
    cmds = []
    if off:
        cmds.append("core set debug category off " + " ".join(off))
    if back:
        cmds.append("core set debug category " + " ".join(back))
    return tuple(cmds)


def step_for(
    key: str, prior: Prior, name: str, level: int, categories: tuple[str, ...] = ()
) -> Step:
    """The step `key` of a session: its commands come from here only, never from a file."""
    if key == "channel":
        return Step(
            key,
            (f"logger add channel {name} {CHANNEL_LEVELS}",),
            (f"logger remove channel {name}",),
        )
    if key == "core_debug":
        return Step(key, (f"core set debug {level}",), (_core_undo(prior),))
    if key == "pjproject":
        return Step(key, (f"pjproject set log level {level}",), (_pj_undo(prior),))
    if key == "pjsip_logger":
        return Step(key, ("pjsip set logger on",), _pjsip_restore(prior.pjsip_logger))
    if key == "capture":
        return Step(key, (), ())  # the service starts and stops it (callctl.debug.capture)
    if key == "categories":
        return Step(
            key,
            ("core set debug category " + " ".join(categories),),
            _categories_undo(prior, categories),
        )
    raise StateError(f"unknown debug step {key!r}")


def plan_keys(
    prior: Prior, level: int, categories: tuple[str, ...] = (), capture: bool = False
) -> list[str]:
    """The changes `on` makes, in order. Nothing that is already as wanted is touched.

    Without categories: the write-up's four steps (channel, core debug, pjproject, pjsip
    logger). With categories, only those debug categories instead of the core debug level.
    """
    keys = ["channel"]
    if categories:
        keys.append("categories")
    elif prior.core_debug != level:
        keys.append("core_debug")
    if prior.pjproject_level != level:
        keys.append("pjproject")
    if prior.pjsip_logger not in ("on", "absent"):
        keys.append("pjsip_logger")
    if capture:
        keys.append("capture")
    return keys


def plan_steps(prior: Prior, name: str, level: int, categories: tuple[str, ...] = ()) -> list[Step]:
    return [
        step_for(k, prior, name, level, categories) for k in plan_keys(prior, level, categories)
    ]


def relevel_steps(
    prior: Prior, old_level: int, new_level: int, categories: tuple[str, ...] = ()
) -> list[Step]:
    """Steps moving a running session from old_level to new_level; the undo stays the prior.
    With categories the core debug level is not touched."""
    if old_level == new_level:
        return []
    keys = ("pjproject",) if categories else ("core_debug", "pjproject")
    return [step_for(k, prior, "", new_level) for k in keys]


def check_prior(prior: Prior) -> Prior:
    """Refuse prior values that could not have come from Asterisk (a forged or corrupt file)."""
    if not 0 <= prior.core_debug <= MAX_CORE_DEBUG:
        raise StateError(f"recorded core debug level {prior.core_debug} is out of range")
    if not 0 <= prior.pjproject_level <= 6:
        raise StateError(f"recorded pjproject level {prior.pjproject_level} is out of range")
    logger = prior.pjsip_logger
    if logger.startswith("host:"):
        hosts = logger[5:].split(",")
        if not all(_HOST_OK.fullmatch(h) for h in hosts):
            raise StateError(f"recorded pjsip logger hosts {logger[5:]!r} are not host names")
    elif logger not in ("on", "off", "absent"):
        raise StateError(f"recorded pjsip logger state {logger!r} is unknown")
    if prior.pjsip_logger_source not in ("config", "operator"):
        raise StateError(f"recorded pjsip logger source {prior.pjsip_logger_source!r} is unknown")
    if prior.categories_source not in ("assumed", "operator"):
        raise StateError(f"recorded categories source {prior.categories_source!r} is unknown")
    _check_categories(prior.categories, "prior")
    return prior


def _check_categories(entries: tuple[str, ...], what: str) -> None:
    try:
        if entries:
            parse_categories(",".join(entries))
    except UsageError as err:
        raise StateError(f"recorded {what} categories: {err.message}") from None


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
    `planned` lists the keys of the steps of this session in the order `on` applies them;
    `applied` the keys currently in effect. The file holds keys and the prior values only:
    every command is derived here (`step_for`), so a file can name what to undo but never
    what to run.
    """

    status: str
    target: str
    name: str
    level: int
    log_file: str
    prior: Prior
    planned: list[str]
    applied: list[str]
    since: datetime
    expires: datetime
    requested_by: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    categories: tuple[str, ...] = ()  # --category: these instead of the core debug level
    capture: CaptureSpec | None = None  # --capture: the tcpdump processes' spec

    @property
    def steps(self) -> list[Step]:
        return [self.step(k) for k in self.planned]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "status": self.status,
            "target": self.target,
            "name": self.name,
            "level": self.level,
            "log_file": self.log_file,
            "prior": asdict(self.prior),
            "planned": list(self.planned),
            "applied": list(self.applied),
            "since": _iso(self.since),
            "expires": _iso(self.expires),
            "requested_by": dict(self.requested_by),
            "history": list(self.history),
            "categories": list(self.categories),
            "capture": None if self.capture is None else self.capture.to_json(),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> DebugState:
        version = doc.get("version")
        if version not in (1, STATE_VERSION):
            raise StateError(f"debug state file has version {version!r}, not {STATE_VERSION}")
        try:
            p = doc["prior"]
            log_dir = p.get("log_dir")
            prior = Prior(
                core_debug=int(p["core_debug"]),
                pjproject_level=int(p["pjproject_level"]),
                pjproject_default=bool(p["pjproject_default"]),
                pjsip_logger=str(p["pjsip_logger"]),
                pjsip_logger_source=str(p["pjsip_logger_source"]),
                channels=[str(c) for c in p["channels"]],
                log_dir=None if log_dir is None else str(log_dir),
                categories=tuple(str(c) for c in p.get("categories", [])),
                categories_source=str(p.get("categories_source", "assumed")),
            )
            # Version 1 wrote each step's commands too: only their keys are taken.
            planned = (
                [str(s["key"]) for s in doc["steps"]]
                if version == 1
                else [str(k) for k in doc["planned"]]
            )
            state = cls(
                status=str(doc["status"]),
                target=str(doc["target"]),
                name=str(doc["name"]),
                level=int(doc["level"]),
                log_file=str(doc["log_file"]),
                prior=prior,
                planned=planned,
                applied=[str(a) for a in doc["applied"]],
                since=_parse_dt(doc["since"], "since"),
                expires=_parse_dt(doc["expires"], "expires"),
                requested_by=dict(doc["requested_by"]),
                history=[h for h in doc.get("history", []) if isinstance(h, dict)][-10:],
                categories=tuple(str(c) for c in doc.get("categories", [])),
                capture=(
                    None if doc.get("capture") is None else CaptureSpec.from_json(doc["capture"])
                ),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise StateError(f"debug state file is incomplete or corrupt: {err}") from None
        if state.status not in ("turning_on", "on", "turning_off"):
            raise StateError(f"debug state file has unknown status {state.status!r}")
        unknown = sorted(set(state.planned) - KNOWN_STEPS)
        if unknown:
            raise StateError(f"debug state file names unknown steps: {', '.join(unknown)}")
        if len(set(state.planned)) != len(state.planned):
            raise StateError("debug state file plans a step twice")
        if not set(state.applied) <= set(state.planned) or len(set(state.applied)) != len(
            state.applied
        ):
            raise StateError("debug state file lists applied steps it did not plan")
        try:
            check_name(state.name)
            check_level(state.level)
        except UsageError as err:
            raise StateError(f"debug state file: {err.message}") from None
        check_prior(state.prior)
        _check_categories(state.categories, "session")
        if ("categories" in state.planned) != bool(state.categories):
            raise StateError("debug state file: the categories step and its categories disagree")
        if ("capture" in state.planned) != (state.capture is not None):
            raise StateError("debug state file: the capture step and its spec disagree")
        return state

    def step(self, key: str) -> Step:
        if key not in self.planned:
            raise KeyError(key)
        return step_for(key, self.prior, self.name, self.level, self.categories)

    def undo_order(self) -> list[Step]:
        return [self.step(k) for k in reversed(self.applied)]

    def maybe_in_flight(self) -> str | None:
        """While turning on, the first planned step not recorded as applied may have run."""
        if self.status != "turning_on":
            return None
        for key in self.planned:
            if key not in self.applied:
                return key
        return None

    def remaining(self, now: datetime) -> timedelta:
        return self.expires - now

    def expired(self, now: datetime) -> bool:
        return now >= self.expires
