"""The pure parts of `debug on --capture`: the spec, its checks, the tcpdump command lines
and filters (compiled by the real tcpdump when it is installed), rtp.conf's port range."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import replace

import pytest
from callctl.debug import _parse as P
from callctl.debug import capture as C
from callctl.errors import StateError, UsageError

SPEC = C.CaptureSpec(
    iface="lo",
    port_lo=10000,
    port_hi=10100,
    directory="/var/log/asterisk",
    stem="callctl-debug",
    tag="20261207T021500Z",
    seconds=900,
    file_mb=20,
    files=5,
    snaplen=C.RTP_SNAPLEN,
    user="asterisk",
)


def test_command_lines():
    sig, media = C.command(SPEC, "signal"), C.command(SPEC, "media")
    assert sig[:4] == ["/usr/bin/timeout", "--signal=INT", "--kill-after=5", "900"]
    assert sig[4:10] == ["/usr/bin/tcpdump", "-i", "lo", "-n", "-U", "-s"]
    assert sig[10] == "0" and media[10] == "54"  # STUN/DTLS whole, media cut after RTP
    assert (
        sig[sig.index("-w") + 1] == "/var/log/asterisk/callctl-debug.20261207T021500Z.signal.pcap"
    )
    assert sig[sig.index("-C") + 1] == "20" and sig[sig.index("-W") + 1] == "5"
    assert sig[sig.index("-Z") + 1] == "asterisk"
    assert "-Z" not in C.command(replace(SPEC, user=None), "signal")
    assert "udp[8] < 0x40" in sig[-1] and "udp[8] >= 0x40" in media[-1]
    assert "udp portrange 10000-10100" in sig[-1] and "ip6[48] < 0x40" in sig[-1]


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump not installed")
@pytest.mark.skipif(os.geteuid() != 0, reason="tcpdump -d -i lo opens the device")
@pytest.mark.parametrize("kind", C.KINDS)
def test_filters_compile_for_both_address_families(kind):
    proc = subprocess.run(
        ["tcpdump", "-d", "-i", "lo", C.bpf_filter(SPEC, kind)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "jeq      #0x86dd" in proc.stdout and "jeq      #0x800" in proc.stdout


@pytest.mark.parametrize(
    "change",
    [
        {"iface": "lo; rm -rf /"},
        {"iface": "lo\n"},
        {"port_lo": 0},
        {"port_lo": 20000, "port_hi": 10000},
        {"directory": "relative/dir"},
        {"directory": "/var/log/../../etc"},
        {"directory": "/var/log/a b"},
        {"stem": "../x"},
        {"tag": "now"},
        {"seconds": 0},
        {"seconds": 99999},
        {"snaplen": 8},
        {"user": "root; id"},
    ],
)
def test_spec_values_that_would_reach_a_command_line_are_checked(change):
    with pytest.raises(StateError):
        replace(SPEC, **change).check()


def test_spec_round_trip_and_forged_record():
    assert C.CaptureSpec.from_json(SPEC.to_json()) == SPEC
    with pytest.raises(StateError):
        C.CaptureSpec.from_json({**SPEC.to_json(), "iface": "lo -w /etc/passwd"})
    with pytest.raises(StateError):
        C.CaptureSpec.from_json({"iface": "lo"})


def test_request_checks_and_defaults():
    assert C.default_iface("127.0.0.1") == "lo" and C.default_iface("192.0.2.1") is None
    assert C.parse_ports("10000-20000") == (10000, 20000)
    for bad in ["10000", "1-2-3", "a-b", "20000-10000x"]:
        with pytest.raises(UsageError):
            C.parse_ports(bad)
    with pytest.raises(UsageError):
        C.CaptureRequest(ports=(2, 1)).check()
    with pytest.raises(UsageError):
        C.CaptureRequest(snaplen=4).check()


def test_parse_rtp_show_settings():
    # res/res_rtp_asterisk.c handle_cli_rtp_settings (Asterisk 22.10.1)
    text = [
        "\nGeneral Settings:\n----------------\n",
        "  Port start:      10000\n",
        "  Port end:        20000\n",
        "  Checksums:       True\n",
    ]
    assert P.parse_rtp_ports(text) == (10000, 20000)
    with pytest.raises(P.UnexpectedOutput):
        P.parse_rtp_ports(["  Port start:      10000\n"])
