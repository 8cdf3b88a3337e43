"""The probe's result in Prometheus textfile format (node_exporter's textfile collector),
written atomically so a scrape never reads half a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from callctl.probe.timeline import PHASES, Timeline


def _label(value: str) -> str:
    # The exposition format's escapes inside a label value: backslash, quote, newline.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render(timeline: Timeline, target: str, finished_at: float) -> str:
    t = f'target="{_label(target)}"'
    lines = [
        "# HELP callctl_probe_success 1 if the last probe call passed every stage, else 0.",
        "# TYPE callctl_probe_success gauge",
        f"callctl_probe_success{{{t}}} {1 if timeline.passed else 0}",
        "# HELP callctl_probe_failed_stage 1 for the stage the last probe call failed at.",
        "# TYPE callctl_probe_failed_stage gauge",
    ]
    failed = timeline.failed_phase
    for phase in PHASES:
        lines.append(
            f'callctl_probe_failed_stage{{{t},stage="{phase}"}} {1 if phase == failed else 0}'
        )
    lines += [
        "# HELP callctl_probe_event_seconds Seconds from the start of the probe to each event.",
        "# TYPE callctl_probe_event_seconds gauge",
    ]
    for event, _phase, seconds, _note in timeline.rows():
        if seconds is not None:
            lines.append(f'callctl_probe_event_seconds{{{t},event="{event}"}} {seconds:.6f}')
    lines += [
        "# HELP callctl_probe_last_run_timestamp_seconds When the last probe call ended.",
        "# TYPE callctl_probe_last_run_timestamp_seconds gauge",
        f"callctl_probe_last_run_timestamp_seconds{{{t}}} {finished_at:.3f}",
    ]
    return "\n".join(lines) + "\n"


def write(path: Path, text: str) -> None:
    """Write through a temporary file in the same folder and rename it into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # read by node_exporter, which runs as another user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
