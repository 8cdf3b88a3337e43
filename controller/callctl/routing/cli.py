"""`callctl config check` and `callctl route explain`."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from callctl.cli import Console, add_json_flag
from callctl.errors import ExitStatus, UsageError
from callctl.routing import render
from callctl.routing.config import check_file, load_config
from callctl.routing.decide import inbound, outbound
from callctl.routing.issues import Issue
from callctl.routing.names import caller_key

CONFIG_ENV = "CALLCTL_ROUTING_CONFIG"
DEFAULT_CONFIG = Path("/etc/callctl/routing.yaml")


def register(sub: Any) -> None:
    config = sub.add_parser("config", help="routing configuration")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION")
    config_sub.required = True
    check = config_sub.add_parser(
        "check", help="validate a routing config and list every error with its line"
    )
    check.add_argument("file", type=Path, metavar="FILE")
    add_json_flag(check)
    check.set_defaults(func=cmd_config_check)

    route = sub.add_parser("route", help="routing decisions")
    route_sub = route.add_subparsers(dest="route_command", metavar="ACTION")
    route_sub.required = True
    explain = route_sub.add_parser(
        "explain", help="show how a call would be routed, without placing it"
    )
    explain.add_argument("--from", dest="caller", metavar="CALLER", help="caller JID (outbound)")
    explain.add_argument(
        "--to",
        dest="dest",
        default="",
        metavar="DEST",
        help="dialled number (outbound; omit or leave empty for a call without one, as "
        "chan_motif delivers every Jingle call: it goes to the caller's hotline) "
        "or called DID (with --inbound)",
    )
    explain.add_argument(
        "--inbound", action="store_true", help="explain a call from the trunk to DEST instead"
    )
    explain.add_argument(
        "--active-calls",
        type=int,
        default=0,
        metavar="N",
        help="pretend the caller already has N calls (to test the limit)",
    )
    explain.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=f"routing config (default: ${CONFIG_ENV}, else {DEFAULT_CONFIG})",
    )
    add_json_flag(explain)
    explain.set_defaults(func=cmd_route_explain)


def cmd_config_check(args: argparse.Namespace, console: Console) -> int:
    path: Path = args.file
    _, issues = check_file(path)
    return report_check(console, "config-check", path, issues)


def report_check(console: Console, kind: str, path: Path, issues: list[Issue]) -> int:
    """A config check's result (every issue with its line), for any line-numbered config."""
    if console.json:
        console.emit_json(
            kind, {"file": str(path), "valid": not issues, "errors": [i.to_dict() for i in issues]}
        )
    elif issues:
        for line in render.issues_text(str(path), issues):
            console.result(line)
    else:
        console.result(f"{path}: OK")
    return int(ExitStatus.USAGE if issues else ExitStatus.OK)


def config_path(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    from_env = os.environ.get(CONFIG_ENV)
    if from_env:
        return Path(from_env)
    if DEFAULT_CONFIG.exists():
        return DEFAULT_CONFIG
    raise UsageError(
        "no routing config given",
        hint=f"pass --config FILE or set {CONFIG_ENV} (an example: specs/routing.example.yaml)",
    )


def cmd_route_explain(args: argparse.Namespace, console: Console) -> int:
    if not args.inbound and args.caller is None:
        raise UsageError("--from CALLER is required (or --inbound for a call from the trunk)")
    if args.active_calls < 0:
        raise UsageError("--active-calls must be 0 or more")
    if args.inbound and not args.dest:
        raise UsageError("--inbound needs --to DID")
    path = config_path(args.config)
    config = load_config(path)
    if args.inbound:
        decision_in = inbound(config, args.dest)
        if console.json:
            console.emit_json("route-explain", {"config": str(path), **decision_in.to_dict()})
        else:
            for line in render.inbound_text(args.dest, decision_in):
                console.result(line)
        return int(ExitStatus.OK)
    key = caller_key(args.caller)
    active = {key: args.active_calls} if key is not None else {}
    decision = outbound(config, args.caller, args.dest, active)
    if console.json:
        console.emit_json("route-explain", {"config": str(path), **decision.to_dict()})
    else:
        for line in render.outbound_text(args.caller, args.dest, decision):
            console.result(line)
    return int(ExitStatus.OK)
