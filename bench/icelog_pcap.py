"""`callctl ice analyze --pcap` throughput and memory on a large capture of real packets.

    .venv/bin/python bench/icelog_pcap.py [--mb 1024] [--json FILE]

The capture is made by repeating the frames of a real capture of the rig
(tests/data/pcap/rig-stock-nominated-host.pcap: STUN checks, answers, RTP both ways) with
timestamps moved on, until the file reaches --mb; it is analysed at half and full size by
`callctl ice analyze --pcap FILE --json` in a child process. Flat memory shows as two peak
RSS figures about equal; the rate is MB of capture per second of CPU and of wall time. The
load average is printed: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import struct
import tempfile
from pathlib import Path

from _common import REPO, measure_file, print_load, run_cli, write_results

REAL = REPO / "tests" / "data" / "pcap" / "rig-stock-nominated-host.pcap"


def make_capture(path: Path, mb: int) -> int:
    data = REAL.read_bytes()
    header, records = data[:24], []
    pos = 24
    while pos + 16 <= len(data):
        sec, usec, caplen, wirelen = struct.unpack_from("<IIII", data, pos)
        records.append((sec + usec / 1e6, data[pos + 16 : pos + 16 + caplen], wirelen))
        pos += 16 + caplen
    t0 = records[0][0]
    span = records[-1][0] - t0 + 1.0
    target = mb * 1024 * 1024
    written = 0
    with path.open("wb") as f:
        f.write(header)
        loop = 0
        while written < target:
            chunk = bytearray()
            for ts, frame, wirelen in records:
                t = ts - t0 + loop * span + 1.7e9
                chunk += struct.pack("<IIII", int(t), int((t % 1) * 1e6), len(frame), wirelen)
                chunk += frame
            f.write(chunk)
            written += len(chunk)
            loop += 1
    return path.stat().st_size


def child(path: str) -> None:
    run = run_cli("ice", "analyze", "--json", "--pcap", path)
    proc = run.proc
    doc = json.loads(proc.stdout)["wire"] if proc.returncode == 0 else {}
    print(
        json.dumps(
            {
                "rc": proc.returncode,
                "wall_s": round(run.wall_s, 2),
                "cpu_s": round(run.cpu_s, 2),
                "peak_rss_mib": round(run.peak_rss_mib, 1),
                "frames": doc.get("frames"),
                "stun": doc.get("stun"),
                "rtp": doc.get("rtp"),
                "signatures": doc.get("signatures"),
                "error": proc.stderr[-300:] if proc.returncode else "",
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=1024)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    print_load()
    results = []
    with tempfile.TemporaryDirectory() as d:
        for mb in (args.mb // 2, args.mb):
            path = Path(d) / "big.pcap"
            r = measure_file(__file__, path, make_capture(path, mb))
            size = r["bytes"]
            results.append(r)
            print(
                f"{size / 1e6:8.1f} MB, {r['frames']} frames: rc {r['rc']}, {r['wall_s']} s wall "
                f"({size / 1e6 / r['wall_s']:.1f} MB/s), {r['cpu_s']} s CPU "
                f"({size / 1e6 / r['cpu_s']:.1f} MB/s), peak RSS {r['peak_rss_mib']} MiB, "
                f"signatures {r['signatures']} {r['error']}"
            )
    write_results(args.json, results)


if __name__ == "__main__":
    main()
