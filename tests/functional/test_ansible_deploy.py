"""The ansible playbook, run for real against a throwaway Debian 12 root.

The root is made with debootstrap through the machine's own Debian mirror and cached as a tar
in CACHE/debootstrap/ (keyed by suite, packages and mirror); the play reaches it through the
`community.general.chroot` connection of Debian's ansible (7.7, core 2.14). Nothing is
started in the root: units are installed, enabled and checked with systemd-analyze.

Cost (2 cores, shared): about 8.5 min warm (load average 3-6): the root is unpacked (~5 s),
two artefacts packed (~15 s), a wheelhouse built (~10 s), and the play runs seven full times,
twice up to the callctl role's checks and twice in part (25-60 s each; the first, which
installs, about a minute). Cold adds about 2 min for
debootstrap, plus the two Asterisk builds if no other test made them yet.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from callctl import paths
from callctl.build import artifact
from callctl.build.builder import BuildResult
from callctl.sandbox import render

pytestmark = [pytest.mark.slow, pytest.mark.asterisk]

REPO = paths.REPO_ROOT
ANSIBLE = REPO / "ansible"
# Debian's ansible: it ships community.general (the chroot connection) and ansible.posix
# (the json callback). The venv may hold a newer ansible-core for ansible-lint; not this.
ANSIBLE_PLAYBOOK = Path("/usr/bin/ansible-playbook")
SUITE = "bookworm"
# What a Debian 12 host has before the play: python3 (+ apt bindings) for ansible, systemd.
ROOT_PACKAGES = ("python3", "python3-apt", "systemd")
ROOT_RECIPE = 1  # bump when the way the root is made changes
SOURCES = Path("/etc/apt/sources.list.d/debian.sources")

SECRETS = {"asterisk_ari_password": "ari-Secret-1", "asterisk_ami_secret": "ami-Secret-2"}
# Non-default ports and addresses, so the test sees the variables reach the files.
ASTERISK_VARS: dict[str, Any] = {
    "asterisk_bind_address": "127.0.0.1",
    "asterisk_sip_bind_address": "0.0.0.0",
    "asterisk_http_port": 8188,
    "asterisk_ami_port": 5138,
    "asterisk_sip_port": 5160,
    "asterisk_rtp_start": 12000,
    "asterisk_rtp_end": 12400,
    "asterisk_trunks": [{"name": "carrier-a", "host": "192.0.2.10", "port": 5060}],
}
# Number JIDs: callctl as the XMPP server's component (docs/xmpp-gateway.md, issue 13).
GATEWAY_VARS: dict[str, Any] = {
    "callctl_xmpp_component": "127.0.0.1:5347",
    "callctl_xmpp_domain": "gw.example.org",
    "callctl_xmpp_asterisk_jid": "asterisk@example.org/asterisk",
    "callctl_xmpp_secret": "xmpp-Secret-3",
}
GATEWAY_FILES = [
    "callctl : Install the callctl unit",
    "callctl : Write the daemon's environment (ARI and AMI credentials)",
    "callctl : Write the routing config, checked by callctl first",
]


# -- the Debian root -------------------------------------------------------------------------


def debian_mirror(sources: Path = SOURCES) -> str:
    """The URI this machine's apt uses for SUITE (deb822 format); never a host of our own."""
    for stanza in sources.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            key, sep, value = line.partition(":")
            if sep and not line.startswith((" ", "#")):
                fields[key.strip()] = value.strip()
        if "deb" in fields.get("Types", "").split() and SUITE in fields.get("Suites", "").split():
            return fields["URIs"].split()[0]
    raise AssertionError(f"no `deb` entry for {SUITE} in {sources}")


def _runtime_packages() -> list[str]:
    defaults = yaml.safe_load((ANSIBLE / "roles/asterisk_runtime/defaults/main.yml").read_text())
    return sorted(defaults["asterisk_runtime_packages"])


def _run(args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{args[:3]} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    return proc


def root_tarball(cache: Path) -> Path:
    """A Debian 12 minbase root as a tar, made once. The runtime packages the play installs
    are only downloaded into its apt cache, so the play really installs them, offline."""
    mirror = debian_mirror()
    runtime = _runtime_packages()
    key = hashlib.sha256(
        json.dumps([ROOT_RECIPE, SUITE, ROOT_PACKAGES, runtime, mirror]).encode()
    ).hexdigest()[:16]
    folder = cache / "debootstrap"
    tar = folder / f"{SUITE}-{key}.tar"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{SUITE}-{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session may be making the same root
        if tar.is_file():
            return tar
        scratch = folder / f".{SUITE}-{key}.tmp"
        shutil.rmtree(scratch, ignore_errors=True)
        _run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={','.join(ROOT_PACKAGES)}",
                SUITE,
                str(scratch),
                mirror,
            ]
        )
        _run(["chroot", str(scratch), "apt-get", "clean"])
        _run(
            [
                "chroot",
                str(scratch),
                "apt-get",
                "install",
                "-y",
                "-qq",
                "--download-only",
                "--no-install-recommends",
                *runtime,
            ],
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive"},
        )
        partial = tar.with_suffix(".partial")
        _run(["tar", "-C", str(scratch), "-cf", str(partial), "."])
        os.replace(partial, tar)
        shutil.rmtree(scratch, ignore_errors=True)
        return tar


# -- the play ---------------------------------------------------------------------------------


@dataclass
class PlayResult:
    returncode: int
    doc: dict[str, Any]
    stderr: str

    @property
    def stats(self) -> dict[str, int]:
        return dict(self.doc["stats"]["gw1"])

    def tasks(self) -> list[tuple[str, dict[str, Any]]]:
        return [
            (t["task"]["name"], t["hosts"]["gw1"])
            for p in self.doc["plays"]
            for t in p["tasks"]
            if "gw1" in t["hosts"]
        ]

    def changed(self) -> list[str]:
        return [name for name, r in self.tasks() if r.get("changed")]

    def ran(self, name: str) -> bool:
        return any(n == name and not r.get("skipped") for n, r in self.tasks())

    def handlers(self) -> set[str]:
        """The handlers that were notified (they show as skipped: nothing runs in a chroot)."""
        names = {
            "asterisk : Reload asterisk",
            "asterisk : Restart asterisk",
            "callctl : Restart callctl",
        }
        return {n for n, _ in self.tasks() if n in names}

    def failed_task(self) -> str | None:
        return next((n for n, r in self.tasks() if r.get("failed")), None)


@dataclass
class Deployment:
    root: Path
    work: Path
    inventory: dict[str, Any]
    artefact: artifact.Artifact

    def play(self, **extra: Any) -> PlayResult:
        extra_file = self.work / "extra.json"
        extra_file.write_text(json.dumps(extra))
        inv = self.work / "inventory.yml"
        inv.write_text(yaml.safe_dump(self.inventory))
        cfg = self.work / "ansible.cfg"
        cfg.touch()
        env = {
            # A fixed environment: the controller's pip or ansible settings stay out of it.
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(Path.home()),
            "LANG": "C.UTF-8",
            "ANSIBLE_CONFIG": str(cfg),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
            "ANSIBLE_PIPELINING": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_LOCAL_TEMP": str(self.work / "tmp"),
        }
        proc = subprocess.run(
            [
                str(ANSIBLE_PLAYBOOK),
                "-i",
                str(inv),
                "-e",
                f"@{extra_file}",
                str(ANSIBLE / "site.yml"),
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=self.work,
            timeout=900,
        )
        try:
            doc = json.loads(proc.stdout)
        except ValueError:
            pytest.fail(
                f"ansible-playbook gave no JSON (rc {proc.returncode}):\n"
                f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            )
        return PlayResult(proc.returncode, doc, proc.stderr)

    def path(self, p: str) -> Path:
        return self.root / p.lstrip("/")

    def chroot(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["chroot", str(self.root), *args],
            capture_output=True,
            text=True,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
        )


def _wheelhouse(dest: Path) -> Path:
    """callctl's wheel and its dependencies', built from a copy of the tree (no build/ or
    egg-info left in the shared work tree)."""
    src = dest.parent / "src"
    shutil.copytree(
        REPO / "controller", src / "controller", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    python = REPO / ".venv" / "bin" / "python"
    _run([str(python), "-m", "pip", "wheel", "-q", "--wheel-dir", str(dest), str(src)])
    return dest


@pytest.fixture(scope="module")
def deployment(
    asterisk_build: BuildResult, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    if os.geteuid() != 0:
        pytest.skip("the chroot connection needs root")
    for tool in (ANSIBLE_PLAYBOOK, Path("/usr/sbin/debootstrap")):
        assert tool.exists(), f"{tool} missing: run scripts/install-deps.sh"
    tar = root_tarball(paths.cache_dir())
    work = tmp_path_factory.mktemp("deploy")
    root = work / "root"
    root.mkdir()
    _run(["tar", "-C", str(root), "-xf", str(tar)])
    art = artifact.pack(asterisk_build.path, work / "artefacts")
    routing = yaml.safe_load((REPO / "specs" / "routing.example.yaml").read_text())
    routing.pop("gateway")  # the play writes it from GATEWAY_VARS
    inventory = {
        "callctl_gateways": {
            "hosts": {
                "gw1": {
                    "ansible_connection": "community.general.chroot",
                    "ansible_host": str(root),
                    "ansible_python_interpreter": "/usr/bin/python3",
                }
            },
            "vars": {
                "asterisk_artifact": str(art.path),
                **SECRETS,
                **ASTERISK_VARS,
                **GATEWAY_VARS,
                # Nothing can run in a chroot; the units are checked instead.
                "asterisk_manage_service": False,
                "callctl_manage_service": False,
                # Use the package lists the root came with: the play stays offline.
                "asterisk_runtime_cache_valid_time": 10 * 365 * 86400,
                "callctl_wheelhouse": str(_wheelhouse(work / "wheels")),
                "callctl_routing": routing,
            },
        }
    }
    yield Deployment(root, work, inventory, art)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def first_runs(deployment: Deployment) -> tuple[PlayResult, PlayResult]:
    first = deployment.play()
    assert first.returncode == 0 and first.stats["failures"] == 0, (
        f"first run failed at {first.failed_task()}: {first.stderr[-2000:]}"
    )
    return first, deployment.play()


# -- checks -----------------------------------------------------------------------------------


def test_second_run_changes_nothing(first_runs: tuple[PlayResult, PlayResult]) -> None:
    first, second = first_runs
    assert first.stats["changed"] > 10
    assert first.ran("asterisk : Unpack the artefact")
    assert second.returncode == 0
    assert second.changed() == [] and second.stats["changed"] == 0
    assert second.handlers() == set()


def _owner(d: Deployment, p: Path) -> tuple[str, str, int]:
    st = p.lstat()
    users = {
        int(line.split(":")[2]): line.split(":")[0]
        for line in d.path("/etc/passwd").read_text().splitlines()
    }
    groups = {
        int(line.split(":")[2]): line.split(":")[0]
        for line in d.path("/etc/group").read_text().splitlines()
    }
    return users[st.st_uid], groups[st.st_gid], stat.S_IMODE(st.st_mode)


def test_release_and_current_link(deployment: Deployment, first_runs: object) -> None:
    d, name = deployment, deployment.artefact.name
    current = d.path("/opt/asterisk/current")
    assert current.is_symlink() and os.readlink(current) == f"releases/{name}"
    release = d.path(f"/opt/asterisk/releases/{name}")
    manifest = json.loads((release / "manifest.json").read_text())
    assert manifest["key"] in name
    for module in manifest["modules"]["installed"]:
        assert (release / "prefix/lib/asterisk/modules" / f"{module}.so").is_file(), module
    copy = d.path(f"/opt/asterisk/artifacts/{name}.tar.gz")
    assert artifact.sha256_file(copy) == d.artefact.sha256
    assert not list(d.path("/opt/asterisk/releases").glob(".*partial"))
    venv = d.path("/opt/callctl/current")
    assert venv.is_symlink() and (venv / ".callctl-complete").is_file()


def test_deployed_asterisk_runs_inside_the_root(deployment: Deployment, first_runs: object) -> None:
    d = deployment
    version = json.loads(d.path("/opt/asterisk/current/manifest.json").read_text())
    proc = d.chroot("/usr/local/sbin/asterisk", "-V")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"Asterisk {version['versions']['asterisk']}"
    # Every module's libraries resolve in the root, with the unit's LD_LIBRARY_PATH.
    prefix = "/opt/asterisk/current/prefix"
    proc = d.chroot(
        "sh",
        "-c",
        f"LD_LIBRARY_PATH={prefix}/lib ldd {prefix}/sbin/asterisk "
        f"{prefix}/lib/asterisk/modules/*.so",
    )
    assert proc.returncode == 0, proc.stderr
    assert "not found" not in proc.stdout, [
        ln for ln in proc.stdout.splitlines() if "not found" in ln or ln.endswith(":")
    ][:20]
    # The callctl that was installed answers, and accepted the routing config it checked.
    proc = d.chroot(
        "/opt/callctl/current/bin/callctl", "config", "check", "/etc/callctl/routing.yaml"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_files_and_permissions(deployment: Deployment, first_runs: object) -> None:
    d = deployment
    etc = d.path("/etc/asterisk")
    assert _owner(d, etc) == ("root", "asterisk", 0o750)
    confs = sorted(etc.glob("*.conf"))
    assert {p.name for p in confs} >= {"asterisk.conf", "ari.conf", "manager.conf", "pjsip.conf"}
    defaults = yaml.safe_load((ANSIBLE / "roles/asterisk/defaults/main.yml").read_text())
    secret = set(defaults["asterisk_secret_configs"])  # ari, manager, xmpp, motif
    for p in confs:
        expected = (
            ("asterisk", "asterisk", 0o600) if p.name in secret else ("root", "asterisk", 0o640)
        )
        assert _owner(d, p) == expected, p.name
    for p in (REPO / "dialplan").glob("*.conf"):
        assert (etc / "dialplan" / p.name).read_bytes() == p.read_bytes()
    for folder in ("/var/lib/asterisk", "/var/spool/asterisk", "/var/log/asterisk"):
        assert _owner(d, d.path(folder)) == ("asterisk", "asterisk", 0o750)
    assert _owner(d, d.path("/etc/callctl/callctl.env")) == ("root", "root", 0o600)
    assert _owner(d, d.path("/etc/callctl/routing.yaml")) == ("root", "callctl", 0o640)
    env = d.path("/etc/callctl/callctl.env").read_text()
    assert "CALLCTL_ARI_URL=http://127.0.0.1:8188/ari\n" in env
    assert f"CALLCTL_AMI_SECRET={SECRETS['asterisk_ami_secret']}\n" in env
    # The component's secret: in the 0600 env file only (not the unit, not the routing config).
    assert f"CALLCTL_XMPP_SECRET={GATEWAY_VARS['callctl_xmpp_secret']}\n" in env
    routing = yaml.safe_load(d.path("/etc/callctl/routing.yaml").read_text())
    assert routing["gateway"] == {
        "domain": "gw.example.org",
        "asterisk_jid": "asterisk@example.org/asterisk",
        "dtls": False,
    }
    for p in ("/etc/callctl/routing.yaml", "/etc/systemd/system/callctl.service"):
        assert GATEWAY_VARS["callctl_xmpp_secret"] not in d.path(p).read_text(), p
    members = next(
        line
        for line in d.path("/etc/group").read_text().splitlines()
        if line.startswith("asterisk:")
    )
    assert "callctl" in members.split(":")[3].split(",")


def test_configs_are_the_sandbox_templates_rendered(
    deployment: Deployment, first_runs: object
) -> None:
    """One source for both: the sandbox's renderer, given the same values, writes what the
    play wrote. Byte for byte but for blank lines at the very end: ansible's templar strips
    Jinja2's final newline and pads back only to the template's own count of trailing
    newlines (ansible/template/__init__.py, do_template)."""
    a = ASTERISK_VARS
    variables = {
        "prefix": "/opt/asterisk/current/prefix",
        "etc_dir": "/etc/asterisk",
        "lib_dir": "/var/lib/asterisk",
        "data_dir": "/opt/asterisk/current/prefix/var/lib/asterisk",
        "spool_dir": "/var/spool/asterisk",
        "run_dir": "/run/asterisk",
        "log_dir": "/var/log/asterisk",
        "cache_dir": "/var/cache/asterisk",
        "bind_address": a["asterisk_bind_address"],
        "sip_bind_address": a["asterisk_sip_bind_address"],
        "http_port": a["asterisk_http_port"],
        "ami_port": a["asterisk_ami_port"],
        "sip_port": a["asterisk_sip_port"],
        "rtp_start": a["asterisk_rtp_start"],
        "rtp_end": a["asterisk_rtp_end"],
        "ari_user": "callctl",
        "ari_password": SECRETS["asterisk_ari_password"],
        "ami_user": "callctl",
        "ami_secret": SECRETS["asterisk_ami_secret"],
        "trunks": a["asterisk_trunks"],
        "stasis_app": "callctl",
        "jingle": False,
    }
    expected = render.render_all(variables)
    deployed = {p.name: p.read_text() for p in deployment.path("/etc/asterisk").glob("*.conf")}
    assert sorted(deployed) == sorted(expected)
    for name, text in expected.items():
        assert deployed[name].rstrip("\n") == text.rstrip("\n"), name
        assert deployed[name].endswith("\n"), name
    assert "bind = 0.0.0.0:5160\n" in deployed["pjsip.conf"]


def test_units_verify_in_the_root(deployment: Deployment, first_runs: object) -> None:
    d = deployment
    units = ["/etc/systemd/system/asterisk.service", "/etc/systemd/system/callctl.service"]
    proc = d.chroot("systemd-analyze", "verify", *units)
    # verify only warns (rc 0) on unknown keys: any output about our units is a failure.
    assert proc.returncode == 0 and not proc.stdout.strip() and not proc.stderr.strip(), (
        proc.stdout + proc.stderr
    )
    for unit in ("asterisk.service", "callctl.service"):
        wants = d.path(f"/etc/systemd/system/multi-user.target.wants/{unit}")
        assert os.readlink(wants) == f"/etc/systemd/system/{unit}"
    asterisk = d.path(units[0]).read_text()
    assert "User=asterisk\n" in asterisk and "Restart=on-failure\n" in asterisk
    assert "Environment=LD_LIBRARY_PATH=/opt/asterisk/current/prefix/lib\n" in asterisk
    callctl = d.path(units[1]).read_text()
    run = "ExecStart=/opt/callctl/current/bin/callctl run --xmpp-component 127.0.0.1:5347\n"
    assert run in callctl
    # The command the unit starts exists in the deployed callctl, with that option.
    proc = d.chroot("/opt/callctl/current/bin/callctl", "run", "--help")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "--xmpp-component" in proc.stdout
    assert "Restart=always\n" in callctl and "EnvironmentFile=/etc/callctl/callctl.env\n" in callctl
    assert "LimitNOFILE=8192\n" in callctl
    # Debug expiry does not depend on the daemon: a timer runs `callctl debug expire` as the
    # daemon's user, with its environment and state folder (issue 16 item 3).
    expire = ["/etc/systemd/system/callctl-debug-expire." + k for k in ("service", "timer")]
    proc = d.chroot("systemd-analyze", "verify", *expire)
    assert proc.returncode == 0 and not proc.stdout.strip() and not proc.stderr.strip(), (
        proc.stdout + proc.stderr
    )
    wants = d.path("/etc/systemd/system/timers.target.wants/callctl-debug-expire.timer")
    assert os.readlink(wants) == "/etc/systemd/system/callctl-debug-expire.timer"
    service = d.path(expire[0]).read_text()
    assert "ExecStart=/opt/callctl/current/bin/callctl debug expire\n" in service
    assert "User=callctl\n" in service and "EnvironmentFile=/etc/callctl/callctl.env\n" in service
    assert "StateDirectory=callctl\n" in service and "StateDirectory=callctl\n" in callctl
    proc = d.chroot("/opt/callctl/current/bin/callctl", "debug", "expire", "--help")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_corrupt_artefact_fails_before_anything_changes(
    deployment: Deployment, first_runs: object
) -> None:
    d = deployment
    bad_dir = d.work / "bad"
    bad_dir.mkdir(exist_ok=True)
    bad = bad_dir / "asterisk-22.10.1-0000000000badbadbad0.tar.gz"
    data = bytearray(d.artefact.path.read_bytes())
    data[len(data) // 2] ^= 0x01
    bad.write_bytes(bytes(data))
    shutil.copy2(d.artefact.sha256_path, bad.with_name(bad.name + ".sha256"))

    def snapshot() -> list[tuple[str, str]]:
        out = []
        for p in sorted(d.path("/opt").rglob("*")):
            if "venvs" in p.parts:
                continue
            out.append((str(p), os.readlink(p) if p.is_symlink() else str(p.stat().st_mtime)))
        return out

    before = snapshot()
    result = d.play(asterisk_artifact=str(bad))
    assert result.returncode != 0
    assert result.failed_task() == "asterisk : Refuse an artefact that does not match its .sha256"
    assert result.changed() == []
    assert snapshot() == before
    assert os.readlink(d.path("/opt/asterisk/current")) == f"releases/{d.artefact.name}"


def test_release_that_does_not_run_is_never_switched_to(
    deployment: Deployment, first_runs: object
) -> None:
    """A well-formed artefact (good sha256) whose asterisk cannot start, as when a library is
    missing on the host: unpacked, refused by the asterisk -V check, `current` untouched."""
    d = deployment
    manifest = {
        **json.loads((d.root / "opt/asterisk/current/manifest.json").read_text()),
        "key": "0000000000deadbeef00",
    }
    build = d.work / "broken-build"
    (build / "prefix" / "sbin").mkdir(parents=True, exist_ok=True)
    (build / "manifest.json").write_text(json.dumps(manifest))
    binary = build / "prefix" / "sbin" / "asterisk"
    binary.write_text(
        "#!/bin/sh\necho 'asterisk: error while loading shared libraries: "
        "libasteriskpj.so.2' >&2\nexit 127\n"
    )
    binary.chmod(0o755)
    broken = artifact.pack(build, d.work / "broken")

    result = d.play(asterisk_artifact=str(broken.path))
    assert result.returncode != 0
    assert result.failed_task() == "asterisk : Run the release's asterisk -V"
    assert result.ran("asterisk : Unpack the artefact")
    assert os.readlink(d.path("/opt/asterisk/current")) == f"releases/{d.artefact.name}"
    assert "asterisk : Switch current to the release" not in [n for n, _ in result.tasks()]
    assert result.handlers() == set()


def test_rollback_is_one_variable_and_handlers_follow_changes(
    deployment: Deployment, first_runs: object, asterisk_build_stock: BuildResult
) -> None:
    d = deployment
    other = artifact.pack(asterisk_build_stock.path, d.work / "artefacts")
    assert other.name != d.artefact.name

    forward = d.play(asterisk_artifact=str(other.path))
    assert forward.returncode == 0, forward.failed_task()
    assert os.readlink(d.path("/opt/asterisk/current")) == f"releases/{other.name}"
    assert forward.handlers() == {"asterisk : Restart asterisk"}
    assert d.chroot("/usr/local/sbin/asterisk", "-V").returncode == 0

    back = d.play()  # the inventory's artefact again: the rollback
    assert back.returncode == 0, back.failed_task()
    assert os.readlink(d.path("/opt/asterisk/current")) == f"releases/{d.artefact.name}"
    assert back.changed() == ["asterisk : Switch current to the release"]
    assert not back.ran("asterisk : Unpack the artefact")
    assert back.handlers() == {"asterisk : Restart asterisk"}

    # A config change reloads Asterisk (rtp.conf) and restarts only callctl (its env file).
    tweak = d.play(asterisk_rtp_end=12600, callctl_environment={"CALLCTL_LOG_LEVEL": "debug"})
    assert tweak.returncode == 0, tweak.failed_task()
    assert sorted(tweak.changed()) == [
        "asterisk : Render the configs that core reload applies",
        "callctl : Write the daemon's environment (ARI and AMI credentials)",
    ]
    assert tweak.handlers() == {"asterisk : Reload asterisk", "callctl : Restart callctl"}
    assert "rtpend = 12600" in d.path("/etc/asterisk/rtp.conf").read_text()


def test_gateway_variables_are_checked_and_the_gateway_can_be_turned_off(
    deployment: Deployment, first_runs: object
) -> None:
    """Bad gateway variables stop the play before callctl's files change; without
    callctl_xmpp_component the unit, the env file and the routing config have no gateway;
    setting it again brings back exactly those three files. Runs last: it restores the
    inventory's state."""
    d = deployment
    for bad in (
        {"callctl_xmpp_secret": "two words"},  # would end at the space in callctl.env
        {
            "callctl_routing": {
                **d.inventory["callctl_gateways"]["vars"]["callctl_routing"],
                "gateway": {"domain": "gw.example.org"},
            }
        },
    ):
        result = d.play(**bad)
        assert result.returncode != 0, bad
        assert result.failed_task() == "callctl : Check the gateway variables", bad
        # (the asterisk roles run first; the rtp.conf tweak of the test before is undone)
        assert [n for n in result.changed() if n.startswith("callctl : ")] == [], bad

    off = d.play(callctl_xmpp_component="")
    assert off.returncode == 0, off.failed_task()
    assert sorted(off.changed()) == GATEWAY_FILES
    assert off.handlers() == {"callctl : Restart callctl"}
    unit = d.path("/etc/systemd/system/callctl.service").read_text()
    assert "ExecStart=/opt/callctl/current/bin/callctl run\n" in unit
    assert "CALLCTL_XMPP_SECRET" not in d.path("/etc/callctl/callctl.env").read_text()
    assert "gateway" not in yaml.safe_load(d.path("/etc/callctl/routing.yaml").read_text())

    on = d.play()
    assert on.returncode == 0, on.failed_task()
    assert sorted(on.changed()) == GATEWAY_FILES
    assert (
        "--xmpp-component 127.0.0.1:5347"
        in d.path("/etc/systemd/system/callctl.service").read_text()
    )
