"""`callctl debug on|off|status|expire`."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Coroutine
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from callctl.asterisk.ami import AmiConfig
from callctl.asterisk.connect import resolve_ami
from callctl.debug import capture as C
from callctl.debug._model import (
    CATEGORIES,
    DEFAULT_DURATION,
    DEFAULT_LEVEL,
    DEFAULT_NAME,
    MAX_DURATION,
    format_duration,
    parse_categories,
    parse_duration,
)
from callctl.debug.service import DebugService, OffResult, OnResult
from callctl.sandbox.state import load_connection

if TYPE_CHECKING:
    from callctl.cli import Console

R = TypeVar("R", OnResult, OffResult)


class _RefuseSecret(argparse.Action):
    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        parser.error(
            "--ami-secret is not accepted: a secret on the command line is visible to every "
            "user in `ps`; use --ami-secret-file FILE (mode 0600) or CALLCTL_AMI_SECRET"
        )


def add_ami_flags(p: argparse.ArgumentParser, *, debug_state: bool = True) -> None:
    g = p.add_argument_group("Asterisk connection (default: env CALLCTL_AMI_*, then the sandbox)")
    g.add_argument("--ami-host", default=None, help="AMI host (default 127.0.0.1)")
    g.add_argument("--ami-port", type=int, default=None, help="AMI port (default 5038)")
    g.add_argument("--ami-user", default=None, help="AMI user")
    # No --ami-secret VALUE: every local user can read a command line (`ps`, /proc).
    g.add_argument("--ami-secret", nargs="?", action=_RefuseSecret, help=argparse.SUPPRESS)
    g.add_argument(
        "--ami-secret-file",
        default=None,
        help="file holding the secret (mode 0600); or env CALLCTL_AMI_SECRET[_FILE]",
    )
    g.add_argument("--ami-timeout", type=float, default=None, help="seconds per AMI reply")
    if not debug_state:  # commands that keep no debug state (`callctl turn rotate`)
        return
    p.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where debug state files live (default $CALLCTL_STATE_DIR/debug, else "
        "$CALLCTL_STATE/debug, else /tmp/callctl/debug)",
    )


def ami_config(args: argparse.Namespace) -> AmiConfig:
    return resolve_ami(
        host=args.ami_host,
        port=args.ami_port,
        user=args.ami_user,
        secret=None,  # from the environment or a file only
        secret_file=args.ami_secret_file,
        timeout=args.ami_timeout,
        sandbox=load_connection,
    )


def _service(args: argparse.Namespace) -> DebugService:
    return DebugService(ami_config(args), state_dir=args.state_dir)


def _run(console: Console, coro: Coroutine[Any, Any, R]) -> R:
    """Run a service action; its warnings go to stderr whatever the output format."""
    res = asyncio.run(coro)
    for w in res.warnings:
        console.error(f"callctl: warning: {w}")
    return res


def register(sub: Any) -> None:
    from callctl.cli import add_json_flag

    p = sub.add_parser(
        "debug",
        help="turn Asterisk debug logging on/off safely, with an expiry",
        description="Debug logging for one call: adds a log channel, raises core and pjproject "
        "levels, turns the pjsip logger on; restores exactly the prior state afterwards.",
    )
    dsub = p.add_subparsers(dest="debug_command", metavar="ACTION")
    dsub.required = True

    on = dsub.add_parser("on", help="turn debug logging on (or extend it)")
    on.add_argument("--name", default=DEFAULT_NAME, help=f"log channel name ({DEFAULT_NAME})")
    on.add_argument(
        "--for",
        dest="duration",
        default=None,
        help=f"how long (90s, 15m, 1h; default {format_duration(DEFAULT_DURATION)}, "
        f"max {format_duration(MAX_DURATION)})",
    )
    on.add_argument("--level", type=int, default=DEFAULT_LEVEL, help="core/pjproject level (5)")
    on.add_argument(
        "--pjsip-logger-was",
        choices=("on", "off"),
        default=None,
        help="the pjsip logger's state before, if it was changed on the CLI (Asterisk cannot "
        "report it; by default the pjsip.conf `debug` setting is taken)",
    )
    on.add_argument(
        "--category",
        dest="categories",
        default=None,
        metavar="LIST",
        help="enable these Asterisk debug categories instead of the core debug level: "
        f"{','.join(CATEGORIES)}, each optionally NAME:SUBLEVEL (e.g. ice,dtls,stun,rtp)",
    )
    on.add_argument(
        "--categories-were",
        default=None,
        metavar="LIST",
        help="the categories that were on before, if set on the CLI (Asterisk cannot list "
        "them; by default none), or `none`",
    )
    cap = on.add_argument_group("capture (tcpdump on Asterisk's RTP ports, same expiry)")
    cap.add_argument(
        "--capture",
        action="store_true",
        help="also capture UDP on the RTP port range into rings of files beside the log",
    )
    cap.add_argument(
        "--capture-iface", default=None, help="interface (default lo for a loopback target)"
    )
    cap.add_argument(
        "--capture-ports",
        default=None,
        metavar="LOW-HIGH",
        help="port range (default rtp.conf's rtpstart-rtpend, read from Asterisk)",
    )
    cap.add_argument(
        "--capture-mb",
        type=int,
        default=C.DEFAULT_MB,
        help=f"size of each ring (signalling, media) in MB (default {C.DEFAULT_MB})",
    )
    cap.add_argument(
        "--capture-snaplen",
        type=int,
        default=C.RTP_SNAPLEN,
        help=f"bytes kept of each media packet (default {C.RTP_SNAPLEN}: headers, no "
        "audio; 0: whole); STUN/DTLS are always kept whole",
    )
    add_ami_flags(on)
    add_json_flag(on)
    on.set_defaults(func=cmd_on)

    # The other actions take only the AMI flags and --json.
    for name, what, func in (
        ("off", "restore the logging state from before `on`", cmd_off),
        ("status", "is debug on, since when, until when, which file", cmd_status),
        ("expire", "turn debug off if it has expired (for cron/timers)", cmd_expire),
    ):
        action = dsub.add_parser(name, help=what)
        add_ami_flags(action)
        add_json_flag(action)
        action.set_defaults(func=func)


def _when(value: Any) -> str:
    return str(value).replace("+00:00", "Z")


def cmd_on(args: argparse.Namespace, console: Console) -> int:
    duration = DEFAULT_DURATION if args.duration is None else parse_duration(args.duration)
    categories = parse_categories(args.categories) if args.categories else ()
    were = None if args.categories_were is None else parse_categories(args.categories_were)
    capture = None
    if args.capture:
        capture = C.CaptureRequest(
            iface=args.capture_iface,
            ports=None if args.capture_ports is None else C.parse_ports(args.capture_ports),
            mb=args.capture_mb,
            snaplen=args.capture_snaplen,
        )
    svc = _service(args)
    res = _run(
        console,
        svc.on(
            name=args.name,
            duration=duration,
            level=args.level,
            pjsip_logger_was=args.pjsip_logger_was,
            categories=categories,
            categories_were=were,
            capture=capture,
        ),
    )
    st = res.state
    if console.json:
        console.emit_json("debug.on", {"action": res.action, **svc.status()})
        return 0
    verb = "extended" if res.action == "extended" else "on"
    left = timedelta(seconds=round((st.expires - svc.clock()).total_seconds()))
    console.result(
        f"debug logging {verb}: {st.target} at level {st.level} until "
        f"{_when(st.expires.isoformat(timespec='seconds'))} ({format_duration(left)})"
    )
    if st.categories:
        console.result(f"debug categories: {','.join(st.categories)} (core debug level untouched)")
    console.result(f"log file: {st.log_file}")
    if st.capture is not None:
        spec = st.capture
        console.result(
            f"capture: {spec.iface} udp {spec.port_lo}-{spec.port_hi} into "
            f"{spec.ring('signal')}N and {spec.ring('media')}N (ends at the expiry by itself)"
        )
    return 0


def cmd_off(args: argparse.Namespace, console: Console) -> int:
    res = _run(console, _service(args).off())
    if console.json:
        payload: dict[str, Any] = {"action": res.action, "reason": res.reason}
        if res.state is not None:
            payload["log_file"] = res.state.log_file
        console.emit_json("debug.off", payload)
        return 0
    if res.action == "noop":
        console.result("debug logging is not on; nothing to do")
    else:
        assert res.state is not None
        console.result(f"debug logging off on {res.state.target}; prior state restored")
        console.result(f"log file kept: {res.state.log_file}")
        if res.state.capture is not None:
            for f in C.files(res.state.capture):
                console.result(f"capture file kept: {f}")
    return 0


def cmd_status(args: argparse.Namespace, console: Console) -> int:
    svc = _service(args)
    doc = svc.status()
    if console.json:
        console.emit_json("debug.status", doc)
        return 0
    if not doc["on"] and "status" not in doc:
        console.result(f"debug logging: off ({doc['target']})")
        last = doc.get("last")
        if last:
            console.result(
                f"last session: {last['log_file']} ({_when(last['since'])} .. "
                f"{_when(last['ended'])}, {last['reason']})"
            )
        return 0
    who = doc["requested_by"]
    size = doc["log_size"]
    lines = [
        f"debug logging: {'on' if doc['on'] else doc['status']} ({doc['target']})",
        f"  since:    {_when(doc['since'])}",
        f"  expires:  {_when(doc['expires'])}"
        + (" (EXPIRED)" if doc["expired"] else f" (in {doc['remaining_seconds']} s)"),
        f"  level:    {doc['level']}"
        + (f" (categories {','.join(doc['categories'])})" if doc.get("categories") else ""),
        f"  file:     {doc['log_file']}"
        + (f" ({size} bytes)" if size is not None else " (size unknown)"),
        f"  asked by: {who.get('user')}@{who.get('host')} (pid {who.get('pid')})",
        f"  applied:  {', '.join(doc['applied']) or 'nothing'}",
    ]
    cap = doc.get("capture")
    if cap:
        state = "running" if cap["running"] else "ended"
        lines.append(
            f"  capture:  {state}, {cap['iface']} udp {cap['port_lo']}-{cap['port_hi']}, "
            f"{len(cap['files'])} files ({cap['directory']}/{cap['stem']}.{cap['tag']}.*)"
        )
    for line in lines:
        console.result(line)
    return 0


def cmd_expire(args: argparse.Namespace, console: Console) -> int:
    res = _run(console, _service(args).expire())
    if console.json:
        console.emit_json("debug.expire", {"action": res.action, "reason": res.reason})
    elif res.action == "stopped":
        console.result("debug logging had expired: turned off, prior state restored")
    else:
        console.result(f"nothing to do: {res.reason}")
    return 0
