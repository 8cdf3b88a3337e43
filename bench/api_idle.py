"""The daemon's HTTP API under idle connections (issue 16 item 4), no Asterisk needed.

Serves the real API app (callctl.daemon.http.serve) in a process limited to 1,024 descriptors,
as a default systemd unit is; a second process opens N idle TCP connections to it; then
/health is asked 50 times and its latency measured, and the API process opens 20 outgoing
connections to a local listener (what an ARI or AMI reconnect needs). Before the cap, 1,100
idle connections made /health time out and the daemon's own connects fail with EMFILE.

    .venv/bin/python bench/api_idle.py [--idle 2000] [--limit N] [--out FILE]
    (--limit 100000 shows the API without the cap)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "controller"))

from callctl.daemon import http

HOLDER = """
import resource, socket, sys, time
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
port, n = int(sys.argv[1]), int(sys.argv[2])
held = []
for _ in range(n):
    s = socket.socket()
    s.connect(("127.0.0.1", port))
    held.append(s)
print("held", len(held), flush=True)
time.sleep(600)
"""


async def measure(idle: int, limit: int) -> dict[str, object]:
    resource.setrlimit(
        resource.RLIMIT_NOFILE, (1024, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    )
    app = http.make_app(
        health=lambda: {"ready": True},
        metrics=lambda: "",
        calls=lambda: [],
        hangup=lambda call_id: False,
        token="bench",
    )
    serving = await http.serve(app, "127.0.0.1", 0, limit=limit)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(serving.port), str(idle)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = await asyncio.to_thread(holder.stdout.readline)  # type: ignore[union-attr]
        await asyncio.sleep(1.0)  # let the server accept (and refuse) them all
        times = []
        failures = 0
        for _ in range(50):
            start = time.perf_counter()
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", serving.port), 5
                )
                writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                answer = await asyncio.wait_for(reader.read(), 5)
                writer.close()
                ok = answer.startswith(b"HTTP/1.1 200")
            except (OSError, TimeoutError):
                ok = False
            if ok:
                times.append((time.perf_counter() - start) * 1000)
            else:
                failures += 1
        listener = socket.create_server(("127.0.0.1", 0))
        connects_ok = 0
        for _ in range(20):  # an ARI/AMI reconnect needs descriptors of its own
            try:
                _, w = await asyncio.open_connection("127.0.0.1", listener.getsockname()[1])
                w.close()
                connects_ok += 1
            except OSError:
                pass
        listener.close()
        return {
            "idle_connections_opened": idle,
            "connection_cap": limit,
            "holder": line.strip(),
            "api_connections_held": serving.guard.active,
            "refused_over_cap": serving.guard.refused,
            "health_ok": len(times),
            "health_failed": failures,
            "health_ms_median": round(statistics.median(times), 2) if times else None,
            "health_ms_max": round(max(times), 2) if times else None,
            "outgoing_connects_ok": connects_ok,
            "nofile_soft_limit": 1024,
            "load_average": os.getloadavg(),
        }
    finally:
        holder.kill()
        holder.wait()
        await serving.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=http.MAX_CONNECTIONS, help="the cap")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = asyncio.run(measure(args.idle, args.limit))
    text = json.dumps(result, indent=2)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
