"""What of the caller's environment reaches build steps, and what enters the cache key."""

from pathlib import Path

import pytest
from callctl.build.buildenv import keyed_environment, step_environment
from callctl.build.cachekey import cache_key, key_inputs
from callctl.build.steps import StepRunner

HOSTILE = {
    "PATH": "/usr/bin:/bin",
    "CFLAGS": "-O0 -fno-stack-protector",
    "CC": "gcc",
    "CONFIG_SITE": "/tmp/evil-site.sh",
    "MAKEFLAGS": "CFLAGS=-O0",
    "ac_cv_func_malloc_0_nonnull": "yes",
    "TAR_OPTIONS": "--no-same-owner",
}


def _inputs(environment: dict[str, str] | None) -> dict[str, object]:
    return key_inputs(
        spec={"modules": ["a"]},
        asterisk_sha256="1" * 64,
        pjproject_sha256="2" * 64,
        asterisk_patches=[],
        pjproject_patches=[],
        compiler="gcc 12.2.0",
        environment=environment,
    )


def test_compiler_flags_enter_the_key_and_nothing_else_does() -> None:
    assert keyed_environment(HOSTILE) == {"CFLAGS": "-O0 -fno-stack-protector", "CC": "gcc"}
    plain = cache_key(_inputs(keyed_environment({"PATH": "/bin"})))
    hardened_off = cache_key(_inputs(keyed_environment(HOSTILE)))
    assert plain != hardened_off
    assert cache_key(_inputs({"LDFLAGS": "-static"})) not in (plain, hardened_off)
    # No build-changing variable set: the key builds already have (no "environment" entry).
    assert "environment" not in _inputs({})


def test_steps_see_only_passed_and_keyed_variables() -> None:
    env = step_environment(HOSTILE, {"LC_ALL": "C"})
    assert env == {
        "PATH": "/usr/bin:/bin",
        "CFLAGS": "-O0 -fno-stack-protector",
        "CC": "gcc",
        "LC_ALL": "C",
    }


def test_a_real_step_process_gets_that_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in HOSTILE.items():
        monkeypatch.setenv(k, v)
    runner = StepRunner(tmp_path / "logs", lambda _: None, 1)
    log = tmp_path / "logs" / "env.log"
    runner.run(log, ["env"], cwd=tmp_path, env={"LC_ALL": "C"}, step="env")
    seen = dict(line.split("=", 1) for line in log.read_text().splitlines()[1:] if "=" in line)
    assert seen["CFLAGS"] == "-O0 -fno-stack-protector" and seen["LC_ALL"] == "C"
    assert not {"CONFIG_SITE", "MAKEFLAGS", "ac_cv_func_malloc_0_nonnull", "TAR_OPTIONS"} & set(
        seen
    )
