"""The fast path, pure: Dial()'s arguments for a decided call, and the AMI events that follow it.

With `--dispatch dialplan` the controller decides in Stasis and then continues the caller's
channel into the `callctl-dial` context (dialplan/callctl.conf), where Dial() rings, bridges
and tears down; Asterisk does that for less CPU than a Stasis bridge driven over ARI.
CALLCTL_DIAL holds Dial()'s whole argument list, so it is separated by ',' on purpose: that
makes it the one string where a stray ',', '(', '^', '&' or '${' would become another option,
destination or expansion. Every piece is re-checked here against its strict form, whatever
the callers already checked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from callctl.routing import dialstring
from callctl.routing.dialstring import DialTarget
from callctl.routing.numbers import is_e164

DISPATCH_MODES = ("dialplan", "bridge")  # `callctl run --dispatch`: this fast path, or ARI
CONTEXT = "callctl-dial"
DIAL_VARIABLE = "CALLCTL_DIAL"

# Dial strings come from callctl.routing.dialstring (tech/number@trunk, Motif/ep/jid,
# PJSIP/ep): letters, digits and "+/@._-" only. Channel ids: Asterisk's uniqueid form.
_DIAL_STRING_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*/[A-Za-z0-9+@._/\-]{1,300}")
_CHANNEL_ID_RE = re.compile(r"[A-Za-z0-9._\-]{1,128}")
MAX_TIMEOUT = 3600


class UnsafeDialArguments(ValueError):
    """A piece of the Dial() arguments is outside its strict form (a bug upstream)."""


def dial_arguments(dial_strings: Sequence[str], timeout: int, caller_id: str | None) -> str:
    """`DEST[&DEST...],TIMEOUT[,f(+E164 <+E164>)]`.

    Several destinations ring in parallel (Dial's '&'); f() sets the caller ID the called
    party sees (the mapped number, never the caller's JID).
    """
    if not dial_strings:
        raise UnsafeDialArguments("no destination")
    for dest in dial_strings:
        if _DIAL_STRING_RE.fullmatch(dest) is None:
            raise UnsafeDialArguments(f"not a plain dial string: {dest!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 0 < timeout <= MAX_TIMEOUT:
        raise UnsafeDialArguments(f"not a ring timeout in seconds: {timeout!r}")
    args = f"{'&'.join(dial_strings)},{timeout}"
    if caller_id is not None:
        if not is_e164(caller_id):
            raise UnsafeDialArguments(f"not an E.164 caller ID: {caller_id!r}")
        args += f",f({caller_id} <{caller_id}>)"  # name and number: From "+1..." <sip:+1...>
    return args


# The fast path follows its calls through two core AMI events, and asks Asterisk to send the
# daemon's session nothing else: Asterisk 22 event filters (criteria, pattern), matched by
# event name, then by the channel's dialplan context (a caller in CONTEXT: not the called
# legs, nor calls that never reached the fast path).
AMI_EVENTS = "call"  # the Login's event class of both
AMI_FILTERS: tuple[tuple[str, str], ...] = tuple(
    (f"action(include),name({name}),header(Context),method(exact)", CONTEXT)
    for name in ("DialEnd", "Hangup")
)


@dataclass(frozen=True)
class Answered:
    channel: str  # the caller's channel: Dial() on it was answered


@dataclass(frozen=True)
class Ended:
    channel: str  # a channel hung up (the controller cares when it is a caller's)
    cause: int | None = None


def parse_ami_event(event: Mapping[str, object]) -> Answered | Ended | None:
    """What a DialEnd or Hangup AMI event says about a channel, else None. Headers are read
    as Asterisk writes them (panoramisk's messages also match them in any case)."""
    name = str(event.get("Event", "")).lower()
    if name not in ("dialend", "hangup"):
        return None
    channel = str(event.get("Uniqueid", ""))
    if _CHANNEL_ID_RE.fullmatch(channel) is None:
        return None
    if name == "dialend":
        return Answered(channel) if event.get("DialStatus") == "ANSWER" else None
    cause = str(event.get("Cause", ""))
    return Ended(channel, int(cause) if cause.isdigit() and len(cause) < 6 else None)


# -- adopting a call an earlier daemon handed off ---------------------------------------------

_TRUNK_DIAL_RE = re.compile(r"PJSIP/(\+[0-9]{7,15})@([A-Za-z][A-Za-z0-9_.\-]{0,63})")
_MOTIF_DIAL_RE = re.compile(r"Motif/([A-Za-z][A-Za-z0-9_.\-]{0,63})/(.+)")
_ENDPOINT_DIAL_RE = re.compile(r"PJSIP/([A-Za-z][A-Za-z0-9_.\-]{0,63})")


@dataclass(frozen=True)
class HandedOff:
    """What a caller's CALLCTL_DIAL says about the call it is in (read back from Asterisk)."""

    targets: tuple[DialTarget, ...]
    timeout: int
    outbound: bool
    number: str | None  # the dialled number (outbound)


def read_dial_arguments(value: str) -> HandedOff | None:
    """The inverse of dial_arguments(), for a restarted daemon adopting its predecessor's
    calls. The variable is read back from Asterisk, so it is checked like any input: None
    unless every piece has its strict form (and rebuilds through callctl.routing.dialstring)."""
    parts = value.split(",")
    if len(parts) not in (2, 3) or not parts[1].isdigit():
        return None
    try:
        dial_arguments(parts[0].split("&"), int(parts[1]), _caller_id_of(parts[2:]))
    except (UnsafeDialArguments, ValueError):
        return None
    targets: list[DialTarget] = []
    numbers: list[str] = []
    try:
        for dest in parts[0].split("&"):
            if m := _TRUNK_DIAL_RE.fullmatch(dest):
                numbers.append(m.group(1))
                targets.append(dialstring.trunk_target(m.group(1), m.group(2)))
            elif m := _MOTIF_DIAL_RE.fullmatch(dest):
                targets.append(dialstring.jid_target(m.group(1), m.group(2)))
            elif m := _ENDPOINT_DIAL_RE.fullmatch(dest):
                targets.append(dialstring.endpoint_target(m.group(1), m.group(1)))
            else:
                return None
    except dialstring.UnsafeDialString:
        return None
    if numbers and (len(set(numbers)) != 1 or len(numbers) != len(targets)):
        return None  # a call goes either to trunks for one number, or to JIDs
    return HandedOff(tuple(targets), int(parts[1]), bool(numbers), numbers[0] if numbers else None)


def _caller_id_of(options: list[str]) -> str | None:
    if not options:
        return None
    m = re.fullmatch(r"f\((\+[0-9]{7,15}) <\1>\)", options[0])
    if m is None:
        raise ValueError("not the caller ID option")
    return m.group(1)
