"""`callctl run`, `callctl calls [--json]`, `callctl hangup ID`.

`calls` and `hangup` talk to the running daemon's loopback HTTP API, not to ARI: a call is
the daemon's own grouping (caller channel, legs, trunk, state machine), which ARI does not
know, and a hangup must go through the state machine so the other leg gets the right cause and
the metrics and bridge are settled, instead of racing the daemon from outside.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from callctl.cli import Console, add_json_flag
from callctl.daemon.handoff import DISPATCH_MODES
from callctl.errors import AsteriskUnavailable, ExitStatus, UsageError
from callctl.routing.cli import CONFIG_ENV, config_path
from callctl.routing.config import load_config
from callctl.routing.names import NAME_RE, canonical_jid

if TYPE_CHECKING:
    from callctl.asterisk.ami import AmiConfig
    from callctl.asterisk.ari import AriCredentials

# callctl.asterisk.ari pulls in aiohttp (~150 ms): imported by the handlers that talk to
# Asterisk, so that every callctl command starts fast. Kept equal to its ENV_URL (tested).
ENV_URL = "CALLCTL_ARI_URL"

API_ENV = "CALLCTL_API"
DEFAULT_API = "127.0.0.1:8095"


def register(sub: Any) -> None:
    run = sub.add_parser("run", help="run the call-routing daemon (ARI Stasis app)")
    run.add_argument(
        "--config", type=Path, metavar="FILE", help=f"routing config (default: ${CONFIG_ENV})"
    )
    run.add_argument(
        "--sandbox",
        metavar="NAME",
        default=None,
        help="take ARI/AMI details from this sandbox (default: 'default', when "
        f"${ENV_URL} and --ari-credentials are not given)",
    )
    run.add_argument(
        "--ari-credentials",
        type=Path,
        metavar="FILE",
        help="0600 file of CALLCTL_ARI_URL/_USER/_PASSWORD lines",
    )
    run.add_argument(
        "--listen",
        default=None,
        metavar="HOST:PORT",
        help=f"loopback address of the HTTP API (default: ${API_ENV} or {DEFAULT_API})",
    )
    run.add_argument(
        "--standin",
        action="append",
        default=[],
        metavar="JID=ENDPOINT",
        help="ring this JID at a PJSIP endpoint instead of Motif (tests)",
    )
    run.add_argument(
        "--drain-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds to wait for calls to end after SIGTERM (default 30)",
    )
    run.add_argument(
        "--dispatch",
        choices=DISPATCH_MODES,
        default=DISPATCH_MODES[0],
        help="dialplan (default): decide here, then the dialplan's Dial() "
        "connects the call (fewer ARI requests, higher calls/s); bridge: place "
        "the legs and bridge them over ARI",
    )
    run.add_argument(
        "--no-debug-watch", action="store_true", help="do not run the debug-logging expiry watcher"
    )
    run.add_argument(
        "--xmpp-component",
        default=None,
        metavar="HOST:PORT",
        help="serve the routing config's gateway domain (number JIDs) as an XMPP component "
        "of the server there; the secret comes from $CALLCTL_XMPP_SECRET",
    )
    run.add_argument(
        "--turn-config",
        type=Path,
        default=None,
        metavar="FILE",
        help="keep Asterisk's TURN credential (coturn use-auth-secret) renewed: docs/turn.md",
    )
    run.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    run.set_defaults(func=cmd_run)

    run.add_argument(
        "--api-token",
        type=Path,
        default=None,
        metavar="FILE",
        help="where to write the API token (default $CALLCTL_API_TOKEN_FILE, else "
        "$CALLCTL_STATE/api/PORT.token)",
    )

    calls = sub.add_parser("calls", help="list the daemon's active calls")
    calls.add_argument("--api", default=None, metavar="HOST:PORT")
    calls.add_argument("--api-token", type=Path, default=None, metavar="FILE")
    add_json_flag(calls)
    calls.set_defaults(func=cmd_calls)

    hangup = sub.add_parser("hangup", help="end one active call")
    hangup.add_argument("call_id", metavar="ID")
    hangup.add_argument("--api", default=None, metavar="HOST:PORT")
    hangup.add_argument("--api-token", type=Path, default=None, metavar="FILE")
    add_json_flag(hangup)
    hangup.set_defaults(func=cmd_hangup)


def parse_address(value: str | None) -> tuple[str, int]:
    text = value or os.environ.get(API_ENV) or DEFAULT_API
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def parse_standins(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for value in values:
        jid, sep, endpoint = value.partition("=")
        canon = canonical_jid(jid, allow_resource=True)
        if not sep or canon is None or NAME_RE.fullmatch(endpoint) is None:
            raise UsageError(f"--standin wants JID=ENDPOINT, got {value!r}")
        out[canon] = endpoint
    return out


def connection(args: argparse.Namespace) -> tuple[AriCredentials, AmiConfig]:
    """ARI and AMI details: flags, then the environment, then files, then the sandbox."""
    from functools import partial

    from callctl.asterisk.connect import resolve_ami, resolve_ari
    from callctl.sandbox.state import load_connection

    sandbox = partial(load_connection, args.sandbox or "default")
    ari = resolve_ari(
        credentials_file=args.ari_credentials,
        sandbox=sandbox,
        sandbox_named=args.sandbox is not None,
    )
    return ari, resolve_ami(sandbox=sandbox)


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    from callctl.daemon import logfmt
    from callctl.daemon.server import Daemon, DaemonConfig

    logfmt.setup(getattr(logging, args.log_level.upper()))
    routing = load_config(config_path(args.config))
    from callctl.xmppgw.link import component_target

    xmpp = component_target(args.xmpp_component, routing)
    ari, ami = connection(args)
    host, port = parse_address(args.listen)
    from callctl.turn.settings import load_turn_config

    turn = load_turn_config(args.turn_config) if args.turn_config is not None else None
    config = DaemonConfig(
        ari=ari,
        ami=ami,
        routing=routing,
        listen_host=host,
        listen_port=port,
        standins=parse_standins(args.standin),
        drain_timeout=args.drain_timeout,
        debug_watch=not args.no_debug_watch,
        dispatch=args.dispatch,
        xmpp_component=xmpp,
        api_token_file=args.api_token,
        turn=turn,
    )

    async def main() -> int:
        return await Daemon(config).run()

    return asyncio.run(main())


async def _api(
    method: str, address: tuple[str, int], path: str, token_file: Path | None = None
) -> tuple[int, dict[str, Any]]:
    import aiohttp

    from callctl.daemon import http

    host, port = address
    where = token_file or http.token_path(port)
    token = http.read_token(where)
    if token is None:
        raise UsageError(
            f"no API token for the daemon at {host}:{port} in {where}",
            hint="the daemon writes it at start; run this as its user, with its "
            "CALLCTL_STATE (or --api-token FILE)",
        )
    url = f"http://{host}:{port}{path}"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
            session.request(method, url, headers=headers) as resp,
        ):
            status, doc = resp.status, json.loads(await resp.text())
    except (aiohttp.ClientError, TimeoutError, ValueError) as err:
        raise AsteriskUnavailable(
            f"cannot reach the callctl daemon at {host}:{port}: {type(err).__name__}",
            hint=f"is `callctl run` running? (--api or ${API_ENV} to point elsewhere)",
        ) from None
    if status == 401:
        raise UsageError(
            f"the daemon at {host}:{port} refused the API token in {where}",
            hint="a daemon restarted since writes a new one: is --api-token the same file?",
        )
    return status, doc


def cmd_calls(args: argparse.Namespace, console: Console) -> int:
    _, doc = asyncio.run(_api("GET", parse_address(args.api), "/calls", args.api_token))
    calls: list[dict[str, Any]] = doc.get("calls", [])
    if console.json:
        console.emit_json("calls", {"calls": calls})
        return int(ExitStatus.OK)
    if not calls:
        console.result("no active calls")
    for call in calls:
        console.result(
            f"{call['id']}  {call['direction']:<8} {call['state']:<11} "
            f"{call['age_s']:>8.1f}s  {call.get('number') or '-'}"
            f"  trunk={call.get('trunk') or '-'}"
        )
        console.result(f"    caller {call['caller_channel']}")
        for leg in call.get("legs", []):
            cause = f" cause={leg['cause']}" if leg.get("cause") is not None else ""
            console.result(f"    leg    {leg['channel']}  {leg['target']}  {leg['state']}{cause}")
    return int(ExitStatus.OK)


def cmd_hangup(args: argparse.Namespace, console: Console) -> int:
    status, _doc = asyncio.run(
        _api("DELETE", parse_address(args.api), f"/calls/{args.call_id}", args.api_token)
    )
    if status == 404:
        raise UsageError(f"no active call {args.call_id!r}", hint="see `callctl calls`")
    if console.json:
        console.emit_json("hangup", {"call": args.call_id, "accepted": True})
    else:
        console.result(f"hanging up {args.call_id}")
    return int(ExitStatus.OK)
