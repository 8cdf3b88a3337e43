"""`callctl sandbox up --trunk/--phone`: strict parsing (the values end up in pjsip.conf)."""

import argparse
from pathlib import Path

import pytest
from callctl.cli import Console
from callctl.errors import UsageError
from callctl.sandbox.cli import parse_phone, parse_trunk, register
from callctl.sandbox.state import read_state, sandbox_root


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("carrier-a", "expected NAME=HOST:PORT"),
        ("carrier-a=example.org:5060", "not an IP address"),
        ("carrier-a=127.0.0.3:70000", "not a port number"),
        ("1bad=127.0.0.3:5060", "expected NAME=HOST:PORT"),
        ("a;b=127.0.0.3:5060", "expected NAME=HOST:PORT"),
    ],
)
def test_sandbox_trunk_option_is_validated(value: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_trunk(value)


def test_sandbox_trunk_and_phone_options_parse() -> None:
    assert parse_trunk("carrier-a=127.0.0.3:5070") == {
        "name": "carrier-a",
        "host": "127.0.0.3",
        "port": 5070,
    }
    assert parse_phone("alice=127.0.0.2:from-jingle") == {
        "name": "alice",
        "host": "127.0.0.2",
        "context": "from-jingle",
    }
    with pytest.raises(UsageError, match="context"):
        parse_phone("alice=127.0.0.2:from jingle")


@pytest.mark.parametrize(
    "value",
    ["carrier\n=127.0.0.3:5060", "carrier-a=127.0.0.3:5060\n", "a/b=127.0.0.3:5060"],
)
def test_trunk_name_with_a_newline_is_refused(value: str) -> None:
    # "$" with re.match let "carrier\n" through: a bare LF inside a pjsip.conf section name.
    with pytest.raises(UsageError):
        parse_trunk(value)


def test_phone_context_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(UsageError, match="context"):
        parse_phone("alice=127.0.0.2:from-jingle\n")


@pytest.mark.parametrize("name", ["/", "../../..", "..", "ok\n", "a/b"])
def test_sandbox_root_refuses_names_that_leave_the_state_dir(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLCTL_STATE", str(tmp_path))
    with pytest.raises(UsageError, match="sandbox name"):
        sandbox_root(name)
    with pytest.raises(UsageError):
        read_state(name)


def test_sandbox_root_of_a_good_name_is_inside_the_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLCTL_STATE", str(tmp_path))
    assert sandbox_root("t1a2b3") == tmp_path / "sb" / "t1a2b3"


@pytest.mark.parametrize("action", ["up", "down", "status"])
def test_cli_refuses_a_bad_sandbox_name_before_doing_anything(
    action: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLCTL_STATE", str(tmp_path / "state"))
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(
        ["sandbox", action, "--name", "../../..", "--cache", str(tmp_path / "cache")]
        if action == "up"
        else ["sandbox", action, "--name", "../../.."]
    )
    args.spec = tmp_path / "no-such-spec.yaml"  # without the check: a spec error instead
    with pytest.raises(UsageError, match="bad sandbox name"):
        args.func(args, Console())
    assert not (tmp_path / "cache").exists() and not (tmp_path / "state").exists()
