"""`callctl sandbox up|down|status`."""

from __future__ import annotations

import argparse
import ipaddress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from callctl import paths
from callctl.cli import Console, add_json_flag
from callctl.errors import ExitStatus, UsageError
from callctl.names import check_name

if TYPE_CHECKING:
    from callctl.sandbox.jingle import JingleOptions
    from callctl.sandbox.manager import Sandbox

# The build manager, Jinja2 and aiohttp are imported by the handlers that use them, so that
# every `callctl` command starts fast.


def register(sub: Any) -> None:
    sb = sub.add_parser("sandbox", help="a local Asterisk on loopback, from a build")
    ssub = sb.add_subparsers(dest="sandbox_command", metavar="ACTION")
    ssub.required = True

    p = ssub.add_parser("up", help="build (or reuse) and start a sandbox Asterisk")
    p.add_argument("--name", default="default", help="sandbox name (default: default)")
    p.add_argument(
        "--spec", type=Path, default=None, help="build spec (default: specs/default.yaml)"
    )
    p.add_argument("--cache", type=Path, default=None)
    p.add_argument("--http-port", type=int, default=8088, help="ARI/HTTP port (default 8088)")
    p.add_argument("--ami-port", type=int, default=5038, help="AMI port (default 5038)")
    p.add_argument("--sip-port", type=int, default=5060, help="PJSIP UDP port (default 5060)")
    p.add_argument(
        "--trunk",
        action="append",
        default=[],
        metavar="NAME=HOST:PORT",
        help="a PJSIP trunk endpoint towards a carrier (repeatable)",
    )
    p.add_argument(
        "--phone",
        action="append",
        default=[],
        metavar="NAME=HOST:CONTEXT",
        help="a SIP caller identified by its address, entering CONTEXT (repeatable)",
    )
    p.add_argument(
        "--jingle",
        action="store_true",
        help="the whole gateway: prosody, res_xmpp + chan_motif, a demo echo number "
        "(needs root: the media path is a network namespace of the sandbox's own)",
    )
    p.add_argument("--xmpp-domain", default="localhost", help="prosody's domain (--jingle)")
    p.add_argument(
        "--gateway-domain", default="gw.localhost", help="the gateway's component (--jingle)"
    )
    add_json_flag(p)
    p.set_defaults(func=cmd_up)

    p = ssub.add_parser("down", help="stop the sandbox this tool started")
    p.add_argument("--name", default="default")
    add_json_flag(p)
    p.set_defaults(func=cmd_down)

    p = ssub.add_parser("status", help="pid, ports, version and patches of a sandbox")
    p.add_argument("--name", default="default")
    add_json_flag(p)
    p.set_defaults(func=cmd_status)


def cmd_up(args: argparse.Namespace, console: Console) -> int:
    from callctl.build.builder import build
    from callctl.build.cache import Cache
    from callctl.build.spec import load_spec
    from callctl.sandbox import manager

    check_name(args.name, "sandbox name")  # before any build: a bad name fails fast
    for port in (args.http_port, args.ami_port, args.sip_port):
        if not 0 <= port <= 65535:
            raise UsageError(f"not a port number: {port}")
    spec = load_spec(args.spec or paths.default_spec())
    result = build(spec, Cache(args.cache or paths.cache_dir()), console.progress)
    console.progress(f"starting sandbox {args.name!r} ...")
    sb = manager.up(
        result,
        manager.SandboxOptions(
            name=args.name,
            http_port=args.http_port,
            ami_port=args.ami_port,
            sip_port=args.sip_port,
            trunks=[parse_trunk(t) for t in args.trunk],
            phones=[parse_phone(p) for p in args.phone],
            jingle_demo=_jingle_options(args),
        ),
    )
    return _show(sb, console, headline="sandbox up")


def _jingle_options(args: argparse.Namespace) -> JingleOptions | None:
    from callctl.sandbox.jingle import JingleOptions

    if not args.jingle:
        return None
    for domain in (args.xmpp_domain, args.gateway_domain):
        labels = domain.split(".")
        if not all(label and _is_endpoint_name(label) for label in labels):
            raise UsageError(f"not a usable domain: {domain!r}")
    if args.xmpp_domain == args.gateway_domain:
        raise UsageError("--gateway-domain must differ from --xmpp-domain")
    return JingleOptions(args.xmpp_domain.lower(), args.gateway_domain.lower())


def _is_endpoint_name(value: str) -> bool:
    # The routing config's own check (fullmatch), imported here: routing pulls in YAML.
    from callctl.routing.names import is_name

    return is_name(value)


def _split(value: str, what: str, form: str) -> tuple[str, str, str]:
    name, sep, rest = value.partition("=")
    host, sep2, last = rest.rpartition(":")
    if not (sep and sep2) or not _is_endpoint_name(name):
        raise UsageError(
            f"--{what} {value!r}: expected {form}",
            hint="names: letters, digits, '_', '-', '.'; starting with a letter",
        )
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"--{what} {value!r}: {host!r} is not an IP address") from None
    return name, host, last


def parse_trunk(value: str) -> dict[str, object]:
    name, host, port = _split(value, "trunk", "NAME=HOST:PORT")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--trunk {value!r}: {port!r} is not a port number")
    return {"name": name, "host": host, "port": int(port)}


def parse_phone(value: str) -> dict[str, object]:
    name, host, context = _split(value, "phone", "NAME=HOST:CONTEXT")
    if not _is_endpoint_name(context):
        raise UsageError(f"--phone {value!r}: {context!r} is not a dialplan context name")
    return {"name": name, "host": host, "context": context}


def cmd_down(args: argparse.Namespace, console: Console) -> int:
    from callctl.sandbox import manager

    stopped = manager.down(args.name)
    if console.json:
        console.emit_json("sandbox-down", {"name": args.name, "stopped": stopped})
    else:
        console.result(
            f"sandbox {args.name!r} stopped"
            if stopped
            else f"sandbox {args.name!r} was not running (nothing to do)"
        )
    return ExitStatus.OK


def cmd_status(args: argparse.Namespace, console: Console) -> int:
    from callctl.sandbox import manager

    sb = manager.get(args.name)
    if sb is None or not sb.is_running():
        if console.json:
            console.emit_json("sandbox-status", {"name": args.name, "running": False})
        else:
            console.result(f"sandbox {args.name!r}: not running")
        return ExitStatus.STATE
    return _show(sb, console, headline="sandbox running")


def _show(sb: Sandbox, console: Console, headline: str) -> int:
    st = sb.state
    if console.json:
        console.emit_json(
            "sandbox-status", {"running": True, **st.public(), "log_dir": str(sb.log_dir)}
        )
        return ExitStatus.OK
    console.result(f"{headline}: {st.name} (pid {st.pid})")
    console.result(f"  asterisk   {st.asterisk_version}  (build {st.build_key})")
    console.result(f"  ARI        {st.ari_url}  user {st.ari_user}")
    console.result(f"  AMI        {st.bind_address}:{st.ami_port}  user {st.ami_user}")
    console.result(f"  SIP        udp {st.bind_address}:{st.sip_port}")
    console.result(f"  root       {st.root}  (secrets in {st.root}/state.json, mode 0600)")
    for kind, names in st.patches.items():
        console.result(f"  {kind + ' patches':<10} {', '.join(names) if names else '(none)'}")
    xmpp = st.public().get("xmpp")
    if xmpp:
        _show_xmpp(xmpp, console)
    return ExitStatus.OK


def _show_xmpp(x: dict[str, Any], console: Console) -> None:
    console.result(f"  XMPP       c2s {x['c2s']} (plain, loopback), domain {x['domain']}")
    console.result(f"  WebSocket  {x['websocket']}")
    console.result(f"  gateway    {x['gateway_domain']} (component on {x['component']})")
    for account in x["accounts"]:
        console.result(f"  account    {account['jid']}  password {account['password']}")
    console.result(f"  call       {x['echo_jid']}  (answers and echoes your audio)")
    net = x["netns"]
    console.result(
        f"  media      {net['host_addr']} <-> {net['ns_addr']} in namespace {net['name']}"
    )
    console.result(
        f"  in there   c2s {x['namespace_c2s']}, {x['namespace_websocket']} "
        f"(a client: ip netns exec {net['name']} ...)"
    )
    console.result(
        f"  gateway    needs the routing daemon: callctl run --config {x['routing_config']} "
        f"--xmpp-component {x['component']} (bootstrap.sh up does this)"
    )
    console.result("  probe      callctl probe")
