"""A real SIP call through the sandbox: SIPp caller -> Asterisk dialplan -> SIPp carrier.

The baseline every routing test builds on, and the dialplan-only path the benchmark
compares callctl against. Caller, Asterisk and carrier sit on different loopback addresses
so PJSIP can tell them apart by address.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from callctl.sandbox.manager import free_port
from support.sipp import Sipp, run_uac

pytestmark = pytest.mark.asterisk

CALLER_IP, CARRIER_IP = "127.0.0.2", "127.0.0.3"
DIAL_CONTEXT = """
[t-dial]
exten => _X.,1,Dial(PJSIP/${EXTEN}@carrier,5)
 same => n,Hangup()
"""


def _sandbox(sandbox_factory, carrier_port: int):  # type: ignore[no-untyped-def]
    return sandbox_factory(
        trunks=[{"name": "carrier", "host": CARRIER_IP, "port": carrier_port}],
        phones=[{"name": "caller", "host": CALLER_IP, "context": "t-dial"}],
        dialplan_extra={"t-dial.conf": DIAL_CONTEXT},
    )


@pytest.mark.parametrize(
    ("uas", "pause_ms", "caller_ok"),
    [
        ("uas_answer.xml", 0, True),
        ("uas_answer.xml", 1500, True),  # rings first
        ("uas_busy.xml", 0, False),
        ("uas_503.xml", 0, False),
        ("uas_noanswer.xml", 0, False),  # Dial() gives up after 5 s: CANCEL, 487, ACK
    ],
)
def test_dialplan_call_reaches_the_carrier(
    sandbox_factory,
    tmp_path: Path,
    uas: str,  # type: ignore[no-untyped-def]
    pause_ms: int,
    caller_ok: bool,
) -> None:
    carrier_port = free_port(CARRIER_IP)
    sb = _sandbox(sandbox_factory, carrier_port)
    with Sipp(
        uas, CARRIER_IP, carrier_port, tmp_path / "carrier", pause_ms=pause_ms, timeout_s=30
    ) as carrier:
        caller = run_uac(
            scenario="uac_call.xml",
            local_ip=CALLER_IP,
            local_port=free_port(CALLER_IP),
            workdir=tmp_path / "caller",
            remote=f"127.0.0.1:{sb.sip_port}",
            service="15551230000",
            pause_ms=500,
            timeout_s=30,
        )
        result = carrier.wait(timeout=30)
    assert result.returncode == 0, result.log  # the carrier saw exactly its scenario
    assert (caller.returncode == 0) == caller_ok, caller.log
    assert caller.successful == (1 if caller_ok else 0)
