"""The Jingle interop matrix (issue 6): a rig client, Asterisk, the routing daemon and a SIPp
phone on the trunk, one call per cell, both directions.

    out: client --Jingle--> Asterisk (from-jingle -> Stasis) --daemon: hotline--> carrier-a
         --SIP--> SIPp phone (rings `ring` s, answers, echoes RTP)
         (with the gateway: client --Jingle--> +1555...@gw.localhost --callctl's component-->
         Asterisk; the daemon dials the number JID's number, not the hotline)
    in:  SIPp phone --SIP, DID--> Asterisk (from-trunk -> Stasis) --daemon: DID--> Motif
         --Jingle--> client (rings `ring` s, accepts); SIPp echoes the client's RTP

The client's RTP goes through Asterisk to SIPp, which sends it back (`-rtp_echo`), through
Asterisk again, to the client: a packet counted at the client has crossed Asterisk both ways.
The phone side is counted twice: by SIPp itself (its echo counter, read from a screen dump
while the call is up) and by Asterisk's RTP statistics of the trunk channel (ARI
`rtp_statistics`: what Asterisk sent to SIPp and what it got back from it).

Per cell the ICE verdict and time come from both sides: the client's (aioice) and Asterisk's
pjnath (`ICE process complete, status=...` in the `full` log, timestamped). The debug capture
(`callctl debug on` for the whole run, sliced per call) is kept for failing cells and run
through `callctl ice analyze` (callctl.icelog).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from callctl.asterisk.ami import AmiConfig
from callctl.asterisk.ari import AriClient, AriCredentials
from callctl.daemon.server import Daemon, DaemonConfig
from callctl.debug.service import DebugService
from callctl.errors import CallctlError
from callctl.icelog.cli import analyze_stream
from callctl.routing import RoutingConfig, parse_config
from callctl.sandbox.manager import free_port
from callctl.xmppgw import ComponentTarget

from support.sipp import Sipp

from . import observe
from .asterisk_conf import AsteriskJingle
from .cells import CellResult, end_call, place
from .client import Call, JingleClient, JingleError
from .component import ComponentConf
from .echo import send_and_drain
from .fixtures import AsteriskFactory

CARRIER_IP = "127.0.0.3"  # the SIPp phone behind trunk carrier-a (loopback, never off-box)
TRUNK = "carrier-a"
HOTLINE = "+15550104477"  # where the Jingle caller's calls go (chan_motif passes no number)
CALLER_ID = "+15550104400"
DIALLED = "+15550104488"  # what out cells call through the gateway, as DIALLED@gw-domain
DID_BASE = 15550104200  # DID of profile i: +1 555 010 42(i)
RING_LONG = 10.0  # longer than pjnath's 7.9 s check timeout
PACKETS = 50  # 1 s of PCMU each way
ICE_WAIT = 6.0  # for the client's ICE after the answer (pass needs < 2 s; a bit more to learn)
SETUP_SLACK = 15.0
CLEAN_TIMEOUT = 10.0
LOG_SETTLE = 1.0  # Asterisk writes its logs asynchronously
SCREEN_DUMP = 0.3  # SIPp handles SIGUSR2 in its main loop: keep the call up meanwhile
# Captures are kept for failing cells; CALLCTL_MATRIX_KEEP=all keeps every cell's (to compare).
KEEP_ALL = os.environ.get("CALLCTL_MATRIX_KEEP") == "all"


@dataclass(frozen=True)
class CellSpec:
    profile: str
    direction: str  # "out": the client calls the phone; "in": the phone calls the client
    ring: float  # seconds the callee rings before answering (0: at once)

    @property
    def answer(self) -> str:
        return f"ring{self.ring:g}" if self.ring else "at-once"

    @property
    def key(self) -> str:
        return f"{self.profile}/{self.direction}/{self.answer}"

    def to_dict(self) -> dict[str, Any]:
        """The cell's columns in the results file (scripts/matrix_table.py)."""
        return {**asdict(self), "answer": self.answer}


def routing_text(
    domain: str,
    endpoint: str,
    dids: dict[str, str],
    ring_timeout: int = 30,
    gateway: tuple[str, str] | None = None,
) -> str:
    """The daemon's config: alice may call out (hotline), each DID rings one full JID;
    `gateway` = (component domain, Asterisk's full JID) adds the number JIDs' section."""
    lines = [
        "version: 1",
        "numbering:",
        '  country_code: "1"',
        '  national_prefix: "1"',
        "  national_number_lengths: [10]",
        "trunks:",
        f"  primary: {TRUNK}",
        "jingle:",
        f"  endpoint: {endpoint}",
        "callers:",
        f"  - jid: alice@{domain}",
        f'    caller_id: "{CALLER_ID}"',
        f'    hotline: "{HOTLINE}"',
        "    max_concurrent_calls: 4",
        "dids:",
    ]
    for number, jid in dids.items():
        lines += [f'  - number: "{number}"', f"    jids: [{jid}]"]
    lines += ["policy:", '  allowed_destinations: ["+1"]', f"  ring_timeout: {ring_timeout}"]
    if gateway is not None:
        lines += ["gateway:", f"  domain: {gateway[0]}", f"  asterisk_jid: {gateway[1]}"]
    return "\n".join(lines) + "\n"


@dataclass
class MatrixResult:
    spec: CellSpec
    cell: CellResult
    analyzer: list[str] = field(default_factory=list)  # signatures in the call's capture
    patches: list[str] = field(default_factory=list)  # the patches the analyzer names
    capture: str = ""  # path of the kept debug capture (failing cells)
    rejected_creator: list[tuple[str, str, str]] = field(default_factory=list)
    sipp: str = ""  # SIPp's outcome, for the record
    routed: list[str] = field(default_factory=list)  # the daemon's call.start lines (out)
    peer: str = ""  # the JID the client's call was with

    @property
    def passed(self) -> bool:
        return self.cell.passed

    def why(self) -> str:
        extra = f" analyzer={self.analyzer}" if self.analyzer else ""
        cap = f" capture={self.capture}" if self.capture else ""
        return f"{self.spec.key}: {self.cell.why()}{extra}{cap}"

    def to_dict(self) -> dict[str, Any]:
        c = self.cell
        return {
            **self.spec.to_dict(),
            "passed": self.passed,
            "client_ice": c.client_ice,
            "ice_after_answer_client": _round(c.ice_after_accept),
            "ice_after_answer_asterisk": _round(c.asterisk_ice_after_accept),
            "asterisk_ice": c.asterisk_ice,
            "srtp": c.srtp,
            "rtp": {
                "sent_by_client": c.sent,
                "echoed_to_client": c.received,
                "asterisk_to_phone": c.leg_tx,
                "phone_to_asterisk": c.leg_rx,
                "echoed_by_sipp": c.phone_echoed,
            },
            "rejected": c.rejected,
            "terminate_reason": c.terminate_reason,
            "error": c.error,
            "analyzer": self.analyzer,
            "analyzer_patches": self.patches,
            "capture": self.capture,
            "sipp": self.sipp,
            "routed": self.routed,
            "peer": self.peer,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@dataclass
class Matrix:
    """One sandbox, one daemon, one client per profile; cells run one after another."""

    flavour: str
    sandbox: Any
    ast: AsteriskJingle
    ari: AriClient
    clients: dict[str, JingleClient]
    dids: dict[str, str]  # profile -> DID (E.164)
    carrier_port: int
    workdir: Path
    debug_log: Path
    daemon: Daemon
    results: list[MatrixResult] = field(default_factory=list)
    phone_echo: bool = True  # False: a phone that answers but sends no RTP (negative control)
    # With the gateway: out cells call `callee` (DIALLED@gw-domain) and must be routed to
    # `dialled`, the number JID's number (not the hotline); "" calls Asterisk's JID.
    callee: str = ""
    dialled: str = ""
    starts: list[str] = field(default_factory=list)  # the daemon's call.start lines so far

    async def run(self, spec: CellSpec) -> MatrixResult:
        client = self.clients[spec.profile]
        cell = CellResult(spec.direction, spec.profile, ring=spec.ring, asterisk_timed=True)
        full = observe.LogTail(Path(self.sandbox.log_dir) / "full")
        debug = observe.LogTail(self.debug_log)
        name = f"{self.flavour}-{spec.profile}-{spec.direction}-{spec.answer}"
        sipp = self._phone(spec, name)
        sipp.start()
        call: Call | None = None
        answered_wall: datetime | None = None
        seen = len(self.starts)
        try:
            if spec.direction == "out":
                await asyncio.sleep(0.3)  # SIPp binds its port
                callee = replace(self.ast, jid=self.callee) if self.callee else self.ast
                call = await place(client, callee, spec.ring + SETUP_SLACK)
            else:
                call = await _receive(client, spec.ring)
            if call.accepted.is_set() and call.accepted_at is not None:
                answered_wall = datetime.now() - timedelta(
                    seconds=time.monotonic() - call.accepted_at
                )
            if call.accepted.is_set() and not call.terminated.is_set():
                cell.client_ice = await call.wait_ice(ICE_WAIT)
                cell.ice_after_accept = call.ice_after_accept
            if cell.client_ice and not call.terminated.is_set():
                cell.sent = await send_and_drain(call, PACKETS)
                cell.leg_tx, cell.leg_rx = await self._leg_counts()
                if sipp.dump_screen():  # SIPp's own echo count, read once it has exited
                    await asyncio.sleep(SCREEN_DUMP)
            cell.received = call.counter.pcmu
            cell.srtp = call.dtls is not None and call.dtls.keyed
        except (JingleError, TimeoutError, CallctlError) as exc:
            cell.error = f"{type(exc).__name__}: {exc}"
        finally:
            await end_call(call, cell)
            held = await self.end_cell(sipp)  # always: it stops the phone
            cell.error = cell.error or held
        if cell.sent:
            cell.phone_echoed = sipp.echoed()
            if None in (cell.leg_tx, cell.leg_rx, cell.phone_echoed) and not cell.error:
                # Media flowed, so the phone side must be countable: never pass unchecked.
                cell.error = (
                    f"phone-side RTP not counted: trunk channel {cell.leg_tx}/{cell.leg_rx}, "
                    f"SIPp {cell.phone_echoed}"
                )
        routed = [s for s in self.starts[seen:] if "direction=outbound" in s]
        peer = call.peer if call is not None else ""
        if spec.direction == "out" and self.dialled and not cell.error:
            # The number JID's number, not the hotline, is what the daemon dialled.
            if len(routed) != 1 or f"number={self.dialled} " not in routed[0] + " ":
                cell.error = f"not routed to {self.dialled}: {routed}"
            elif "hotline=True" in routed[0]:
                cell.error = f"routed to the hotline: {routed[0]}"
        # Through the gateway, the phone's call comes from +CALLER@gw-domain/gateway.
        gateway_domain = self.callee.partition("@")[2]
        via_gateway = peer.startswith("+") and peer.endswith(f"@{gateway_domain}/gateway")
        if spec.direction == "in" and gateway_domain and peer and not via_gateway:
            cell.error = cell.error or f"the call came from {peer}, not through the gateway"
        log = full.read()
        cell.asterisk_ice = observe.ice_completions(log)
        cell.ao2_errors = len(observe.ao2_errors(log))
        done = [t for t, verdict in observe.ice_completion_times(log) if verdict == "Success"]
        if done and answered_wall is not None:
            cell.asterisk_ice_after_accept = (done[-1] - answered_wall).total_seconds()
        result = MatrixResult(spec, cell, sipp=_sipp_outcome(sipp), routed=routed, peer=peer)
        if call is not None:
            result.rejected_creator = list(call.creator_mismatches)
        capture = debug.read()
        report = analyze_stream(io.BytesIO(capture.encode())).report()
        result.analyzer = sorted(report["signatures"])
        result.patches = sorted({f["patch"].split(" (")[0] for f in report["findings"]})
        if not result.passed or KEEP_ALL:
            path = self.workdir / "captures" / f"{name}.log"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(capture)
            result.capture = str(path)
        self.results.append(result)
        return result

    async def end_cell(self, sipp: Sipp) -> str:
        """After a cell's call: Asterisk clean, the phone stopped, the logs settled. Returns
        an error when the daemon still holds a call, else "": such a call still counts
        against the caller's limit, a routing defect (the next cells would be refused)."""
        await self._clean()
        kept = await self._daemon_released()
        sipp.stop()
        await asyncio.sleep(LOG_SETTLE)
        return f"the daemon still holds {kept} call(s) after the hangup" if kept else ""

    def _phone(self, spec: CellSpec, name: str) -> Sipp:
        media = free_port(CARRIER_IP, socket.SOCK_DGRAM)
        common: dict[str, Any] = {
            "workdir": self.workdir / "sipp" / name,
            "media_port": media,
            "rtp_echo": self.phone_echo,
            "timeout_s": int(spec.ring + 40),
        }
        if spec.direction == "out":
            return Sipp(
                "phone_uas_ring_answer.xml",
                CARRIER_IP,
                self.carrier_port,
                pause_ms=int(spec.ring * 1000),
                **common,
            )
        return Sipp(
            "phone_uac_did.xml",
            CARRIER_IP,
            free_port(CARRIER_IP, socket.SOCK_DGRAM),
            remote=f"127.0.0.1:{self.sandbox.sip_port}",
            service=self.dids[spec.profile].lstrip("+"),  # carriers often drop the '+'
            **common,
        )

    async def _leg_counts(self) -> tuple[int | None, int | None]:
        """RTP Asterisk sent to the phone and received from it (the trunk channel's stats)."""
        for chan in await self.ari.channels():
            if str(chan.get("name", "")).startswith(f"PJSIP/{TRUNK}-"):
                stats = await self.ari.request("GET", f"/channels/{chan['id']}/rtp_statistics")
                if isinstance(stats, dict):
                    return int(stats.get("txcount", 0)), int(stats.get("rxcount", 0))
        return None, None

    async def _daemon_released(self) -> int:
        """How many calls the daemon still holds once Asterisk is clean (bounded wait)."""
        deadline = time.monotonic() + CLEAN_TIMEOUT / 2
        while self.daemon.router.calls and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        return len(self.daemon.router.calls)

    async def _clean(self) -> None:
        """Wait (bounded) until the call left Asterisk; hang up whatever is still there."""
        deadline = time.monotonic() + CLEAN_TIMEOUT
        while time.monotonic() < deadline:
            with contextlib.suppress(CallctlError):
                if not await self.ari.channels():
                    return
            await asyncio.sleep(0.2)
        with contextlib.suppress(CallctlError):
            for chan in await self.ari.channels():
                with contextlib.suppress(CallctlError):
                    await self.ari.hangup(str(chan["id"]))


def _sipp_outcome(sipp: Sipp) -> str:
    if sipp.proc is None:
        return "not started"
    res = sipp.result(sipp.proc.returncode if sipp.proc.returncode is not None else -1)
    return f"rc={res.returncode} ok={res.successful} failed={res.failed}"


async def _receive(client: JingleClient, ring: float) -> Call:
    call = await client.next_incoming(timeout=SETUP_SLACK)
    await call.ring()
    await asyncio.sleep(ring)
    if not call.terminated.is_set():
        await call.accept()
    return call


def parse_routing(text: str) -> RoutingConfig:
    """The daemon's config from `text` (routing_text's, perhaps edited by a test)."""
    config, issues = parse_config(text)
    if config is None:
        raise AssertionError(f"matrix routing config is invalid: {issues}")
    return config


@dataclass(frozen=True)
class RoutedAsterisk:
    """A rig Asterisk whose calls callctl routes (`from-jingle` and `from-trunk` -> Stasis),
    with trunk carrier-a towards the SIPp phone's port: what `matrix` runs its cells on."""

    sandbox: Any
    ast: AsteriskJingle
    carrier_port: int


async def routed_asterisk(
    jingle_asterisk: AsteriskFactory, build: Any, *, expect_frack: bool = False
) -> RoutedAsterisk:
    """`jingle_asterisk`'s sandbox, routed, with the trunk on a free port of CARRIER_IP."""
    carrier_port = free_port(CARRIER_IP, socket.SOCK_DGRAM)
    sandbox, ast = await jingle_asterisk(
        build,
        expect_frack=expect_frack,
        routed=True,
        trunks=[{"name": TRUNK, "host": CARRIER_IP, "port": carrier_port}],
    )
    return RoutedAsterisk(sandbox, ast, carrier_port)


@asynccontextmanager
async def matrix(
    flavour: str,
    routed: RoutedAsterisk,
    clients: dict[str, JingleClient],
    workdir: Path,
    ring_timeout: int = 30,
    gateway: ComponentConf | None = None,
) -> AsyncIterator[Matrix]:
    """The daemon routing both directions, and `callctl debug` on, for the whole run.

    `clients` maps a profile to anything with a `full_jid` (the real-browser rows of
    tests/support/webrtc pass their BrowserClient); `ring_timeout` is the daemon's policy.
    `gateway` (the rig prosody's component host) makes the daemon serve the number JIDs
    (`callctl run --xmpp-component`): out cells call DIALLED@gw-domain, and the DIDs ring
    their JIDs through the component, from +CALLER@gw-domain."""
    sandbox, ast, carrier_port = routed.sandbox, routed.ast, routed.carrier_port
    domain = ast.jid.split("@", 1)[1].split("/", 1)[0]
    dids = {p: f"+{DID_BASE + i}" for i, p in enumerate(sorted(clients))}
    routing = parse_routing(
        routing_text(
            domain,
            ast.endpoint,
            {dids[p]: c.full_jid for p, c in clients.items()},
            ring_timeout,
            (gateway.domain, ast.jid) if gateway else None,
        )
    )
    ari_creds = AriCredentials(sandbox.ari_url, sandbox.ari_user, sandbox.ari_password)
    ami = AmiConfig(sandbox.ami_host, sandbox.ami_port, sandbox.ami_user, sandbox.ami_secret)
    config = DaemonConfig(
        ari=ari_creds,
        ami=ami,
        routing=routing,
        listen_port=0,
        debug_watch=False,
        drain_timeout=3.0,
        reconnect_base=0.2,
        reconnect_cap=1.0,
        xmpp_component=(
            ComponentTarget("127.0.0.1", gateway.port, gateway.secret) if gateway else None
        ),
    )
    debug = DebugService(ami, state_dir=workdir / "debug-state")
    on = await debug.on(name=f"cct-matrix-{flavour}", duration=timedelta(minutes=30))
    daemon = Daemon(config)
    starts = _CallStarts()
    stasis_log = logging.getLogger("callctl.daemon.stasis")
    level = stasis_log.level
    stasis_log.setLevel(logging.INFO)
    stasis_log.addHandler(starts)
    await daemon.start()
    try:
        deadline = time.monotonic() + 20
        while not daemon.health()["ready"]:
            if time.monotonic() > deadline:
                raise AssertionError(f"daemon not ready within 20 s: {daemon.health()}")
            await asyncio.sleep(0.1)
        async with AriClient(ari_creds) as ari:
            yield Matrix(
                flavour,
                sandbox,
                ast,
                ari,
                clients,
                dids,
                carrier_port,
                workdir,
                Path(on.state.log_file),
                daemon,
                callee=f"{DIALLED}@{gateway.domain}" if gateway else "",
                dialled=DIALLED if gateway else "",
                starts=starts.lines,
            )
    finally:
        await daemon.drain()
        await daemon.shutdown()
        await debug.off()
        stasis_log.removeHandler(starts)
        stasis_log.setLevel(level)


class _CallStarts(logging.Handler):
    """The router's `event=call.start` lines: what the daemon decided to dial."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("event=call.start "):
            self.lines.append(message)


def results_doc(results: list[MatrixResult]) -> list[dict[str, Any]]:
    return [r.to_dict() for r in results]
