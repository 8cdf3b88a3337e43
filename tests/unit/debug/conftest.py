"""The simulated Asterisk behind a real AMI socket that the debug service's tests talk to."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from support.fake_ami import FakeAmiServer, FakeAsterisk


@pytest.fixture
async def server() -> AsyncIterator[FakeAmiServer]:
    srv = await FakeAmiServer(FakeAsterisk()).start()
    yield srv
    await srv.stop()
