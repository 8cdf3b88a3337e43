"""Parsers for the Asterisk CLI output debug toggling reads and checks. Pure: lines in, values out.

Every format below is quoted from Asterisk 22.10.1:
- `pjproject show log level` (res/res_pjproject.c): "pjproject log level is %d.%s" where the
  suffix is " (default)" when the level equals the compiled default.
- `pjproject set log level N`: "pjproject log level was %d and is now %d." or
  "pjproject log level is still %d.", optionally preceded by "Asterisk built or linked with
  pjproject PJ_LOG_MAX_LEVEL=%d." / "Lowering request to the max supported level.".
- `core show settings` (main/asterisk.c): "  Debug level:                 %d" and
  "  Log directory:               %s".
- `core set debug N|off` (main/cli.c): "Core debug was %s and is now %s." or
  "Core debug is still %s." where 0 prints as "OFF".
- `logger show channels` (main/logger.c): rows "%-35.35s %-8.8s %-10.10s %-9.9s  - LEVELS "
  (channel file name truncated to 35 characters, then Console|Syslog|File, formatter,
  Enabled|Disabled, the level names).
- `logger add channel` prints nothing on success, "Logger channel '%s' already exists" or
  "ERROR: Unable to create log channel '%s'"; `logger remove channel` prints
  "Removed dynamic logger channel '%s'" or "Unable to find dynamic logger channel '%s'".
- `pjsip set logger on|off|host X` (res/res_pjsip_logger.c): "PJSIP Logging enabled",
  "PJSIP Logging disabled", "PJSIP Logging Enabled for host: %s".
- `pjsip show settings` (res/res_pjsip/pjsip_cli.c): rows " %-*s : %s", one of them `debug`.
- `rtp show settings` (res/res_rtp_asterisk.c): "  Port start:      %d" and
  "  Port end:        %d" (rtp.conf's rtpstart/rtpend).
- `core set debug category [off] NAME[:N] ...` (main/cli.c handle_debug_category) prints
  nothing: it returns CLI_SUCCESS without output, ignores unknown names silently, and no
  command lists the categories (main/logger_category.c keeps them in a private vector).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

CHANNEL_NAME_WIDTH = 35


class UnexpectedOutput(ValueError):
    """Asterisk answered, but not in a form we know."""


@dataclass(frozen=True)
class PjprojectLevel:
    level: int
    is_default: bool


_PJ_SHOW = re.compile(r"pjproject log level is (\d+)\.( \(default\))?")
_PJ_SET = re.compile(r"pjproject log level (?:was (\d+) and is now (\d+)|is still (\d+))\.")
_CORE_SET = re.compile(r"Core debug (?:was (\w+) and is now (\w+)|is still (\w+))\.")
_CORE_DEBUG = re.compile(r"^\s*Debug level:\s+(\d+)\s*$")
_LOG_DIR = re.compile(r"^\s*Log directory:\s+(.*?)\s*$")
_CHANNEL_ROW = re.compile(
    r"^(?P<name>.*?)\s+(?P<type>Console|Syslog|File)\s+(?P<fmt>\S+)\s+"
    r"(?P<status>Enabled|Disabled)\s+-\s*(?P<levels>.*?)\s*$"
)
_PJSIP_DEBUG = re.compile(r"^\s*debug\s*:\s*(.*?)\s*$")


def _lines(lines: Iterable[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        out.extend(line.splitlines() or [""])
    return out


def parse_pjproject_level(lines: Iterable[str]) -> PjprojectLevel:
    for line in _lines(lines):
        m = _PJ_SHOW.search(line)
        if m:
            return PjprojectLevel(int(m.group(1)), m.group(2) is not None)
    raise UnexpectedOutput("no 'pjproject log level is N.' line")


def parse_pjproject_set(lines: Iterable[str]) -> tuple[int, int, bool]:
    """Returns (old, new, lowered): lowered when Asterisk capped the request."""
    text = _lines(lines)
    lowered = any("Lowering request" in line for line in text)
    for line in text:
        m = _PJ_SET.search(line)
        if m:
            if m.group(3) is not None:
                v = int(m.group(3))
                return v, v, lowered
            return int(m.group(1)), int(m.group(2)), lowered
    raise UnexpectedOutput("no 'pjproject log level was/is still' line")


def _core_value(word: str) -> int:
    if word.upper() == "OFF":
        return 0
    try:
        return int(word)
    except ValueError:
        raise UnexpectedOutput(f"core debug value {word!r} is not a number") from None


def parse_core_set_debug(lines: Iterable[str]) -> tuple[int, int]:
    """Returns (old, new) from `core set debug` output."""
    for line in _lines(lines):
        m = _CORE_SET.search(line)
        if m:
            if m.group(3) is not None:
                v = _core_value(m.group(3))
                return v, v
            return _core_value(m.group(1)), _core_value(m.group(2))
    raise UnexpectedOutput("no 'Core debug was/is still' line")


@dataclass(frozen=True)
class CoreSettings:
    debug_level: int
    log_dir: str | None


def parse_core_settings(lines: Iterable[str]) -> CoreSettings:
    debug: int | None = None
    log_dir: str | None = None
    for line in _lines(lines):
        m = _CORE_DEBUG.fullmatch(line)
        if m and debug is None:
            debug = int(m.group(1))
            continue
        m = _LOG_DIR.fullmatch(line)
        if m and log_dir is None:
            log_dir = m.group(1)
    if debug is None:
        raise UnexpectedOutput("no 'Debug level:' line in core show settings")
    return CoreSettings(debug, log_dir)


@dataclass(frozen=True)
class LogChannel:
    name: str  # as shown: the channel's file name, truncated to 35 characters
    type: str
    formatter: str
    enabled: bool
    levels: tuple[str, ...]

    def matches(self, filename: str) -> bool:
        """Whether this row can be the channel whose full file name is `filename`."""
        return self.name == filename[:CHANNEL_NAME_WIDTH]


def parse_logger_channels(lines: Iterable[str]) -> list[LogChannel]:
    rows: list[LogChannel] = []
    seen_rule = False
    for line in _lines(lines):
        if line.startswith("-------"):
            seen_rule = True
            continue
        if not seen_rule or not line.strip():
            continue
        m = _CHANNEL_ROW.match(line)
        if not m:
            continue
        rows.append(
            LogChannel(
                name=m.group("name").strip(),
                type=m.group("type"),
                formatter=m.group("fmt"),
                enabled=m.group("status") == "Enabled",
                levels=tuple(m.group("levels").split()),
            )
        )
    if not seen_rule:
        raise UnexpectedOutput("no channel table in logger show channels")
    return rows


def parse_pjsip_debug_setting(lines: Iterable[str]) -> str | None:
    """The `debug` value of `pjsip show settings` (yes/no/a host list), or None if absent."""
    for line in _lines(lines):
        m = _PJSIP_DEBUG.fullmatch(line)
        if m:
            return m.group(1)
    return None


_TRUE = {"yes", "true", "y", "t", "1", "on"}
_FALSE = {"no", "false", "n", "f", "0", "off", ""}


def pjsip_logger_from_setting(value: str | None) -> str:
    """Map pjsip.conf `debug` to a logger state: "on", "off" or "host:A,B"."""
    if value is None:
        return "off"
    v = value.strip()
    if v.lower() in _TRUE:
        return "on"
    if v.lower() in _FALSE:
        return "off"
    return "host:" + ",".join(h.strip() for h in v.split(",") if h.strip())


def check_logger_add(name: str, lines: Iterable[str]) -> None:
    text = " ".join(_lines(lines)).strip()
    if "already exists" in text:
        raise UnexpectedOutput(f"a logger channel {name!r} already exists")
    if text.startswith("ERROR") or "Unable to create" in text:
        raise UnexpectedOutput(text)
    if text:
        raise UnexpectedOutput(f"unexpected answer: {text}")


def check_logger_remove(lines: Iterable[str]) -> bool:
    """True if removed, False if it was already gone."""
    text = " ".join(_lines(lines))
    if "Removed dynamic logger channel" in text:
        return True
    if "Unable to find dynamic logger channel" in text:
        return False
    raise UnexpectedOutput(f"unexpected answer: {text.strip()}")


def check_pjsip_logger(command: str, lines: Iterable[str]) -> None:
    text = " ".join(_lines(lines))
    words = command.split()  # pjsip set logger ARG [VALUE]
    arg = words[3] if len(words) > 3 else ""
    if arg == "on" and "PJSIP Logging enabled" in text:
        return
    if arg == "off" and "PJSIP Logging disabled" in text:
        return
    if arg in ("host", "add") and "PJSIP Logging Enabled for host" in text:
        return
    raise UnexpectedOutput(f"unexpected answer to {command!r}: {text.strip()}")


def check_silent(command: str, lines: Iterable[str]) -> None:
    """A command that prints nothing on success (its usage text means it was not run)."""
    text = " ".join(_lines(lines)).strip()
    if text:
        raise UnexpectedOutput(f"unexpected answer to {command!r}: {text}")


_RTP_PORT = re.compile(r"\s*Port (start|end):\s+(\d+)\s*")


def parse_rtp_ports(lines: Iterable[str]) -> tuple[int, int]:
    """rtp.conf's rtpstart/rtpend as `rtp show settings` prints them."""
    found: dict[str, int] = {}
    for line in _lines(lines):
        m = _RTP_PORT.fullmatch(line)
        if m:
            found.setdefault(m.group(1), int(m.group(2)))
    if set(found) != {"start", "end"} or not 1 <= found["start"] <= found["end"] <= 65535:
        raise UnexpectedOutput("no 'Port start:'/'Port end:' range in rtp show settings")
    return found["start"], found["end"]
