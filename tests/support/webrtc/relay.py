"""A TCP relay from the rig's veth to prosody's WebSocket port on loopback.

The browsers run in the rig's namespace, which reaches nothing but the root end of its veth
(`RigNet.host_addr`); the rig's prosody listens on 127.0.0.1 only (the sandbox's prosody
listens on the veth too, so the probe needs no relay). The relay listens on `host_addr` (a
port the kernel picks) and copies bytes both ways, one upstream connection per client.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

_CHUNK = 65536


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()


@asynccontextmanager
async def tcp_relay(listen_host: str, target: tuple[str, int]) -> AsyncIterator[int]:
    """Relay `listen_host:<port>` to `target` while the block runs; yields the port."""
    tasks: set[asyncio.Future[tuple[None, None]]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        with contextlib.suppress(OSError):
            upstream = await asyncio.open_connection(*target)
        if upstream is None:  # the target is down: the client sees its connection close
            writer.close()
            return
        both = asyncio.gather(_pipe(reader, upstream[1]), _pipe(upstream[0], writer))
        task = asyncio.ensure_future(both)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(handle, listen_host, 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()
