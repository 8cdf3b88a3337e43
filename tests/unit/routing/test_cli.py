"""`callctl config check` and `callctl route explain`, driven through the real CLI entry point."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from callctl.cli import Console, main
from callctl.paths import REPO_ROOT

EXAMPLE = REPO_ROOT / "specs" / "routing.example.yaml"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(list(argv), Console(stdout=out, stderr=err))
    return status, out.getvalue(), err.getvalue()


def explain(config: Path, *argv: str) -> tuple[int, str, str]:
    return run("route", "explain", "--config", str(config), *argv)


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    path = tmp_path / "broken.yaml"
    text = EXAMPLE.read_text()
    text = text.replace("primary: carrier-a", 'primary: "carrier-a&PJSIP/evil"', 1)
    text = text.replace("ring_timeout: 45", "ring_timeout: forever", 1)
    path.write_text(text)
    return path


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_config_check_ok() -> None:
    status, out, _ = run("config", "check", str(EXAMPLE))
    assert status == 0
    assert out.strip() == f"{EXAMPLE}: OK"


def test_config_check_lists_every_error_and_exits_2(broken: Path) -> None:
    status, out, _ = run("config", "check", str(broken))
    assert status == 2
    lines = out.splitlines()
    trunk_line = line_of(broken, "carrier-a&PJSIP")
    timeout_line = line_of(broken, "ring_timeout: forever")
    assert lines[0].startswith(f"{broken}:{trunk_line}:12: invalid PJSIP endpoint name")
    assert lines[1] == (
        f"{broken}:{timeout_line}:17: expected a whole number from 1 to 600, "
        "found 'forever' (at policy.ring_timeout)"
    )
    assert lines[2] == f"2 errors in {broken}"


def test_config_check_json(broken: Path) -> None:
    status, out, _ = run("config", "check", str(broken), "--json")
    assert status == 2
    doc = json.loads(out)
    assert (doc["version"], doc["kind"], doc["valid"]) == ("1", "config-check", False)
    assert [e["line"] for e in doc["errors"]] == [
        line_of(broken, "carrier-a&PJSIP"),
        line_of(broken, "ring_timeout: forever"),
    ]
    assert doc["errors"][1]["path"] == "policy.ring_timeout"


def test_config_check_missing_file(tmp_path: Path) -> None:
    status, _, err = run("config", "check", str(tmp_path / "nope.yaml"))
    assert status == 2
    assert "does not exist" in err


def test_route_explain_text() -> None:
    status, out, _ = explain(EXAMPLE, "--from", "alice@example.org", "--to", "0044 20 7946 0000")
    assert status == 0
    assert out.splitlines() == [
        'outbound call from "alice@example.org" to "0044 20 7946 0000"',
        f"  verdict:      allowed: route 'uk' (line {line_of(EXAMPLE, '- name: uk')}) "
        "matches by '+44'",
        "  number:       +442079460000",
        "  caller ID:    +15550104400",
        "  ring timeout: 45 s",
        "  trunk order:  carrier-b (primary), carrier-a (fallback 1)",
        "  dial strings (next one only after congestion, 5xx or no response):",
        "    1. PJSIP/+442079460000@carrier-b",
        "    2. PJSIP/+442079460000@carrier-a",
    ]


def test_route_explain_refusal_escapes_hostile_input() -> None:
    status, out, _ = explain(EXAMPLE, "--from", "alice@example.org", "--to", "555\n${EXTEN}\u00e9")
    assert status == 0
    lines = out.splitlines()
    # The raw newline and accent are printed escaped, so they cannot forge output lines.
    assert lines[0] == 'outbound call from "alice@example.org" to "555\\n${EXTEN}\\u00e9"'
    assert lines[1].startswith("  verdict:      refused (invalid-number): only digits 0-9")
    assert lines[2] == "  hangup cause: 28 (INVALID_NUMBER_FORMAT)"
    assert "PJSIP/" not in out


def test_route_explain_json_with_active_calls() -> None:
    status, out, _ = explain(
        EXAMPLE,
        "--from",
        "bob@example.org/phone",
        "--to",
        "+15550104477",
        "--active-calls",
        "1",
        "--json",
    )
    assert status == 0
    doc = json.loads(out)
    assert (doc["kind"], doc["direction"], doc["allowed"]) == ("route-explain", "outbound", False)
    assert (doc["reason"], doc["cause"]) == ("call-limit", 17)
    assert doc["number"] == "+15550104477"


def test_route_explain_inbound() -> None:
    status, out, _ = explain(EXAMPLE, "--inbound", "--to", "15550104401")
    assert status == 0
    assert "  ringing:      sequential, 15 s each" in out.splitlines()
    assert "    1. Motif/xmpp-gw/bob@example.org/phone" in out.splitlines()


def test_route_explain_needs_from_for_outbound() -> None:
    status, _, err = explain(EXAMPLE, "--to", "+15550104477")
    assert status == 2
    assert "--from CALLER is required" in err


def test_route_explain_config_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLCTL_ROUTING_CONFIG", str(EXAMPLE))
    status, out, _ = run("route", "explain", "--from", "alice@example.org", "--to", "+15550104477")
    assert status == 0
    assert "PJSIP/+15550104477@carrier-a" in out


def test_route_explain_without_any_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CALLCTL_ROUTING_CONFIG", raising=False)
    monkeypatch.setattr("callctl.routing.cli.DEFAULT_CONFIG", Path("/nonexistent/r.yaml"))
    status, _, err = run("route", "explain", "--from", "a@example.org", "--to", "+15550104477")
    assert status == 2
    assert "no routing config given" in err
    assert "hint: pass --config FILE" in err


def test_route_explain_with_broken_config(broken: Path) -> None:
    status, _, err = explain(broken, "--from", "alice@example.org", "--to", "1")
    assert status == 2
    assert f"invalid routing config: {broken}:" in err
    assert "(and 1 more)" in err
    assert f"callctl config check {broken}" in err


def test_route_explain_without_a_number_shows_the_hotline(tmp_path: Path) -> None:
    path = tmp_path / "hotline.yaml"
    path.write_text(
        EXAMPLE.read_text().replace(
            '    caller_id: "+15550104400"\n',
            '    caller_id: "+15550104400"\n    hotline: "+1 555 010 4477"\n',
            1,
        )
    )
    line = line_of(path, "- jid: alice@example.org")
    for to in ([], ["--to", ""]):
        status, out, _ = explain(path, "--from", "alice@example.org/gajim", *to)
        assert status == 0
        assert out.splitlines()[:3] == [
            'outbound call from "alice@example.org/gajim" with no number dialled',
            f"  verdict:      allowed: hotline of alice@example.org (line {line}), no number "
            f"dialled; route 'nanp' (line {line_of(path, '- name: nanp')}) matches by '+1N'",
            "  number:       +15550104477 (the caller's hotline)",
        ]
        assert "    1. PJSIP/+15550104477@carrier-a" in out.splitlines()
    status, out, _ = explain(path, "--from", "bob@example.org", "--json")
    doc = json.loads(out)
    assert (status, doc["allowed"], doc["reason"], doc["hotline"]) == (
        0,
        False,
        "invalid-number",
        False,
    )
    assert doc["detail"] == "no number dialled and bob@example.org has no hotline"


def test_route_explain_inbound_needs_a_did() -> None:
    status, _, err = explain(EXAMPLE, "--inbound")
    assert status == 2
    assert "--inbound needs --to DID" in err
