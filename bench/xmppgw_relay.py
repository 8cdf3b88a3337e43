"""The gateway's cost per relayed stanza, on the CPU only (no sockets, no server):
bytes in -> StreamParser -> Gateway.handle -> serialise -> bytes out. Each round is a
client's transport-info (4 candidates) relayed to Asterisk, and Asterisk's result relayed
back to the client.

    .venv/bin/python bench/xmppgw_relay.py [--stanzas 20000] [--out bench/results/xmppgw-relay.json]

A call's signalling is a few dozen stanzas (initiate, trickled transport-info, ringing,
accept, terminate and their results), so this bounds what the component adds per call; it
says nothing about the XMPP server's or the network's share. Reported with the load average,
since the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from callctl.xmppgw import Gateway, GatewayConfig
from callctl.xmppgw.xml import StreamParser, serialise

AST = "asterisk@example.org/asterisk"
ALICE = "alice@example.org/phone"
HEADER = (
    b"<stream:stream xmlns='jabber:component:accept' "
    b"xmlns:stream='http://etherx.jabber.org/streams' id='b' from='gw.localhost'>"
)
CANDIDATE = (
    "<candidate component='{c}' foundation='1' generation='0' id='c{c}{i}' ip='10.213.0.2' "
    "network='0' port='{port}' priority='2130706431' protocol='udp' type='host'/>"
)


def transport_info(sid: str, n: int) -> bytes:
    cands = "".join(CANDIDATE.format(c=1 + i % 2, i=i, port=40000 + i) for i in range(4))
    return (
        f"<iq type='set' id='t{n}' from='{ALICE}' to='+15551234567@gw.localhost'>"
        f"<jingle xmlns='urn:xmpp:jingle:1' action='transport-info' sid='{sid}'>"
        "<content creator='initiator' name='audio'>"
        "<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='abcd' pwd='x' >"
        f"{cands}</transport></content></jingle></iq>"
    ).encode()


def run(stanzas: int) -> dict[str, float]:
    gw = Gateway(GatewayConfig(asterisk_jid=AST, domain="gw.localhost"))
    parser = StreamParser()
    parser.feed(HEADER)
    initiate = (
        f"<iq type='set' id='i' from='{ALICE}' to='+15551234567@gw.localhost'>"
        "<jingle xmlns='urn:xmpp:jingle:1' action='session-initiate' sid='s1' "
        f"initiator='{ALICE}'/></iq>"
    ).encode()

    def round_trip(data: bytes) -> int:
        """Relay `data` to Asterisk, then Asterisk's result back; the bytes written."""
        written = 0
        for elem in parser.feed(data):
            for out in gw.handle(elem):
                written += len(serialise(out).encode())
                result = f"<iq type='result' id='{out.get('id')}' from='{AST}' "
                result += f"to='{out.get('from')}'/>"
                for answer in parser.feed(result.encode()):
                    for back in gw.handle(answer):
                        written += len(serialise(back).encode())
        return written

    round_trip(initiate)
    samples = []
    out_bytes = 0
    for n in range(stanzas):
        data = transport_info("s1", n)
        start = time.perf_counter()
        out_bytes += round_trip(data)
        samples.append(time.perf_counter() - start)
    assert not gw._pending, "every relayed IQ got its answer"
    samples.sort()
    return {
        "rounds": stanzas,
        "stanza_bytes": len(transport_info("s1", 0)),
        "median_us": round(statistics.median(samples) * 1e6, 1),
        "p99_us": round(samples[int(len(samples) * 0.99)] * 1e6, 1),
        "rounds_per_s": round(stanzas / sum(samples)),
        "out_bytes": out_bytes,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stanzas", type=int, default=20000)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    result = run(args.stanzas)
    doc = {
        "bench": "xmppgw-relay",
        "python": platform.python_version(),
        "loadavg_before": os.getloadavg(),
        "result": result,
    }
    print(json.dumps(doc, indent=2))
    if args.out:
        args.out.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
