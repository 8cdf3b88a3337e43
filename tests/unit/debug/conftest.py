"""The simulated Asterisk behind a real AMI socket that the debug service's tests talk to:
`server` on the test's event loop, `ami` on a loop of its own (for the synchronous CLI)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

import pytest
from support.fake_ami import FakeAmiServer, FakeAsterisk


@pytest.fixture
async def server() -> AsyncIterator[FakeAmiServer]:
    srv = await FakeAmiServer(FakeAsterisk()).start()
    yield srv
    await srv.stop()


@pytest.fixture
def ami() -> Iterator[FakeAmiServer]:
    loop = asyncio.new_event_loop()
    srv = FakeAmiServer(FakeAsterisk())
    loop.run_until_complete(srv.start())
    t = threading.Thread(target=loop.run_forever, daemon=True)
    t.start()
    try:
        yield srv
    finally:
        asyncio.run_coroutine_threadsafe(srv.stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        t.join(5)
        loop.close()
