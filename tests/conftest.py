"""Shared fixtures: the real Asterisk builds, pjproject sources and sandboxes.

Real-Asterisk tests stand on the build manager itself: the first session builds Asterisk
(minutes), later sessions reuse the cached build (seconds). Progress goes to the real stderr
so a long first build is visible under pytest's capture.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Test sandboxes get their own short state folder, apart from the user's `default` sandbox.
os.environ.setdefault("CALLCTL_STATE", f"/tmp/cct{os.getpid()}")

from callctl import paths
from callctl.build.builder import BuildResult, build, pjproject_check_tree, plan_build
from callctl.build.cache import Cache
from callctl.build.spec import load_spec
from callctl.sandbox import manager

# The Jingle rig's fixtures (prosody, network namespaces, Jingle clients, a Motif Asterisk)
# and the real-browser rig's (headless Chromium / Firefox with a StanzaJS page).
pytest_plugins = ("support.jingle.fixtures", "support.webrtc.fixtures")

REPO = paths.REPO_ROOT
# Memory-safety alarms Asterisk logs: assertion failures on ao2 objects (FRACK, bad magic
# number) and refcount underflows. Any of them fails the test that produced it.
FRACK = re.compile(r"FRACK!|bad magic number|Invalid refcount -?\d+ on ao2 object")


def _progress(text: str) -> None:
    print(f"[build] {text}", file=sys.__stderr__, flush=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = Path(os.environ["CALLCTL_STATE"])
    if state.name.startswith("cct") and not os.environ.get("CALLCTL_KEEP_SANDBOX"):
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(scope="session")
def build_cache() -> Cache:
    return Cache(paths.cache_dir())


@pytest.fixture(scope="session")
def asterisk_build(build_cache: Cache) -> BuildResult:
    """The patched build (specs/default.yaml), built or reused."""
    return build(load_spec(REPO / "specs" / "default.yaml"), build_cache, _progress)


@pytest.fixture(scope="session")
def asterisk_build_stock(build_cache: Cache) -> BuildResult:
    """The same inputs without callctl's series (specs/stock.yaml)."""
    return build(load_spec(REPO / "specs" / "stock.yaml"), build_cache, _progress)


@pytest.fixture(scope="session")
def asterisk_build_minus_ice(build_cache: Cache) -> BuildResult:
    """The series minus the write-up's ICE fixes, asterisk 0050 and pjproject 0100
    (specs/minus-ice.yaml): what a real browser needs to show the late-peer failure."""
    return build(load_spec(REPO / "specs" / "minus-ice.yaml"), build_cache, _progress)


@pytest.fixture(scope="session")
def pjproject_source(build_cache: Cache, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pjproject as Asterisk's build sees it before callctl's series (read-only)."""
    plan = plan_build(load_spec(REPO / "specs" / "stock.yaml"), build_cache)
    work = tmp_path_factory.mktemp("pjsrc")
    tree = plan.asterisk.unpack(work / "asterisk")
    _, pj_tree, _ = pjproject_check_tree(plan, tree, work, build_cache)
    shutil.rmtree(tree)
    return pj_tree


SandboxFactory = Callable[..., manager.Sandbox]


@pytest.fixture
def sandbox_factory(request: pytest.FixtureRequest) -> Iterator[SandboxFactory]:
    """Start sandboxes for one test; stop them after it and fail on FRACK, bad-magic or
    refcount-underflow lines in the log (as Asterisk's own testsuite checks after a test)."""
    started: list[tuple[manager.Sandbox, bool]] = []

    def make(
        build: BuildResult | None = None,
        configs: dict[str, str] | None = None,
        name: str | None = None,
        expect_frack: bool = False,
        **options: Any,
    ) -> manager.Sandbox:
        b = build or request.getfixturevalue("asterisk_build")
        opts = manager.SandboxOptions(
            name=name or f"t{secrets.token_hex(3)}", configs=configs or {}, **options
        )
        sb = manager.up(b, opts)
        started.append((sb, expect_frack))
        return sb

    yield make
    problems = []
    for sb, expect_frack in started:
        sb.stop()
        if not expect_frack:
            for log in ("full", "messages"):
                path = sb.log_dir / log
                if path.is_file():
                    bad = [
                        ln
                        for ln in path.read_text(errors="replace").splitlines()
                        if FRACK.search(ln)
                    ]
                    if bad:
                        problems.append(f"{sb.name}/{log}: {bad[0]}")
                        break
        if not os.environ.get("CALLCTL_KEEP_SANDBOX"):
            shutil.rmtree(sb.root, ignore_errors=True)
    if problems:
        pytest.fail(
            "Asterisk reported memory-safety errors (FRACK, bad magic number, "
            "refcount underflow):\n" + "\n".join(problems)
        )


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory) -> manager.Sandbox:
    return sandbox_factory()
