"""Helpers for the daemon's real-Asterisk tests (no tests here).

The rig: SIPp callers on 127.0.0.2 (a SIP endpoint in context from-jingle stands in for the
Jingle client, its caller ID name is the JID), SIPp carriers on 127.0.0.3 (two trunks on two
ports), SIPp "phones" on 127.0.0.4 standing in for JIDs on inbound calls, the sandbox Asterisk
on 127.0.0.1, and the daemon running in the test's own event loop.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from callctl.asterisk.ami import AmiConfig
from callctl.asterisk.ari import AriClient, AriCredentials
from callctl.daemon.server import Daemon, DaemonConfig
from callctl.routing import parse_config
from callctl.sandbox.manager import Sandbox, free_port

from support.sipp import Sipp, SippResult

CALLER_IP, CARRIER_IP, PHONE_IP = "127.0.0.2", "127.0.0.3", "127.0.0.4"
CALLER_JID = "alice@example.org/phone"

ROUTING = """\
version: 1
numbering:
  country_code: "1"
  international_prefixes: ["011"]
  national_prefix: "1"
  national_number_lengths: [10]
trunks:
  primary: carrier-a
  fallbacks: [carrier-b]
routes:
  - name: all
    match: ["+"]
jingle:
  endpoint: xmpp-gw
callers:
  - jid: alice@example.org
    caller_id: "+15550104400"
    max_concurrent_calls: 50
dids:
  - number: "+15550104400"
    jids: [alice@example.org/a]
  - number: "+15550104401"
    jids: [alice@example.org/a, alice@example.org/b]
    ring: sequential
    ring_timeout: 3
  - number: "+15550104402"
    jids: [alice@example.org/a, alice@example.org/b]
    ring: parallel
policy:
  allowed_destinations: ["+1"]
  denied_destinations: ["+1900"]
  max_concurrent_calls_per_caller: 2
  ring_timeout: RING
"""


# tests/sipp/scenarios/uas_answer.xml does not load in SIPp 3.6.1 (an optional <recv> just
# before a <send>): these are written out per test instead.
_SDP = """\
v=0
o=carrier 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
"""


def _reply(
    status: str,
    *,
    tag: bool = True,
    cseq: str = "[last_CSeq:]",
    dialog: bool = False,
    sdp: bool = False,
) -> str:
    """A SIPp <send> answering the last request; `dialog` adds the Record-Route and Contact
    a 1xx/2xx to an INVITE carries, `sdp` the carrier's PCMU offer (and retransmission)."""
    to = "[last_To:]" + (";tag=[pid]SIPpTag01[call_number]" if tag else "")
    lines = ["SIP/2.0 " + status, "[last_Via:]", "[last_From:]", to, "[last_Call-ID:]", cseq]
    if dialog:
        lines += [
            "[last_Record-Route:]",
            "Contact: <sip:[local_ip]:[local_port];transport=[transport]>",
        ]
    if sdp:
        lines += ["Content-Type: application/sdp", "Content-Length: [len]", "", _SDP]
    else:
        lines += ["Content-Length: 0", ""]
    retrans = ' retrans="500"' if sdp else ""
    return f"  <send{retrans}><![CDATA[\n" + "\n".join(lines) + "\n]]></send>\n"


# SIPp refuses a variable that is set and never used: capture only what a scenario needs.
_PARTIES = """\
      <ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="remote_from"/>
      <ereg regexp=".*" search_in="hdr" header="To:" check_it="true" assign_to="local_to"/>
"""
_CSEQ = """\
      <ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" check_it="true" assign_to="cseq"/>
"""


def _head(capture: str) -> str:
    """The scenario's start: take the INVITE (capturing what `capture` says), send 180."""
    invite = '  <recv request="INVITE" crlf="true" rrs="true"'
    invite += f">\n    <action>\n{capture}    </action>\n  </recv>\n" if capture else "/>\n"
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n'
        '<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
        '<scenario name="NAME">\n' + invite + _reply("180 Ringing", dialog=True)
    )


_OK = _reply("200 OK", dialog=True, sdp=True) + '  <recv request="ACK" crlf="true"/>\n'
_BYE_IN = (
    '  <recv request="BYE"/>\n'
    + _reply("200 OK", tag=False)
    + '  <timewait milliseconds="200"/>\n</scenario>\n'
)
_BYE_OUT = """  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$local_to];tag=[pid]SIPpTag01[call_number]
To: [$remote_from]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200"/>
</scenario>
"""
_CANCELLED = (
    '  <recv request="CANCEL"/>\n'
    + _reply("200 OK")
    + _reply("487 Request Terminated", cseq="CSeq: [$cseq] INVITE")
    + '  <recv request="ACK"/>\n  <timewait milliseconds="200"/>\n</scenario>\n'
)


SCENARIOS = {
    # rings for the -d pause, answers, waits for Asterisk's BYE
    "uas_ring_answer.xml": _head("") + "  <pause/>\n" + _OK + _BYE_IN,
    # answers at once, talks for the -d pause, hangs up itself
    "uas_answer_hangup.xml": _head(_PARTIES) + _OK + "  <pause/>\n" + _BYE_OUT,
    # rings until cancelled; tests/sipp's uas_noanswer.xml answers the CANCEL's CSeq in its
    # 487, which Asterisk drops, so its INVITE transaction never ends
    "uas_ring_cancel.xml": _head(_CSEQ) + _CANCELLED,
}


def scenario(workdir: Path, name: str) -> str:
    """An absolute path for the rig's own scenarios, a bare name for tests/sipp's."""
    if name not in SCENARIOS:
        return name
    path = workdir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SCENARIOS[name].replace("NAME", name))
    return str(path)


@dataclass
class Rig:
    sb: Sandbox
    ports: dict[str, int]  # carrier-a, carrier-b, ph-a, ph-b
    workdir: Path
    dispatch: str = "dialplan"  # the daemon's mode (DaemonConfig.dispatch) for this test

    def carrier(self, name: str, scenario_name: str, **kw: Any) -> Sipp:
        host = PHONE_IP if name.startswith("ph-") else CARRIER_IP
        kw.setdefault("timeout_s", 30)
        return Sipp(
            scenario(self.workdir, scenario_name), host, self.ports[name], self.workdir / name, **kw
        )

    def caller(self, number: str, *, pause_ms: int = 500, **kw: Any) -> Sipp:
        """A call from the Jingle stand-in's address: Asterisk takes it in from-jingle."""
        workdir = self.workdir / f"caller-{number}-{time.monotonic_ns()}"
        return uac(CALLER_IP, workdir, self.sb.sip_port, number, pause_ms=pause_ms, **kw)

    def trunk_caller(self, did: str, *, pause_ms: int = 500, **kw: Any) -> Sipp:
        """A call from the carrier's address: Asterisk takes it in from-trunk."""
        workdir = self.workdir / f"trunk-{did}-{time.monotonic_ns()}"
        return uac(CARRIER_IP, workdir, self.sb.sip_port, did, pause_ms=pause_ms, **kw)


def uac(ip: str, workdir: Path, sip_port: int, number: str, **kw: Any) -> Sipp:
    """SIPp placing tests/sipp's uac_call.xml calls to `number` from `ip` (a free port there)
    to the sandbox Asterisk's SIP port on 127.0.0.1; `kw` for Sipp (calls, rate, ...)."""
    return Sipp(
        "uac_call.xml",
        ip,
        free_port(ip, socket.SOCK_DGRAM),
        workdir,
        remote=f"127.0.0.1:{sip_port}",
        service=number,
        **kw,
    )


def make_rig(
    sandbox_factory: Callable[..., Sandbox],
    workdir: Path,
    *,
    dispatch: str = "dialplan",
    **options: Any,
) -> Rig:
    ports = {
        "carrier-a": free_port(CARRIER_IP, socket.SOCK_DGRAM),
        "carrier-b": free_port(CARRIER_IP, socket.SOCK_DGRAM),
        "ph-a": free_port(PHONE_IP, socket.SOCK_DGRAM),
        "ph-b": free_port(PHONE_IP, socket.SOCK_DGRAM),
    }
    trunks = [
        {"name": n, "host": PHONE_IP if n.startswith("ph-") else CARRIER_IP, "port": p}
        for n, p in ports.items()
    ]
    sb = sandbox_factory(
        trunks=trunks,
        phones=[
            {
                "name": "jingle",
                "host": CALLER_IP,
                "context": "from-jingle",
                "callerid": f'"{CALLER_JID}" <alice>',
            }
        ],
        **options,
    )
    return Rig(sb, ports, workdir, dispatch)


def daemon_config(sb: Sandbox, *, ring_timeout: int = 5, **kw: Any) -> DaemonConfig:
    routing, issues = parse_config(ROUTING.replace("RING", str(ring_timeout)))
    assert routing is not None, issues
    defaults: dict[str, Any] = {
        "listen_port": 0,
        "debug_watch": False,
        "drain_timeout": 3.0,
        "reconnect_base": 0.2,
        "reconnect_cap": 1.0,
        "standins": {"alice@example.org/a": "ph-a", "alice@example.org/b": "ph-b"},
    }
    defaults.update(kw)
    return DaemonConfig(
        ari=AriCredentials(sb.ari_url, sb.ari_user, sb.ari_password),
        ami=AmiConfig(sb.ami_host, sb.ami_port, sb.ami_user, sb.ami_secret),
        routing=routing,
        **defaults,
    )


async def wait_until(
    predicate: Callable[[], bool], timeout: float = 15.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def running(config: DaemonConfig) -> AsyncIterator[Daemon]:
    daemon = Daemon(config)
    await daemon.start()
    try:
        await wait_until(lambda: daemon.health()["ready"], 20, "daemon ready")
        yield daemon
    finally:
        await daemon.drain()
        await daemon.shutdown()


async def http_get(daemon: Daemon, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{daemon.port}{path}") as r:
        return r.status, await r.text()


async def leftovers(sb: Sandbox) -> tuple[list[str], list[str]]:
    """Channels and bridges still in Asterisk."""
    async with AriClient(AriCredentials(sb.ari_url, sb.ari_user, sb.ari_password)) as ari:
        chans = [c["id"] for c in await ari.channels()]
        bridges = [b["id"] for b in await ari.bridges()]
    return chans, bridges


async def wait_clean(sb: Sandbox, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        chans, bridges = await leftovers(sb)
        if not chans and not bridges:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"left in Asterisk: channels {chans}, bridges {bridges}")
        await asyncio.sleep(0.2)


async def sipp_wait(sipp: Sipp, timeout: float = 60) -> SippResult:
    return await asyncio.to_thread(sipp.wait, timeout)
