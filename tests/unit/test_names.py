"""The one name check (callctl.names): the whole value must match, nothing that makes a path."""

from pathlib import Path

import pytest
from callctl.errors import UsageError
from callctl.names import check_name, is_safe_name


@pytest.mark.parametrize(
    "value",
    ["/", "..", ".", "../../..", "a/b", "a/../../etc", "ok\n", "ok\r", "\nok", "ok\x00", ""],
)
def test_unsafe_names_are_refused(value: str) -> None:
    assert not is_safe_name(value)
    with pytest.raises(UsageError, match="bad sandbox name"):
        check_name(value, "sandbox name")


def test_long_and_non_ascii_names_are_refused_and_not_echoed_in_full() -> None:
    assert not is_safe_name("a" * 65)
    assert not is_safe_name("caf\u00e9")
    with pytest.raises(UsageError) as info:
        check_name("x/" * 10_000, "sandbox name")
    assert len(info.value.message) < 200


@pytest.mark.parametrize("value", ["default", "t1a2b3", "callctl-debug", "a.b_c-1", "a" * 64])
def test_safe_names_pass_unchanged(value: str) -> None:
    assert check_name(value, "name") == value


def test_every_name_check_in_the_package_refuses_a_trailing_newline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "^...$" with re.match accepts "name\n": a bare LF in an AMI Command: header (debug's
    # channel name) or a pjsip.conf section name (trunks, phones).
    from callctl.build.series import check_names
    from callctl.build.spec import parse_spec
    from callctl.debug._model import check_name as debug_channel_name
    from callctl.routing.names import is_name
    from callctl.sandbox.state import sandbox_root

    monkeypatch.setenv("CALLCTL_STATE", str(tmp_path))
    with pytest.raises(UsageError):
        debug_channel_name("callctl-debug\n")
    with pytest.raises(UsageError):
        sandbox_root("default\n")
    with pytest.raises(UsageError):
        parse_spec('name: "stock\\n"\nasterisk: {kind: debian}\n')
    assert not is_name("carrier-a\n")
    assert check_names(["0100-a.patch\n"]) != []
