"""Applying a patch series exactly (no fuzz, no offset) with GNU patch."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from callctl.build.buildenv import step_environment
from callctl.build.patchout import (
    HunkProblem,
    PatchResult,
    attach_hunk_text,
    parse_patch_output,
)
from callctl.build.series import Patch

_BASE = ["patch", "-p1", "--forward", "--batch", "--fuzz=0", "--no-backup-if-mismatch"]


def _env() -> dict[str, str]:
    # C locale: the output is parsed; no POSIXLY_CORRECT/VERSION_CONTROL from the caller.
    return step_environment(os.environ, {"LC_ALL": "C"})


def try_patch(tree: Path, patch: Patch) -> PatchResult:
    """Dry-run one patch; if it applies exactly, apply it for real so the next one sees it."""
    dry = subprocess.run(
        [*_BASE, "--dry-run", "-d", str(tree)],
        input=patch.content,
        capture_output=True,
        env=_env(),
    )
    output = (dry.stdout + dry.stderr).decode(errors="replace")
    problems = parse_patch_output(output)
    if dry.returncode != 0 and not problems:
        problems = [HunkProblem("?", 0, "other", output.strip()[-300:] or "patch failed")]
    if problems:
        attach_hunk_text(problems, patch.text)
        return PatchResult(patch.name, False, problems, output)
    real = subprocess.run(
        [*_BASE, "-d", str(tree)], input=patch.content, capture_output=True, env=_env()
    )
    if real.returncode != 0:  # cannot happen after a clean dry run, but never hide it
        out = (real.stdout + real.stderr).decode(errors="replace")
        return PatchResult(patch.name, False, [HunkProblem("?", 0, "other", out[-300:])], out)
    return PatchResult(patch.name, True, [], output)


def apply_series(tree: Path, patches: tuple[Patch, ...] | list[Patch]) -> list[PatchResult]:
    """Apply each patch in order; a failing one is reported and skipped, the rest still run."""
    return [try_patch(tree, p) for p in patches]


def apply_loose(tree: Path, patch_files: list[Path]) -> None:
    """Apply patches the way Asterisk's own apply_patches does (plain patch -p1, fuzz allowed)."""
    for p in patch_files:
        subprocess.run(
            ["patch", "-p1", "--batch", "--no-backup-if-mismatch", "-d", str(tree), "-i", str(p)],
            check=True,
            capture_output=True,
            env=_env(),
        )
