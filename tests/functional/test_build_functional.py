"""The build manager and sandbox against the real thing: Debian's Asterisk 22.10.1 source,
the real build in the cache, a running Asterisk. Bad inputs use a throw-away cache and must
leave nothing behind in it."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from callctl.build.builder import BuildResult, build, plan_build, stage_sources
from callctl.build.cache import Cache
from callctl.build.series import parse_series_text
from callctl.build.spec import load_spec
from callctl.build.steps import StepRunner
from callctl.errors import IntegrityError, PatchError, UsageError
from callctl.paths import REPO_ROOT
from callctl.sandbox import readiness
from support.callctl_process import run_callctl
from support.gateway_modules import NEEDED_MODULES
from support.sandbox_state import planted_state

REPO = REPO_ROOT
DATA = REPO / "tests" / "data" / "patches"

pytestmark = pytest.mark.asterisk


def _callctl(
    *args: str, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """From the repository's root (specs/ are found relative to it), builds take long."""
    return run_callctl(*args, env=env, timeout=timeout, cwd=REPO)


def _tarball_spec(tmp_path: Path, cache: Cache, **over: str) -> Path:
    """A spec naming the (already verified) Debian tarballs by path, as a user would."""
    plan = plan_build(load_spec(REPO / "specs" / "stock.yaml"), cache)
    assert plan.asterisk.archive and plan.pjproject.archive
    values = {
        "a_path": str(plan.asterisk.archive),
        "a_sha": plan.asterisk.sha256,
        "p_path": str(plan.pjproject.archive),
        "p_sha": plan.pjproject.sha256,
        "extra": "",
    }
    values.update(over)
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: fixture\n"
        f"asterisk: {{kind: tarball, path: '{values['a_path']}', sha256: {values['a_sha']}}}\n"
        f"pjproject: {{kind: tarball, path: '{values['p_path']}', sha256: {values['p_sha']}}}\n"
        + values["extra"]
    )
    return spec


def _leftovers(cache_root: Path) -> list[str]:
    """Anything a failed build could have left: builds, scratch trees, spec links."""
    found = []
    for sub in ("builds", "specs"):
        d = cache_root / sub
        if d.is_dir():
            found += [f"{sub}/{p.name}" for p in d.iterdir()]
    work = cache_root / "work"
    if work.is_dir():
        found += [f"work/{p.name}" for p in work.iterdir() if p.suffix != ".lock"]
    return found


def _gone(pid: int) -> bool:
    """Exited: no such process, or a zombie (an orphaned sandbox is reparented to PID 1,
    which in a container may never reap it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except OSError:
        return True


# --- the real build -------------------------------------------------------------------


def test_manifest_lists_the_series_in_order(asterisk_build: BuildResult) -> None:
    m = asterisk_build.manifest
    for kind in ("asterisk", "pjproject"):
        series = parse_series_text((REPO / "patches" / kind / "series").read_text())
        assert [p["name"] for p in m["patches"][kind]] == series
        for p in m["patches"][kind]:
            assert re.fullmatch(r"[0-9a-f]{64}", p["sha256"])
    assert m["patches"]["pjproject_shipped_by_asterisk"][:1] == [
        "0000-configure-ssl-library-path.patch"
    ]
    assert m["versions"] == {**m["versions"], "asterisk": "22.10.1", "pjproject": "2.17"}
    assert m["key"] == asterisk_build.key
    assert set(m["timings"]) >= {"configure", "make", "install", "total"}


def test_installed_asterisk_reports_22_10_1(asterisk_build: BuildResult) -> None:
    out = subprocess.run(
        [str(asterisk_build.prefix / "sbin" / "asterisk"), "-V"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "Asterisk 22.10.1"


def test_module_directory_holds_the_gateway_modules(asterisk_build: BuildResult) -> None:
    moddir = asterisk_build.prefix / "lib" / "asterisk" / "modules"
    installed = {p.stem for p in moddir.glob("*.so")}
    assert set(NEEDED_MODULES) <= installed
    assert installed == set(asterisk_build.manifest["modules"]["installed"])
    assert len(installed) < 150, "the minimal set grew past what a gateway needs"


def test_same_inputs_again_is_a_no_op(asterisk_build: BuildResult, build_cache: Cache) -> None:
    again = build(load_spec(REPO / "specs" / "default.yaml"), build_cache, lambda _: None)
    assert again.reused and again.key == asterisk_build.key
    assert again.manifest["built_at"] == asterisk_build.manifest["built_at"]


def test_stock_and_patched_differ_only_by_the_series(
    asterisk_build: BuildResult, asterisk_build_stock: BuildResult
) -> None:
    a, s = asterisk_build.manifest["inputs"], asterisk_build_stock.manifest["inputs"]
    assert {k: v for k, v in a.items() if not k.endswith("_patches")} == {
        k: v for k, v in s.items() if not k.endswith("_patches")
    }
    assert s["asterisk_patches"] == [] and s["pjproject_patches"] == []
    has_series = bool(a["asterisk_patches"] or a["pjproject_patches"])
    assert (asterisk_build.key != asterisk_build_stock.key) == has_series


def test_cli_build_json_reuses_the_cached_build(asterisk_build: BuildResult) -> None:
    proc = _callctl("build", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["version"] == "1" and doc["kind"] == "build"
    assert doc["reused"] is True and doc["key"] == asterisk_build.key
    assert "reusing" in proc.stderr


# --- placing the series ------------------------------------------------------------------


def test_fixture_series_is_applied_and_pjproject_series_placed(
    tmp_path: Path, build_cache: Cache
) -> None:
    spec_file = _tarball_spec(
        tmp_path,
        build_cache,
        extra=(
            f"patches: {{asterisk: '{DATA}/harmless-asterisk/series', "
            f"pjproject: '{DATA}/harmless-pjproject/series'}}\n"
        ),
    )
    plan = plan_build(load_spec(spec_file), Cache(tmp_path / "cache"))
    scratch = tmp_path / "scratch"
    runner = StepRunner(scratch / "logs", lambda _: None, 3)
    tree, version, pj_version, fixups = stage_sources(
        plan, Cache(tmp_path / "cache"), scratch, runner
    )
    assert (version, pj_version) == ("22.10.1", "2.17")
    assert (tree / "README.md").read_text().startswith("<!-- callctl-fixture-marker -->")
    placed = tree / "third-party" / "pjproject" / "patches" / "0100-fixture-marker.patch"
    assert (
        placed.read_bytes()
        == (DATA / "harmless-pjproject" / "0100-fixture-marker.patch").read_bytes()
    )
    md5 = (tree / "third-party" / "pjproject" / "pjproject-2.17.tar.bz2.md5").read_text()
    assert md5.endswith("  pjproject-2.17.tar.bz2\n")
    assert (scratch / "dl" / "pjproject-2.17.tar.bz2").is_file()
    assert any("bdimad" in f for f in fixups)


def test_patches_check_reports_each_patch(tmp_path: Path, build_cache: Cache) -> None:
    spec = _tarball_spec(
        tmp_path,
        build_cache,
        extra=(
            f"patches: {{asterisk: '{DATA}/broken/series', "
            f"pjproject: '{DATA}/harmless-pjproject/series'}}\n"
        ),
    )
    proc = _callctl(
        "patches",
        "check",
        "--spec",
        str(spec),
        "--json",
        env={"CALLCTL_CACHE": str(tmp_path / "cache")},
    )
    assert proc.returncode == 5, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False
    [broken] = doc["series"]["asterisk"]
    assert broken["status"] == "fails"
    assert broken["problems"][0]["file"] == "channels/chan_motif.c"
    assert "this line is not in chan_motif.c" in broken["problems"][0]["text"]
    assert [r["status"] for r in doc["series"]["pjproject"]] == ["applies"]


def test_compiler_flags_from_the_environment_change_the_cache_key(
    build_cache: Cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    # They reach configure; an -O0 -fno-stack-protector build must not reuse the normal one.
    spec = load_spec(REPO / "specs" / "stock.yaml")
    for var in ("CC", "CFLAGS", "LDFLAGS", "CPPFLAGS"):
        monkeypatch.delenv(var, raising=False)
    normal = plan_build(spec, build_cache).key
    monkeypatch.setenv("CFLAGS", "-O0 -fno-stack-protector")
    weakened = plan_build(spec, build_cache).key
    monkeypatch.setenv("LDFLAGS", "-Wl,-z,norelro")
    assert len({normal, weakened, plan_build(spec, build_cache).key}) == 3


def test_the_real_series_applies_exactly(build_cache: Cache) -> None:
    proc = _callctl("patches", "check", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is True
    for kind in ("asterisk", "pjproject"):
        names = parse_series_text((REPO / "patches" / kind / "series").read_text())
        assert [r["patch"] for r in doc["series"][kind]] == names


# --- bad inputs: a clear error and nothing left behind ------------------------------------


def test_wrong_sha256_is_refused_before_unpacking(tmp_path: Path, build_cache: Cache) -> None:
    spec = _tarball_spec(tmp_path, build_cache, a_sha="f" * 64)
    cache = Cache(tmp_path / "cache")
    with pytest.raises(IntegrityError, match=r"sha256 .* the spec expects ffff"):
        build(load_spec(spec), cache, lambda _: None)
    assert _leftovers(cache.root) == []


def test_missing_source_is_a_clear_error(tmp_path: Path, build_cache: Cache) -> None:
    spec = _tarball_spec(tmp_path, build_cache, p_path=str(tmp_path / "no-such.tar.bz2"))
    cache = Cache(tmp_path / "cache")
    with pytest.raises(UsageError, match=r"pjproject tarball .*no-such\.tar\.bz2 does not exist"):
        build(load_spec(spec), cache, lambda _: None)
    assert _leftovers(cache.root) == []


def test_patch_that_does_not_apply_fails_the_build_cleanly(
    tmp_path: Path, build_cache: Cache
) -> None:
    spec = _tarball_spec(
        tmp_path, build_cache, extra=f"patches: {{asterisk: '{DATA}/broken/series'}}\n"
    )
    cache_root = tmp_path / "cache"
    proc = _callctl("build", "--spec", str(spec), env={"CALLCTL_CACHE": str(cache_root)})
    assert proc.returncode == 5
    assert "the asterisk series does not apply exactly" in proc.stderr
    assert "0001-does-not-apply.patch: channels/chan_motif.c hunk #1: failed" in proc.stderr
    assert "[2/9] patch-asterisk" in proc.stderr
    assert _leftovers(cache_root) == []
    assert list((cache_root / "failed").iterdir()), "the failed build's logs are kept"


def test_unknown_module_is_refused_before_configure(tmp_path: Path, build_cache: Cache) -> None:
    spec = _tarball_spec(tmp_path, build_cache, extra="modules: [chan_pjsip, chan_sipp]\n")
    cache = Cache(tmp_path / "cache")
    with pytest.raises(UsageError, match=r"chan_sipp \(did you mean"):
        build(load_spec(spec), cache, lambda _: None)
    assert _leftovers(cache.root) == []


def test_earlier_good_build_survives_a_failed_one(
    asterisk_build: BuildResult, tmp_path: Path, build_cache: Cache
) -> None:
    before = (asterisk_build.path / "manifest.json").read_bytes()
    spec = _tarball_spec(
        tmp_path, build_cache, extra=f"patches: {{asterisk: '{DATA}/broken/series'}}\n"
    )
    with pytest.raises(PatchError):
        build(load_spec(spec), build_cache, lambda _: None)
    assert (asterisk_build.path / "manifest.json").read_bytes() == before
    assert (asterisk_build.prefix / "sbin" / "asterisk").is_file()


# --- the sandbox ----------------------------------------------------------------------


def test_sandbox_answers_ari_and_ami(sandbox_factory, asterisk_build: BuildResult) -> None:  # type: ignore[no-untyped-def]
    sb = sandbox_factory()
    info = asyncio.run(readiness.ari_info(sb.ari_url, sb.ari_user, sb.ari_password))
    assert info["system"]["version"] == "22.10.1"
    out = asyncio.run(readiness.ami_probe(sb.ami_host, sb.ami_port, sb.ami_user, sb.ami_secret))
    assert "Asterisk 22.10.1" in out
    assert "callctl" in sb.rx("dialplan show from-trunk")
    assert oct((sb.root / "etc" / "manager.conf").stat().st_mode & 0o777) == "0o600"


def test_wrong_ami_secret_is_refused(sandbox_factory) -> None:  # type: ignore[no-untyped-def]
    sb = sandbox_factory()
    with pytest.raises(PermissionError):
        asyncio.run(readiness.ami_probe(sb.ami_host, sb.ami_port, sb.ami_user, "wrong"))


def test_sandbox_cli_up_status_down(asterisk_build: BuildResult, tmp_path: Path) -> None:
    from callctl.sandbox.manager import free_port

    name = "cli" + str(os.getpid() % 1000)
    ports = [
        "--http-port",
        str(free_port()),
        "--ami-port",
        str(free_port()),
        "--sip-port",
        str(free_port()),
    ]
    up = _callctl("sandbox", "up", "--name", name, *ports, "--json")
    try:
        assert up.returncode == 0, up.stderr
        st = json.loads(_callctl("sandbox", "status", "--name", name, "--json").stdout)
        assert st["running"] is True and st["asterisk_version"] == "22.10.1"
        assert st["build_key"] == asterisk_build.key
        assert st["patches"] == {
            k: [p["name"] for p in asterisk_build.manifest["patches"][k]]
            for k in ("asterisk", "pjproject")
        }
        assert "ami_secret" not in st and "ari_password" not in st
        pid = st["pid"]
        again = _callctl("sandbox", "up", "--name", name, *ports)
        assert again.returncode == 7 and "already running" in again.stderr
    finally:
        down = _callctl("sandbox", "down", "--name", name)
    assert down.returncode == 0 and "stopped" in down.stdout
    assert _gone(pid)
    st = _callctl("sandbox", "status", "--name", name, "--json")
    assert json.loads(st.stdout)["running"] is False
    noop = _callctl("sandbox", "down", "--name", name)
    assert noop.returncode == 0 and "nothing to do" in noop.stdout


def test_down_never_kills_a_process_it_did_not_start(asterisk_build: BuildResult) -> None:
    from callctl.sandbox import manager, state

    name = "stale" + str(os.getpid() % 1000)
    other = subprocess.Popen(["sleep", "30"])
    try:
        root = state.sandbox_root(name)
        root.mkdir(parents=True, exist_ok=True)
        prefix = str(asterisk_build.prefix)
        state.write_state(planted_state(root, name=name, pid=other.pid, prefix=prefix))
        assert manager.down(name) is False
        assert other.poll() is None, "an unrelated process was killed"
    finally:
        other.kill()
        other.wait()


def test_port_in_use_is_a_clear_error(asterisk_build: BuildResult) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _callctl("sandbox", "up", "--name", "busy", "--http-port", str(port))
    assert proc.returncode == 2
    assert f"tcp port 127.0.0.1:{port} is already in use" in proc.stderr


# --- interruption ---------------------------------------------------------------------


def _start_build(spec: Path, cache_root: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "callctl", "build", "--spec", str(spec)],
        cwd=REPO,
        env={**os.environ, "CALLCTL_CACHE": str(cache_root)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_step(proc: subprocess.Popen[str], step: str, seen: list[str]) -> None:
    assert proc.stderr is not None
    for line in proc.stderr:  # bounded: the build ends or reaches the step
        seen.append(line)
        if step in line:
            return
    raise AssertionError("build ended before " + step + ":\n" + "".join(seen))


def _step_processes(scratch: Path) -> list[int]:
    """Processes whose working directory is inside a scratch tree (configure, make...)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if str(scratch) in os.readlink(proc / "cwd"):
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


def _wait_until(condition: Callable[[], bool], what: str, limit: float = 600) -> None:
    """Poll for a condition the test can observe. The limit only turns a hang into a
    failure; nothing here waits for time to pass."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def _step_running(proc: subprocess.Popen[str], scratch_parent: Path) -> list[int]:
    """Wait until a step process (configure) runs inside the build's scratch tree, and
    return the step processes. A process with its cwd there has passed fork and chdir, so
    it holds the build lock (inherited): the state the tests below need, on any load."""
    found: list[int] = []

    def running() -> bool:
        assert proc.poll() is None, "the build ended before its configure step ran"
        scratch = [p for p in scratch_parent.iterdir() if p.is_dir()]
        found[:] = _step_processes(scratch[0]) if scratch else []
        return bool(found)

    _wait_until(running, "a step process in the scratch tree")
    return found


def _lock_free(lock: Path) -> bool:
    with lock.open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


@dataclass(frozen=True)
class ConfigureRunning:
    """A `callctl build` (of a local tarball, its own cache) in its configure step."""

    proc: subprocess.Popen[str]
    cache_root: Path
    scratch: Path  # the build's scratch tree
    steps: list[int]  # the step's processes (configure and what it started)


@contextmanager
def _build_in_configure(tmp_path: Path, cache: Cache) -> Iterator[ConfigureRunning]:
    spec = _tarball_spec(tmp_path, cache)
    cache_root = tmp_path / "cache"
    with _start_build(spec, cache_root) as proc:
        _wait_for_step(proc, "[4/9] configure ...", [])
        steps = _step_running(proc, cache_root / "work")
        [scratch] = [p for p in (cache_root / "work").iterdir() if p.is_dir()]
        yield ConfigureRunning(proc, cache_root, scratch, steps)


def test_sigterm_mid_build_stops_the_step_and_cleans_up(tmp_path: Path, build_cache: Cache) -> None:
    with _build_in_configure(tmp_path, build_cache) as build:
        proc, cache_root, scratch = build.proc, build.cache_root, build.scratch
        proc.terminate()
        assert proc.wait(timeout=60) == 130
    assert _leftovers(cache_root) == []
    # The build waited for configure itself; what configure had started got the same
    # signal and is gone as soon as it is delivered. A configure left running would take
    # far longer than this limit to finish on its own.
    _wait_until(lambda: not _step_processes(scratch), "configure to end with the build", 20)


def test_killed_build_is_cleaned_up_by_the_next_run(tmp_path: Path, build_cache: Cache) -> None:
    with _build_in_configure(tmp_path, build_cache) as build:
        proc, cache_root, scratch, orphans = (
            build.proc,
            build.cache_root,
            build.scratch,
            build.steps,
        )
        # Freeze the step first, so it cannot finish (or start another) whatever the load:
        # then the orphan is still there, holding the lock, when the next build looks.
        groups = {os.getpgid(pid) for pid in orphans}
        for pgid in groups:
            os.killpg(pgid, signal.SIGSTOP)
        proc.kill()  # no chance to clean up: like a crash or a power cut
        proc.wait()
    lock = scratch.with_name(scratch.name + ".lock")
    try:
        assert not _lock_free(lock), "the orphaned step should hold the build lock"
        (tmp_path / "b").mkdir()
        broken = _tarball_spec(
            tmp_path / "b", build_cache, extra=f"patches: {{asterisk: '{DATA}/broken/series'}}\n"
        )
        # ... so the next build (other inputs) leaves that tree alone ...
        first = _callctl("build", "--spec", str(broken), env={"CALLCTL_CACHE": str(cache_root)})
        assert first.returncode == 5 and scratch.is_dir()
    finally:
        for pgid in groups:  # ... until the orphan is gone too (as after a reboot)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
    _wait_until(lambda: _lock_free(lock), "the killed step to release the build lock")
    again = _callctl("build", "--spec", str(broken), env={"CALLCTL_CACHE": str(cache_root)})
    assert again.returncode == 5
    assert "removed scratch trees of interrupted builds" in again.stderr
    assert not scratch.exists() and _leftovers(cache_root) == []
