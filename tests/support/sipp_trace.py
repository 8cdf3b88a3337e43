"""What each call of a SIPp caller saw, read from its message trace (`-trace_msg`).

SIPp's statistics count successes and failures, not when a call got its answer nor which SIP
code it was; a stall test and a soak need both, per call. The trace has every message with a
wall-clock stamp (local time, microseconds):

    ----------------------------------------------- 2026-12-07 01:52:37.627787
    UDP message sent (481 bytes):
    INVITE sip:... SIP/2.0
    ...

A call is *decided* by the first final response to its INVITE; a CANCEL sent first means the
caller gave up waiting (`-recv_timeout`), and the 487 that follows is not a decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

_RULE = "-" * 47


@dataclass
class CallRecord:
    call_id: str
    invited: float  # epoch seconds: the first INVITE sent
    code: int | None = None  # the first final response to the INVITE, if it came in time
    decided: float | None = None  # when that response arrived
    gave_up: float | None = None  # when the caller sent CANCEL, having had no final response
    reached: float | None = None  # the first response of any kind: the INVITE got there
    hung_up: float | None = None  # the first BYE, either way: an answered call's end

    @property
    def answered(self) -> bool:
        return self.code is not None and 200 <= self.code < 300

    @property
    def failed(self) -> bool:
        return self.code is not None and self.code >= 300

    def in_progress_at(self, when: float) -> bool:
        """Started and not over at `when` (epoch s): ringing, waiting or answered, not yet
        refused, given up or hung up; what a controller should count as active then."""
        if when < self.invited:
            return False
        over = [t for t in (self.gave_up, self.hung_up) if t is not None]
        if self.failed and self.decided is not None:
            over.append(self.decided)
        return all(when < t for t in over)


@dataclass
class _Message:
    stamp: float
    sent: bool
    first_line: str
    call_id: str
    cseq: str


def _messages(lines: Iterable[str]) -> Iterator[_Message]:
    stamp: float | None = None
    block: list[str] = []

    def flush() -> _Message | None:
        if stamp is None or len(block) < 2:
            return None
        call_id = cseq = ""
        for line in block[2:]:
            low = line.lower()
            if low.startswith("call-id:"):
                call_id = line[8:].strip()
            elif low.startswith("cseq:"):
                cseq = line[5:].strip().upper()
        if not call_id:
            return None
        return _Message(stamp, block[0].startswith("UDP message sent"), block[1], call_id, cseq)

    for raw in lines:
        line = raw.strip()
        if line.startswith(_RULE):
            message = flush()
            if message is not None:
                yield message
            # SIPp repeats some messages under a bare rule (no stamp): skipped, not a new send.
            when = line[len(_RULE) :].strip()
            stamp = datetime.strptime(when, "%Y-%m-%d %H:%M:%S.%f").timestamp() if when else None
            block = []
        elif line:
            block.append(line)
    message = flush()
    if message is not None:
        yield message


def parse(lines: Iterable[str]) -> dict[str, CallRecord]:
    calls: dict[str, CallRecord] = {}
    for m in _messages(lines):
        call = calls.get(m.call_id)
        if m.sent and m.first_line.startswith("INVITE "):
            if call is None:
                calls[m.call_id] = CallRecord(m.call_id, m.stamp)
        elif call is None:
            continue
        elif m.first_line.startswith("BYE "):
            if call.hung_up is None:
                call.hung_up = m.stamp
        elif m.sent and m.first_line.startswith("CANCEL "):
            if call.code is None and call.gave_up is None:
                call.gave_up = m.stamp
        elif not m.sent and m.first_line.startswith("SIP/2.0 ") and m.cseq.endswith("INVITE"):
            code = int(m.first_line.split()[1])
            if call.reached is None:
                call.reached = m.stamp
            if code >= 200 and call.code is None and call.gave_up is None:
                call.code, call.decided = code, m.stamp
    return calls


def read_calls(workdir: Path) -> list[CallRecord]:
    """Every call in the SIPp message traces under `workdir`, in INVITE order."""
    calls: dict[str, CallRecord] = {}
    for path in sorted(workdir.glob("**/*_messages.log")):
        with path.open(errors="replace") as f:
            calls.update(parse(f))
    return sorted(calls.values(), key=lambda c: c.invited)
