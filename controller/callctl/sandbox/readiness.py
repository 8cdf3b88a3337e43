"""Is an Asterisk ready? ARI answers `GET /asterisk/info` and AMI accepts a login + Command.

These are deliberately small one-shot probes (no reconnects): a sandbox is ready only when a
real client could use both interfaces right now.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from typing import Any

import aiohttp


def basic_auth_header(user: str, password: str) -> dict[str, str]:
    # aiohttp 3.14 deprecates BasicAuth; the header is simple enough to build.
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


async def ari_info(url: str, user: str, password: str, timeout: float = 3.0) -> dict[str, Any]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
        session.get(f"{url}/asterisk/info", headers=basic_auth_header(user, password)) as resp,
    ):
        resp.raise_for_status()
        data: dict[str, Any] = await resp.json()
        return data


async def _read_message(reader: asyncio.StreamReader) -> dict[str, str]:
    """One AMI message: `Key: value` lines up to a blank line."""
    msg: dict[str, str] = {}
    while True:
        line = (await reader.readline()).decode(errors="replace")
        if not line:
            raise ConnectionError("AMI closed the connection")
        line = line.rstrip("\r\n")
        if not line:
            if msg:
                return msg
            continue
        key, _, value = line.partition(":")
        msg.setdefault(key.strip(), value.strip())


async def ami_probe(host: str, port: int, user: str, secret: str, timeout: float = 3.0) -> str:
    """Log in and run `core show version`; returns its output. Raises on any failure."""

    async def probe() -> str:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            banner = (await reader.readline()).decode(errors="replace")
            if "Asterisk Call Manager" not in banner:
                raise ConnectionError(f"not an AMI banner: {banner.strip()!r}")
            writer.write(
                f"Action: Login\r\nActionID: r1\r\nUsername: {user}\r\n"
                f"Secret: {secret}\r\nEvents: off\r\n\r\n".encode()
            )
            while True:
                msg = await _read_message(reader)
                if msg.get("ActionID") == "r1":
                    break
            if msg.get("Response") != "Success":
                raise PermissionError(f"AMI login refused: {msg.get('Message', '')}")
            writer.write(b"Action: Command\r\nActionID: r2\r\nCommand: core show version\r\n\r\n")
            output: list[str] = []
            while True:
                line = (await reader.readline()).decode(errors="replace")
                if not line:
                    raise ConnectionError("AMI closed the connection")
                line = line.rstrip("\r\n")
                if line.startswith("Output:"):
                    output.append(line[len("Output:") :].strip())
                elif line.startswith("Response: Error"):
                    raise ConnectionError("AMI refused the Command action")
                elif not line and output:
                    return "\n".join(output)
            writer.write(b"Action: Logoff\r\n\r\n")
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()

    return await asyncio.wait_for(probe(), timeout)
