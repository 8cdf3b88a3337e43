"""The rig's pure parts: stanza model, RTP counting, NOMINATION encoding, issue-8 helpers."""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

from aioice import stun
from callctl.paths import REPO_ROOT
from callctl.routing import inbound, outbound, parse_config
from support.jingle import cells, ice, matrix, observe, prosody
from support.jingle.asterisk_conf import configs, dialplan, rtp_range
from support.jingle.netns import RigNet
from support.jingle.prosody import Account, Prosody
from support.jingle.rtp import RtpCounter, RtpSender
from support.jingle.stanzas import (
    NS_ICE_OPTION,
    PCMU,
    Candidate,
    Content,
    Jingle,
    Transport,
    q,
)

_spec = importlib.util.spec_from_file_location(
    "matrix_table", REPO_ROOT / "scripts" / "matrix_table.py"
)
assert _spec is not None and _spec.loader is not None
matrix_table = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(matrix_table)

# What stock chan_motif sent on an immediate Answer() (NOTES.md, "A real Jingle call"),
# re-typed from the probe's XML log.
STOCK_IMMEDIATE_ACCEPT = (
    "<jingle xmlns='urn:xmpp:jingle:1' action='session-accept' sid='s1'>"
    "<content creator='responder' name=''>"
    "<description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/>"
    "<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1'/>"
    "</content></jingle>"
)


def _net() -> RigNet:
    return RigNet(
        "cjr-1-1",
        "cjr1h1",
        "cjr1n1",
        ipaddress.IPv4Network("10.213.0.4/30"),
        "10.213.0.5",
        "10.213.0.6",
    )


def test_session_initiate_round_trips_through_xml() -> None:
    cand = Candidate(component=2, foundation="f1", ip="10.213.0.6", port=4000, priority=99, id="c1")
    sent = Jingle(
        "session-initiate",
        "sid1",
        initiator="a@x/r",
        contents=[
            Content(
                "initiator",
                "audio",
                payloads=[PCMU],
                rtcp_mux=True,
                transport=Transport("u", "p", [cand], ice_options=["renomination"]),
            )
        ],
    )
    wire = ET.tostring(sent.to_element())
    back = Jingle.from_element(ET.fromstring(wire))
    assert back == sent
    assert q(NS_ICE_OPTION, "renomination").encode() not in wire  # serialised with a prefix
    assert b"renomination" in wire


def test_stock_immediate_accept_is_reported_with_the_issue_8_defects() -> None:
    accept = Jingle.from_element(ET.fromstring(STOCK_IMMEDIATE_ACCEPT))
    defects = set(observe.session_accept_defects(accept))
    assert defects >= observe.STOCK_IMMEDIATE_ANSWER_DEFECTS
    assert "empty transport" in defects


def test_a_complete_accept_has_no_defects() -> None:
    accept = Jingle(
        "session-accept",
        "s",
        contents=[Content("initiator", "audio", payloads=[PCMU], transport=Transport("u", "p"))],
    )
    assert observe.session_accept_defects(accept) == []
    assert observe.session_accept_defects(None) == ["no session-accept"]


def test_log_helpers_find_frack_and_pjnath_roles() -> None:
    log = "\n".join(
        [
            "[2026-11-23 00:00:01.000] ERROR[42] astobj2.c: FRACK!, Failed assertion bad magic "
            "number 0x0 for object 0x55 (0)",
            "[2026-11-23 00:00:01.100] DEBUG[42] pjproject: <?>: \ticeses0x1 ICE session created, "
            "comp_cnt=2, role is Unknown agent",
            "[2026-11-23 00:00:01.200] DEBUG[42] pjproject: <?>: \ticeses0x1 Role changed to "
            "Controlled",
            "[2026-11-23 00:00:09.300] DEBUG[42] pjproject: <?>: \ticeses0x1 ICE process "
            "complete, status=All ICE checklists failed (PJNATH_EICEFAILED)",
            "[2026-11-23 00:00:09.400] DEBUG[42] pjproject: <?>: \ticeses0x1 Ignored incoming "
            "check after ICE nego has been completed!",
            "[2026-11-23 00:00:09.500] NOTICE[42] something else",
        ]
    )
    assert len(observe.frack_lines(log)) == 1
    (session,) = observe.ice_sessions(log)
    assert (session.comp_cnt, session.role) == (2, "Unknown")
    assert len(observe.role_changes(log)) == 1
    assert observe.ice_completions(log) == ["All ICE checklists failed (PJNATH_EICEFAILED)"]
    assert observe.late_checks_ignored(log) == 1
    assert observe.frack_lines("all fine\n") == []
    refcount = "[t] ERROR[1][C-1] rtp_engine.c: Invalid refcount -1 on ao2 object 0x7f02a80089d0"
    assert observe.ao2_errors(log + "\n" + refcount) == [observe.frack_lines(log)[0], refcount]
    assert not observe.asterisk_ice_succeeded(log)
    assert observe.asterisk_ice_succeeded("x ICE process complete, status=Success\n")


def test_log_tail_returns_only_new_lines(tmp_path: Path) -> None:
    path = tmp_path / "full"
    path.write_text("old line\n")
    tail = observe.LogTail(path)
    with path.open("a") as f:
        f.write("new line\n")
    assert tail.read() == "new line\n"
    assert tail.read() == ""


def test_rtp_counter_tells_pcmu_from_rtcp() -> None:
    sender, counter = RtpSender(), RtpCounter()
    packets = [sender.next_packet() for _ in range(3)]
    for pkt in packets:
        counter.feed(pkt)
    counter.feed(bytes([0x80, 200]) + bytes(6))  # an RTCP sender report header
    counter.feed(b"junk")
    assert (counter.pcmu, counter.rtcp, counter.other) == (3, 1, 1)
    assert len(packets[0]) == 12 + 160
    assert packets[0][1] & 0x80 and not packets[1][1] & 0x80  # marker only on the first


def test_nomination_attribute_is_encoded_as_0xc001() -> None:
    msg = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
    msg.attributes[ice.NOMINATION] = 7
    data = bytes(msg)
    assert data[20:24] == bytes.fromhex("c0010004")
    assert stun.parse_message(data).attributes[ice.NOMINATION] == 7


def test_asterisk_configs_restrict_ice_to_the_rig_subnet(tmp_path: object) -> None:
    server = Prosody(root=tmp_path, port=5999)  # type: ignore[arg-type]
    server.accounts["asterisk"] = Account("asterisk", "pw")
    files, ast = configs(_net(), server, answer_delay=2)
    rtp = files["rtp.conf"]
    assert rtp.index("ice_deny = 0.0.0.0/0") < rtp.index("ice_permit = 10.213.0.4/30")
    assert "port = 5999" in files["xmpp.conf"]
    assert "Wait(2)" in files["extensions.conf"]
    assert ast.jid == "asterisk@jingle.test/asterisk"
    assert ast.dial("alice@jingle.test/r") == "Motif/jingle/alice@jingle.test/r"
    start, end = rtp_range(_net())
    assert 1024 < start < end < 65536
    assert "Answer()" in dialplan() and "Wait" not in dialplan()


def test_stale_prosody_folders_of_dead_owners_are_removed(tmp_path: Path) -> None:
    dead, live = tmp_path / "cjr-prosody-dead", tmp_path / "cjr-prosody-live"
    for root, owner in ((dead, 2**22 + 1), (live, os.getpid())):  # 2**22+1: above pid_max
        root.mkdir()
        (root / "owner.pid").write_text(str(owner))
        (root / "prosody.pid").write_text(str(os.getpid()))  # not a prosody: never signalled
    assert prosody.remove_stale(tmp_path) == [dead]
    assert live.exists() and not dead.exists()


# -- the interop matrix's pure parts (tests/test_jingle_matrix.py) ---------------------------


def _passing_cell(**changes: object) -> cells.CellResult:
    cell = cells.CellResult(
        "out",
        "chromium",
        client_ice=True,
        ice_after_accept=0.02,
        asterisk_ice=["Success"],
        sent=50,
        received=50,
        asterisk_ice_after_accept=0.01,
        asterisk_timed=True,
        leg_tx=50,
        leg_rx=50,
        phone_echoed=50,
    )
    for key, value in changes.items():
        setattr(cell, key, value)
    return cell


def test_matrix_cell_needs_ice_on_both_sides_in_time_and_rtp_through_the_phone() -> None:
    assert _passing_cell().passed
    for change in (
        {"leg_rx": 0},  # SIPp echoed nothing back into Asterisk
        {"leg_tx": 40},  # Asterisk forwarded too little to the phone
        {"phone_echoed": 0},  # SIPp itself echoed nothing
        {"received": 40},  # too little came back to the client
        {"asterisk_ice_after_accept": 2.5},  # pjnath finished too late
        {"asterisk_ice_after_accept": None},  # no timed verdict from Asterisk
        {"ice_after_accept": 2.0},  # the client's ICE too late
        {"asterisk_ice": ["Success", "PJNATH_EICEFAILED"]},
        {"asterisk_ice": []},
    ):
        assert not _passing_cell(**change).passed, change
    # Cells without a phone leg (jingle.cells) are judged without those counts and times.
    assert _passing_cell(
        leg_tx=None,
        leg_rx=None,
        phone_echoed=None,
        asterisk_timed=False,
        asterisk_ice_after_accept=None,
    ).passed


def test_asterisk_ice_completion_times_are_read_from_the_full_log() -> None:
    log = (
        "[2026-11-23 02:40:01.123] DEBUG[42][C-00000001] pjproject: icess0x1 "
        "....ICE process complete, status=Success\n"
        "[2026-11-23 02:40:02.500] DEBUG[42] pjproject: icess0x2 ICE process complete, "
        "status=All ICE checklists failed (PJNATH_EICEFAILED)\n"
        "ICE process complete, status=Success\n"  # no timestamp: not timed
    )
    found = observe.ice_completion_times(log)
    assert [(t.isoformat(timespec="milliseconds"), v) for t, v in found] == [
        ("2026-11-23T02:40:01.123", "Success"),
        ("2026-11-23T02:40:02.500", "All ICE checklists failed (PJNATH_EICEFAILED)"),
    ]


def test_matrix_routing_config_routes_both_directions() -> None:
    dids = {"+15550104200": "alice@jingle.test/m-chromium"}
    config, issues = parse_config(matrix.routing_text("jingle.test", "jingle", dids))
    assert issues == [] and config is not None
    out = outbound(config, "alice@jingle.test/m-chromium", "", {})
    assert out.allowed and out.hotline
    assert out.dial_strings == (f"PJSIP/{matrix.HOTLINE}@{matrix.TRUNK}",)
    inn = inbound(config, "15550104200")
    assert inn.allowed and inn.dial_strings == ("Motif/jingle/alice@jingle.test/m-chromium",)


def test_routed_rig_configs_use_callctls_dialplan(tmp_path: Path) -> None:
    server = Prosody(root=tmp_path, port=5999)
    server.accounts["asterisk"] = Account("asterisk", "pw")
    files, _ = configs(_net(), server, routed=True)
    assert "context = from-jingle\n" in files["motif.conf"]
    assert "extensions.conf" not in files  # the sandbox renders it: the repo's dialplan/
    files, _ = configs(_net(), server)
    assert "context = jingle-in\n" in files["motif.conf"] and "extensions.conf" in files


def test_matrix_table_renders_both_columns_between_the_markers(tmp_path: Path) -> None:
    cell = {
        "profile": "gajim",
        "direction": "out",
        "answer": "ring10",
        "passed": False,
        "client_ice": False,
        "ice_after_answer_client": None,
        "ice_after_answer_asterisk": None,
        "asterisk_ice": [],
        "rtp": {},
        "rejected": "transport-info: content creator/name does not match the session",
        "terminate_reason": "failed-application",
        "error": "",
        "analyzer": ["ice-role-unknown"],
    }
    good = dict(
        cell,
        passed=True,
        client_ice=True,
        ice_after_answer_client=0.021,
        ice_after_answer_asterisk=0.0005,
        asterisk_ice=["Success"],
        rejected="",
        terminate_reason="",
        analyzer=[],
        rtp={
            "sent_by_client": 50,
            "echoed_to_client": 50,
            "asterisk_to_phone": 50,
            "phone_to_asterisk": 49,
            "echoed_by_sipp": 49,
        },
    )
    doc = {
        "version": 1,
        "columns": {
            "stock": {
                "build": "s",
                "asterisk": "22.10.1",
                "patches": [],
                "finished": "t",
                "runtime_s": 1.0,
                "cells": [cell],
            },
            "patched": {
                "build": "p",
                "asterisk": "22.10.1",
                "patches": ["a", "b"],
                "finished": "t",
                "runtime_s": 2.0,
                "cells": [good],
            },
        },
    }
    table = matrix_table.render(doc)
    assert (
        "| gajim | client calls phone | after 10 s ringing | **FAIL**: client rejected the "
        "session (failed-application); analyzer: `ice-role-unknown` | pass: ICE 21 ms / "
        "0 ms; RTP 50/50 back, phone leg 50/49, SIPp echoed 49 |"
    ) in table.splitlines()
    assert (
        "- patched: build `p` (Asterisk 22.10.1, 2 patches), 1 of 1 cells pass; slowest "
        "ICE after answer 21 ms; run finished t in 2.0 s" in table.splitlines()
    )
    readme = tmp_path / "README.md"
    readme.write_text(f"top\n{matrix_table.BEGIN}\nold\n{matrix_table.END}\nbottom\n")
    results = tmp_path / "m.json"
    results.write_text(json.dumps(doc))
    assert matrix_table.main([str(results), "--readme", str(readme), "--check"]) == 1
    assert matrix_table.main([str(results), "--readme", str(readme)]) == 0
    assert readme.read_text() == (
        f"top\n{matrix_table.BEGIN}\n{table}\n{matrix_table.END}\nbottom\n"
    )
    assert matrix_table.main([str(results), "--readme", str(readme), "--check"]) == 0
