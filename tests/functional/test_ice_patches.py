"""pjnath patches of the series, proven by the two-agent harness in tests/ice/.

The harness is built twice from the same pjproject tree (the `pjproject_source` fixture:
Asterisk's own patches applied): once stock, once with patches/pjproject/series on top.
Every scenario asserts both columns: the stock column proves that the scenario reproduces
the bug, the patched column that the series fixes it. Builds are cached under
`<callctl cache>/ice-harness/`, keyed by the sha256 of the tree, the series and the harness
sources, so a second run only re-runs the scenarios (virtual clock: milliseconds each).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from callctl import paths

pytestmark = pytest.mark.slow

REPO = paths.REPO_ROOT
ICE_DIR = REPO / "tests" / "support" / "ice"
SERIES_DIR = REPO / "patches" / "pjproject"
SAMPLES = REPO / "tests" / "data" / "pjnath"

# Addresses the harness gives its agents. "pair" names the controlled agent's side first.
PAIR_A = "127.0.0.1:4000/127.0.0.2:5000"  # controlling candidate A: the higher priority pair
PAIR_B = "127.0.0.1:4000/127.0.0.3:5002"  # controlling candidate B: lower priority
TO_A, TO_B = "127.0.0.2:5000", "127.0.0.3:5002"
WAIT_PEER_MS = 120000  # PJ_ICE_CONTROLLED_AGENT_WAIT_PEER_TIMEOUT, patch 0100


def series_patches() -> list[Path]:
    names = [
        line.split("#")[0].strip() for line in (SERIES_DIR / "series").read_text().splitlines()
    ]
    return [SERIES_DIR / n for n in names if n]


def tree_digest(tree: Path) -> str:
    """sha256 over every file's relative path and bytes, in sorted order."""
    h = hashlib.sha256()
    for root, dirs, files in os.walk(tree):
        dirs.sort()
        for name in sorted(files):
            p = Path(root, name)
            rel = p.relative_to(tree).as_posix()
            h.update(rel.encode() + b"\0")
            if p.is_symlink():
                h.update(b"L" + os.readlink(p).encode())
            else:
                h.update(p.read_bytes())
            h.update(b"\0")
    return h.hexdigest()


def build_harness(tree: Path, patches: list[Path], variant: str, tree_key: str) -> Path:
    h = hashlib.sha256(tree_key.encode())
    for f in [ICE_DIR / "harness.c", ICE_DIR / "build.sh", ICE_DIR / "Makefile", *patches]:
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    out = paths.cache_dir() / "ice-harness" / f"{variant}-{h.hexdigest()[:20]}"
    exe = out / "harness"
    if exe.is_file():
        return exe
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    proc = subprocess.run(
        ["sh", str(ICE_DIR / "build.sh"), str(tree), str(tmp), *map(str, patches)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0:
        pytest.fail(f"building the {variant} harness failed:\n{proc.stdout}\n{proc.stderr}")
    shutil.rmtree(tmp / "src")  # 60 MB of sources; the harness is static
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return exe


@pytest.fixture(scope="module")
def harnesses(pjproject_source: Path) -> dict[str, Path]:
    key = tree_digest(pjproject_source)
    return {
        "stock": build_harness(pjproject_source, [], "stock", key),
        "patched": build_harness(pjproject_source, series_patches(), "patched", key),
    }


@dataclass(frozen=True)
class Side:
    status: str
    error: str
    t_ms: int
    pair: str
    media_to: str


RESULT = re.compile(
    r"^RESULT scenario=(\S+) side=(\S+) status=(\S+) error=(\S+) "
    r"t_ms=(\d+) pair=(\S+) media_to=(\S+)$"
)


def run(exe: Path, scenario: str, *args: str) -> dict[str, Side]:
    proc = subprocess.run([str(exe), scenario, *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    sides = {}
    for line in proc.stdout.splitlines():
        m = RESULT.match(line)
        assert m, f"unexpected harness output: {line!r}"
        assert m.group(1) == scenario
        sides[m.group(2)] = Side(m.group(3), m.group(4), int(m.group(5)), m.group(6), m.group(7))
    return sides


def ok(side: Side, pair: str = PAIR_A) -> bool:
    return side.status == "success" and side.pair == pair


def both_agree(r: dict[str, Side], pair: str = PAIR_A) -> None:
    """Both agents complete on the same pair and send media to each other on it."""
    assert ok(r["controlled"], pair), r["controlled"]
    assert ok(r["controlling"], pair), r["controlling"]
    assert r["controlled"].media_to == pair.split("/")[1]
    assert r["controlling"].media_to == pair.split("/")[0]


def failed_before_peer(side: Side, peer_start_ms: int) -> None:
    """Stock pjnath: the controlled agent gives up when its own checks time out (7.9 s),
    before the peer has even started."""
    assert side.status == "failed" and side.error == "EICEFAILED", side
    assert side.t_ms < peer_start_ms and side.t_ms < 9000, side


# ---- (d) regressions: normal negotiation, both nomination styles --------------------------


@pytest.mark.parametrize("build", ["stock", "patched"])
@pytest.mark.parametrize("scenario", ["aggressive", "regular"])
def test_normal_negotiation_completes(harnesses, build, scenario):
    r = run(harnesses[build], scenario)
    both_agree(r)
    assert r["controlled"].t_ms < 100


# ---- (a) the controlling peer starts late (the phone rings) -------------------------------


@pytest.mark.parametrize(
    ("scenario", "late_ms"), [("late9", 9000), ("late60", 60000), ("late60-regular", 60000)]
)
def test_late_peer_stock_fails(harnesses, scenario, late_ms):
    r = run(harnesses["stock"], scenario)
    failed_before_peer(r["controlled"], late_ms)
    # ...while the controlling side believes it succeeded: one-sided ICE, as in the field.
    assert ok(r["controlling"])


@pytest.mark.parametrize(
    ("scenario", "late_ms"), [("late9", 9000), ("late60", 60000), ("late60-regular", 60000)]
)
def test_late_peer_patched_completes_on_both_sides(harnesses, scenario, late_ms):
    r = run(harnesses["patched"], scenario)
    both_agree(r)
    assert late_ms <= r["controlled"].t_ms < late_ms + 1000


def test_late_peer_two_components(harnesses):
    """RTP and RTCP, as chan_motif sets up: both components complete once patched."""
    failed_before_peer(run(harnesses["stock"], "late60-2comp")["controlled"], 60000)
    rtcp_a = "127.0.0.1:4001/127.0.0.2:5001"
    r = run(harnesses["patched"], "late60-2comp")
    for side in ("controlled", "controlling"):
        assert r[side].status == "success", r[side]
        assert r[side].pair == f"{PAIR_A},{rtcp_a}", r[side]


def test_retrying_failed_pairs_alone_is_not_enough(harnesses):
    """Patched build with the controlled agent's wait set to 0: Failed->Waiting only."""
    for build in ("stock", "patched"):
        failed_before_peer(run(harnesses[build], "late9-nowait")["controlled"], 9000)


@pytest.mark.parametrize(("build", "fails_at"), [("stock", None), ("patched", WAIT_PEER_MS)])
def test_giving_up_is_bounded(harnesses, build, fails_at):
    """The peer never starts: the patched agent still fails, at the configured wait."""
    side = run(harnesses[build], "giveup")["controlled"]
    if fails_at is None:
        failed_before_peer(side, 9000)
    else:
        assert (side.status, side.error, side.t_ms) == ("failed", "EICEFAILED", fails_at)


@pytest.mark.parametrize("build", ["stock", "patched"])
def test_peer_later_than_the_wait_still_fails(harnesses, build):
    """The peer starts at 130 s, after the patched agent's 120 s wait: both builds fail."""
    r = run(harnesses[build], "late130")
    if build == "stock":
        failed_before_peer(r["controlled"], 130000)
    else:
        side = r["controlled"]
        assert (side.status, side.error, side.t_ms) == ("failed", "EICEFAILED", WAIT_PEER_MS)
    assert ok(r["controlling"])


# ---- (b) NOMINATION (0xC001) instead of USE-CANDIDATE -------------------------------------


# Each NOMINATION test runs with the attribute as 0xC001 (patch 0110) and as 0x0030 (section
# (e), patch 0120): the same behaviour is expected of both types.
NOMINATION_TYPES = pytest.mark.parametrize("suffix", ["", "-0030"], ids=["0xC001", "0x0030"])


@NOMINATION_TYPES
def test_nomination_only_stock_never_completes(harnesses, suffix):
    """0x0030 is TURN's ICMP type to stock pjnath: decoded, then never looked at."""
    r = run(harnesses["stock"], "nomination" + suffix)
    assert (r["controlled"].status, r["controlled"].error) == ("failed", "EICENOMTIMEOUT")
    assert ok(r["controlling"])


@NOMINATION_TYPES
def test_nomination_only_patched_completes(harnesses, suffix):
    both_agree(run(harnesses["patched"], "nomination" + suffix))


def test_late_peer_with_nomination_only_needs_both_patches(harnesses):
    """Conversations calling a phone: late start and NOMINATION instead of USE-CANDIDATE."""
    failed_before_peer(run(harnesses["stock"], "late60-nomination")["controlled"], 60000)
    both_agree(run(harnesses["patched"], "late60-nomination"))


# ---- (c) renomination: the largest NOMINATION value wins ----------------------------------


@NOMINATION_TYPES
def test_renomination_stock_never_completes(harnesses, suffix):
    r = run(harnesses["stock"], "renomination" + suffix)["controlled"]
    assert (r.status, r.error) == ("failed", "EICENOMTIMEOUT")


@NOMINATION_TYPES
def test_renomination_patched_follows_the_larger_value(harnesses, suffix):
    """NOMINATION 1 on A, 5 on the lower-priority B, then a stale 3 on A: B stays selected,
    and pj_ice_sess_send_data() (what Asterisk sends RTP with) goes to B. The controlling
    agent is pjnath and did not itself renominate (the harness injected those requests), so
    only the controlled side is asserted."""
    r = run(harnesses["patched"], "renomination" + suffix)["controlled"]
    assert ok(r, PAIR_B) and r.media_to == TO_B, r


@pytest.mark.parametrize(
    ("build", "pair", "to"), [("stock", PAIR_A, TO_A), ("patched", PAIR_B, TO_B)]
)
def test_any_nomination_beats_use_candidate(harnesses, build, pair, to):
    r = run(harnesses[build], "renom-over-uc")["controlled"]
    assert ok(r, pair) and r.media_to == to, r


def test_renomination_to_a_pair_never_validated_is_ignored(harnesses):
    """Known limit of 0110: after completion pjnath runs no new checks, so a NOMINATION for
    a pair the controlled agent never validated itself (here B, cancelled when the
    aggressive USE-CANDIDATE on A completed ICE) is logged and ignored (RFC 8445 7.3.1.5
    nominates valid pairs only)."""
    for build in ("stock", "patched"):
        r = run(harnesses[build], "renom-unchecked")["controlled"]
        assert ok(r, PAIR_A) and r.media_to == TO_A, r


# ---- (e) NOMINATION as 0x0030 (draft-thatcher-tsvwg-renomination), patch 0120 -----------


# NOMINATION and renomination with 0x0030 alone: the NOMINATION_TYPES cases of (b) and (c).


@pytest.mark.parametrize("scenario", ["renom-both-0030", "renom-both-c001"])
@pytest.mark.parametrize(
    ("build", "pair", "to"), [("stock", PAIR_A, TO_A), ("patched", PAIR_B, TO_B)]
)
def test_both_types_the_larger_value_counts(harnesses, scenario, build, pair, to):
    """B comes with 2 and 5 (one per type, both orders), then A with 4 and 4: B keeps the
    selection only if each request counts its larger value (reading one type alone, or the
    smaller, would move to A in one of the two scenarios)."""
    r = run(harnesses[build], scenario)["controlled"]
    assert ok(r, pair) and r.media_to == to, r


# ---- the series itself and the sample logs ------------------------------------------------

COVERED = {
    "aggressive",
    "regular",
    "late9",
    "late60",
    "late60-regular",
    "late60-2comp",
    "late9-nowait",
    "giveup",
    "late130",
    "nomination",
    "late60-nomination",
    "renomination",
    "renom-over-uc",
    "renom-unchecked",
    "nomination-0030",
    "renomination-0030",
    "renom-both-0030",
    "renom-both-c001",
}


def test_every_harness_scenario_has_assertions(harnesses):
    for exe in harnesses.values():
        listed = subprocess.run(
            [str(exe), "--list"], capture_output=True, text=True, check=True
        ).stdout.split()
        assert set(listed) == COVERED


def test_series_applies_exactly(pjproject_source, tmp_path):
    """No fuzz, no offset: exactly what Asterisk's apply_patches will see."""
    tree = tmp_path / "pj"
    shutil.copytree(pjproject_source, tree, symlinks=True)
    patches = series_patches()
    assert [p.name for p in patches] == sorted(p.name for p in SERIES_DIR.glob("*.patch"))
    for p in patches:
        proc = subprocess.run(
            ["patch", "-p1", "--fuzz=0", "-i", str(p)], cwd=tree, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert not re.search(r"offset|fuzz|rej", proc.stdout, re.I), proc.stdout


POINTER = re.compile(r"0x[0-9a-f]{10,}")  # heap addresses; STUN IDs are seeded


@pytest.mark.parametrize(
    ("name", "build", "scenario"),
    [("success.log", "patched", "late9"), ("failed-late-peer.log", "stock", "late9")],
)
def test_sample_logs_are_what_the_harness_writes(harnesses, tmp_path, name, build, scenario):
    """tests/data/pjnath/*.log are real harness output; only object addresses vary."""
    out = tmp_path / name
    run(harnesses[build], scenario, "--log", str(out))
    expected = POINTER.sub("0xADDR", (SAMPLES / name).read_text())
    assert POINTER.sub("0xADDR", out.read_text()) == expected
