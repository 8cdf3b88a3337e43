"""The operator's TURN config (YAML), read as the routing config is: every problem with its
line, all of them at once.

    version: 1
    server: 192.0.2.10:3478            # coturn, as Asterisk's rtp.conf `turnaddr` takes it
    secret_file: /etc/callctl/turn-secret   # coturn's static-auth-secret, a 0600 file
    user: asterisk                     # the REST user (default asterisk)
    ttl: 86400                         # seconds a credential lives (default 24 h)
    include: /etc/asterisk/callctl-turn/rtp-turn.conf   # rtp.conf #tryinclude's this

The secret itself is never in this file nor on a command line: it is read from
`secret_file` at each rotation (a new secret is picked up at the next one).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from callctl.errors import UsageError
from callctl.routing.config import read_config_text
from callctl.routing.issues import Issue, Issues
from callctl.routing.nodes import Entry, Reader, compose
from callctl.turn.rest import MAX_TTL

CONFIG_VERSION = 1
DEFAULT_PORT = 3478
DEFAULT_USER = "asterisk"
DEFAULT_TTL = 24 * 3600
MIN_TTL = 60  # shorter is a typo, or a coturn that refuses before Asterisk's call ends
# A hostname Asterisk resolves when it reads rtp.conf (it takes IPv4 only).
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")
# Written into rtp.conf and into the username: no ';' (a comment there), ':' or spaces.
_USER = re.compile(r"[A-Za-z0-9._@+-]{1,64}")


@dataclass(frozen=True)
class TurnSettings:
    host: str
    port: int
    secret_file: Path
    include: Path
    user: str = DEFAULT_USER
    ttl: int = DEFAULT_TTL

    @property
    def server(self) -> str:
        """rtp.conf's `turnaddr` value."""
        return f"{self.host}:{self.port}"


def parse_server(text: str) -> tuple[str, int] | str:
    """(host, port) from HOST[:PORT], or why not."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = text, str(DEFAULT_PORT)
    if "[" in text or host.count(":"):
        return "Asterisk's turnaddr takes an IPv4 address or a hostname, not IPv6"
    if not port_text.isascii() or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return f"port {port_text!r} is not a number from 1 to 65535"
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        if _HOSTNAME.fullmatch(host) is None or host.replace(".", "").isdigit():
            return f"{host!r} is not an IPv4 address or a hostname"
    return host, int(port_text)


def parse_turn_config(text: str) -> tuple[TurnSettings | None, list[Issue]]:
    """Validate config text; settings are returned only when there are no issues."""
    issues = Issues()
    root = compose(text, issues)
    settings = None if root is None else _load(root, Reader(issues), issues)
    if issues:
        return None, issues.sorted()
    return settings, []


def check_turn_file(path: Path) -> tuple[TurnSettings | None, list[Issue]]:
    try:
        text = read_config_text(path)
    except UsageError as err:  # its messages name the routing config
        raise UsageError(err.message.replace("routing config", "TURN config")) from None
    return parse_turn_config(text)


def load_turn_config(path: Path) -> TurnSettings:
    settings, issues = check_turn_file(path)
    if settings is None:
        more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
        raise UsageError(
            f"invalid TURN config: {issues[0].format(str(path))}{more}",
            hint=f"run `callctl turn check {path}` to list every problem",
        )
    return settings


def _load(root: yaml.Node, read: Reader, issues: Issues) -> TurnSettings | None:
    top = read.mapping(
        root,
        "",
        required=("version", "server", "secret_file", "include"),
        optional=("user", "ttl"),
    )
    if top is None:
        return None
    if "version" in top:
        version = read.integer(top["version"][1], "version", minimum=0, maximum=99)
        if version is not None and version != CONFIG_VERSION:
            issues.at(top["version"][1], "version", f"unsupported version {version} (expected 1)")
    server = _server(top.get("server"), read, issues)
    secret_file = _absolute(top.get("secret_file"), "secret_file", read, issues)
    include = _absolute(top.get("include"), "include", read, issues)
    user = DEFAULT_USER
    if "user" in top:
        node = top["user"][1]
        value = read.text(node, "user")
        if value is not None and _USER.fullmatch(value) is None:
            issues.at(node, "user", f"{value!r} is not 1-64 of A-Z a-z 0-9 . _ @ + -")
        user = value or user
    ttl = DEFAULT_TTL
    if "ttl" in top:
        ttl = read.integer(top["ttl"][1], "ttl", minimum=MIN_TTL, maximum=MAX_TTL) or ttl
    if issues or server is None or secret_file is None or include is None:
        return None
    return TurnSettings(server[0], server[1], secret_file, include, user, ttl)


def _server(entry: Entry | None, read: Reader, issues: Issues) -> tuple[str, int] | None:
    if entry is None:
        return None
    node = entry[1]
    text = read.text(node, "server", "HOST:PORT")
    if text is None:
        return None
    parsed = parse_server(text)
    if isinstance(parsed, str):
        issues.at(node, "server", parsed)
        return None
    return parsed


def _absolute(entry: Entry | None, key: str, read: Reader, issues: Issues) -> Path | None:
    if entry is None:
        return None
    node = entry[1]
    text = read.text(node, key, "an absolute path")
    if text is None:
        return None
    path = PurePosixPath(text)
    if not path.is_absolute() or ".." in path.parts or path.name in ("", ".") or "\n" in text:
        issues.at(node, key, f"expected an absolute path to a file, found {text!r}")
        return None
    if key == "include" and '"' in text:
        issues.at(node, key, "the path goes into rtp.conf in double quotes: no '\"' in it")
        return None
    return Path(text)
