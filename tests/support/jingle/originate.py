"""Make Asterisk call a rig client: one AMI Originate over a raw socket.

The CLI's `channel originate` lives in res_clioriginate, which callctl builds leave out, and
the AMI action is all the rig needs, so this speaks the line protocol directly (no reconnects,
nothing re-sent).
"""

from __future__ import annotations

import asyncio
import secrets

from callctl.sandbox.manager import Sandbox


class OriginateError(RuntimeError):
    """AMI refused the login or the Originate."""


async def _read_message(reader: asyncio.StreamReader) -> dict[str, str]:
    fields: dict[str, str] = {}
    while True:
        line = (await reader.readline()).decode(errors="replace").rstrip("\r\n")
        if not line:
            if fields:
                return fields
            if reader.at_eof():
                raise OriginateError("AMI closed the connection")
            continue
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()


async def _action(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, fields: dict[str, str]
) -> dict[str, str]:
    action_id = secrets.token_hex(6)
    lines = [f"{k}: {v}" for k, v in {**fields, "ActionID": action_id}.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    while True:  # events may come first; the reply carries our ActionID
        message = await _read_message(reader)
        if message.get("ActionID") == action_id and "Response" in message:
            return message


async def originate(
    host: str,
    port: int,
    user: str,
    secret: str,
    channel: str,
    application: str,
    data: str = "",
    timeout: float = 10.0,
) -> None:
    """Originate `channel` (async) into `application(data)`; raise unless AMI accepted it."""

    async def run() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            await reader.readline()  # "Asterisk Call Manager/x.y"
            login = await _action(
                reader,
                writer,
                {"Action": "Login", "Username": user, "Secret": secret, "Events": "off"},
            )
            if login.get("Response") != "Success":
                raise OriginateError(f"AMI login refused: {login.get('Message', '')}")
            reply = await _action(
                reader,
                writer,
                {
                    "Action": "Originate",
                    "Channel": channel,
                    "Application": application,
                    "Data": data,
                    "Async": "true",
                },
            )
            if reply.get("Response") != "Success":
                raise OriginateError(f"Originate {channel} refused: {reply.get('Message', '')}")
            await _action(reader, writer, {"Action": "Logoff"})
        finally:
            writer.close()
            await writer.wait_closed()

    await asyncio.wait_for(run(), timeout)


async def call_from_asterisk(sandbox: Sandbox, dial: str, application: str = "Echo") -> None:
    """Originate `dial` (e.g. `AsteriskJingle.dial(client.full_jid)`) on a controller Sandbox."""
    await originate(
        sandbox.ami_host, sandbox.ami_port, sandbox.ami_user, sandbox.ami_secret, dial, application
    )
