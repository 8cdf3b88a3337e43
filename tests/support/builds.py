"""The Asterisk build a test's `flavour` parameter names.

A test that runs once per build parametrizes `flavour` ("stock", or a patched variant such as
"patched" or "patched-srtp") and takes the `flavour_build` fixture (a module binds it by
name: `flavour_build = builds.flavour_build`). Only the build a selected case needs is
fetched (tests/conftest.py's `asterisk_build` / `asterisk_build_stock`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest


@dataclass(frozen=True)
class FlavourBuild:
    flavour: str
    build: Any  # callctl's BuildResult

    @property
    def stock(self) -> bool:
        """Stock builds log FRACK lines the sandbox must not fail on (`expect_frack`)."""
        return self.flavour == "stock"


@pytest.fixture
def flavour_build(request: pytest.FixtureRequest, flavour: str) -> FlavourBuild:
    name = "asterisk_build_stock" if flavour == "stock" else "asterisk_build"
    return FlavourBuild(flavour, request.getfixturevalue(name))
