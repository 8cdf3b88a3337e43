"""Prometheus text exposition (format 0.0.4), written by hand: four metric kinds' worth of
code is less than a dependency. Label values are escaped as the format requires."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

Labels = tuple[tuple[str, str], ...]

# Set-up time buckets (seconds): loopback set-up is milliseconds, a ringing phone is seconds.
SETUP_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels, extra: Labels = ()) -> str:
    pairs = labels + extra
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


def _num(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


@dataclass
class Counter:
    name: str
    help: str
    values: dict[Labels, float] = field(default_factory=dict)

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        self.values[key] = self.values.get(key, 0.0) + amount

    def get(self, **labels: str) -> float:
        return self.values.get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        for key, value in sorted(self.values.items()):
            yield f"{self.name}{_labels(key)} {_num(value)}"


@dataclass
class Gauge:
    name: str
    help: str
    value: float = 0.0

    def set(self, value: float) -> None:
        self.value = value

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} gauge"
        yield f"{self.name} {_num(self.value)}"


@dataclass
class Histogram:
    name: str
    help: str
    buckets: Sequence[float] = SETUP_BUCKETS
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    n: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.buckets)

    def observe(self, value: float) -> None:
        index = bisect.bisect_left(self.buckets, value)
        if index < len(self.counts):
            self.counts[index] += 1
        self.total += value
        self.n += 1

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        running = 0
        for bound, count in zip(self.buckets, self.counts, strict=True):
            running += count
            yield f'{self.name}_bucket{{le="{_num(bound)}"}} {running}'
        yield f'{self.name}_bucket{{le="+Inf"}} {self.n}'
        yield f"{self.name}_sum {_num(self.total)}"
        yield f"{self.name}_count {self.n}"


class Metrics:
    """Everything /metrics shows. Nothing here ever holds a credential or a JID."""

    def __init__(self) -> None:
        self.active_calls = Gauge("callctl_active_calls", "Calls in progress.")
        self.calls = Counter("callctl_calls_total", "Finished calls by direction and outcome.")
        self.setup_seconds = Histogram(
            "callctl_call_setup_seconds", "From the call entering the app to the answer."
        )
        self.reconnects = Counter(
            "callctl_reconnects_total", "Reconnections to Asterisk, by interface (ari, ami)."
        )
        self.failovers = Counter(
            "callctl_trunk_failovers_total", "Trunk legs given up for the next trunk."
        )
        self.rescued = Counter(
            "callctl_calls_rescued_total",
            "Calls the daemon decided itself because a request for them failed, or they "
            "waited too long for one, by reason (effect-failed, stalled).",
        )
        self.adopted = Counter(
            "callctl_calls_adopted_total",
            "Calls in Dial() that an earlier daemon handed off, taken over at (re)connect.",
        )
        self.orphans = Counter(
            "callctl_reconcile_cleanups_total",
            "Channels, bridges and calls cleaned up after a reconnect, by kind.",
        )

    def render(self, connected: dict[str, bool]) -> str:
        lines: list[str] = []
        for metric in (
            self.active_calls,
            self.calls,
            self.setup_seconds,
            self.reconnects,
            self.failovers,
            self.rescued,
            self.adopted,
            self.orphans,
        ):
            lines.extend(metric.render())
        lines.append("# HELP callctl_connected 1 when the interface is connected and ready.")
        lines.append("# TYPE callctl_connected gauge")
        for name, ok in sorted(connected.items()):
            lines.append(f'callctl_connected{{interface="{_escape(name)}"}} {int(ok)}')
        return "\n".join(lines) + "\n"
