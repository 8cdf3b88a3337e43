"""Where a probe calls, from the sandbox's state, from flags, or from a config file.

Against the sandbox (no arguments): its first demo account calls the echo number through
the gateway; the media sockets live in the sandbox's network namespace (sandbox/netns.py).
Against a deployed gateway: the server, the account, the password (from a file or the
environment, never the command line) and the local address for media are given.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callctl.asterisk.ami import AmiConfig
from callctl.errors import StateError, UsageError

PASSWORD_ENV = "CALLCTL_PROBE_PASSWORD"
CONFIG_KEYS = {
    "server",
    "jid",
    "password_file",
    "to",
    "gateway_domain",
    "media_address",
    "plaintext",
    "answer_timeout",
    "ice_log",
    "websocket",
}


@dataclass(frozen=True)
class Resolved:
    server: tuple[str, int]
    jid: str
    password: str
    to: str
    socket_factory: Callable[[], socket.socket]
    candidate_allowed: Callable[[str], bool]
    plaintext: bool
    ice_log: Path | None
    label: str  # the `target` label of the metrics
    ami: AmiConfig | None = None  # the sandbox's: debug logging for the call
    websocket: str | None = None  # XMPP over WebSocket, for the chromium client
    netns: str = ""  # where a browser runs so that its media can flow ("": here)


def number_jid(to: str, gateway_domain: str) -> str:
    """A number JID from `--to`: a JID as it is, or a number on the gateway's domain."""
    if "@" in to:
        return to
    digits = to[1:] if to.startswith("+") else to
    if not digits.isascii() or not digits.isdigit() or not 0 < len(digits) <= 20:
        raise UsageError(f"--to {to!r}: expected a phone number (+ and digits) or a JID")
    return f"{to}@{gateway_domain}"


def parse_server(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"expected HOST:PORT for the XMPP server, got {value!r}")
    return host.strip("[]"), int(port)


def from_sandbox(name: str, to: str | None) -> Resolved:
    from callctl.sandbox.netns import MediaNet
    from callctl.sandbox.state import read_state

    state = read_state(name)
    if state is None or not state.jingle:
        raise StateError(
            f"no Jingle sandbox named {name!r}",
            hint="start one with `callctl sandbox up --jingle` (or `bash bootstrap.sh up`), "
            "or give --server/--jid/--to for a deployed gateway",
        )
    j = state.jingle
    net = MediaNet.from_dict(j["netns"])
    subnet = ipaddress.ip_network(net.subnet)
    account = j["accounts"][0]
    log = Path(state.root) / "log" / "full"
    return Resolved(
        server=parse_server(j["c2s"]),
        jid=account["jid"],
        password=account["password"],
        to=number_jid(to or j["echo_number"], j["gateway_domain"]),
        socket_factory=net.udp_socket,
        candidate_allowed=lambda ip: _in(ip, subnet),
        plaintext=True,
        ice_log=log,
        label=f"sandbox:{name}",
        ami=AmiConfig(
            state.bind_address, state.ami_port, state.ami_user, state.ami_secret, source="sandbox"
        ),
        # prosody listens on the veth's root end too: a browser in the namespace logs in there.
        websocket=j.get("namespace_websocket"),
        netns=net.name,
    )


def _in(ip: str, net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_address(ip) in net
    except ValueError:
        return False


def read_config(path: Path) -> dict[str, Any]:
    from callctl.yamlsafe import load

    try:
        data = load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except Exception as exc:  # YAML errors of any kind
        raise UsageError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping of {', '.join(sorted(CONFIG_KEYS))}")
    unknown = set(data) - CONFIG_KEYS
    if unknown:
        raise UsageError(f"{path}: unknown keys {sorted(map(str, unknown))}")
    return data


def _password(file: str | None) -> str:
    if file:
        try:
            return Path(file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UsageError(f"cannot read the password file {file}: {exc.strerror}") from None
    value = os.environ.get(PASSWORD_ENV)
    if not value:
        raise UsageError(f"the probe account's password: set ${PASSWORD_ENV} or password_file")
    return value


def from_settings(s: dict[str, Any]) -> Resolved:
    """A deployed gateway: `server`, `jid`, `to`, `media_address` are required."""
    missing = [k for k in ("server", "jid", "to", "media_address") if not s.get(k)]
    if missing:
        raise UsageError(
            f"probing a deployed gateway needs {', '.join(missing)}",
            hint="flags --server --jid --to --media-address, or --config FILE",
        )
    media = str(s["media_address"])
    try:
        addr = ipaddress.ip_address(media)
    except ValueError:
        raise UsageError(f"media_address {media!r} is not an IP address") from None
    family = socket.AF_INET6 if addr.version == 6 else socket.AF_INET

    def factory() -> socket.socket:
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.bind((media, 0))
        sock.setblocking(False)
        return sock

    jid = str(s["jid"])
    to = str(s["to"])
    if "@" not in to and not s.get("gateway_domain"):
        raise UsageError("--to NUMBER needs --gateway-domain (or give a number JID)")
    return Resolved(
        server=parse_server(str(s["server"])),
        jid=jid,
        password=_password(s.get("password_file")),
        to=number_jid(to, str(s.get("gateway_domain") or "")),
        socket_factory=factory,
        candidate_allowed=lambda _ip: True,
        plaintext=bool(s.get("plaintext", False)),
        ice_log=Path(s["ice_log"]) if s.get("ice_log") else None,
        label=str(s["server"]),
        websocket=str(s["websocket"]) if s.get("websocket") else None,
    )
