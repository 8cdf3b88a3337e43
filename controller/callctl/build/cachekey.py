"""The build cache key (pure): a hash of every input that can change what is built."""

from __future__ import annotations

import hashlib
import json
from typing import Any

# Bump when the build recipe itself changes (steps, fix-ups, flags) so old builds are not reused.
RECIPE_VERSION = 1


def key_inputs(
    *,
    spec: dict[str, Any],
    asterisk_sha256: str,
    pjproject_sha256: str,
    asterisk_patches: list[tuple[str, str]],
    pjproject_patches: list[tuple[str, str]],
    compiler: str,
    environment: dict[str, str] | None = None,
) -> dict[str, Any]:
    inputs: dict[str, Any] = {
        "recipe": RECIPE_VERSION,
        "spec": spec,
        "asterisk_sha256": asterisk_sha256,
        "pjproject_sha256": pjproject_sha256,
        "asterisk_patches": [list(p) for p in asterisk_patches],
        "pjproject_patches": [list(p) for p in pjproject_patches],
        "compiler": compiler,
    }
    if environment:
        # Only when set: the usual empty environment keeps the keys builds already have.
        inputs["environment"] = dict(sorted(environment.items()))
    return inputs


def cache_key(inputs: dict[str, Any]) -> str:
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]
