"""Keeping Asterisk's TURN credential valid: write the rtp.conf include, reload
res_rtp_asterisk over AMI, and do it again before the credential expires.

`module reload res_rtp_asterisk.so` re-reads rtp.conf (an include whose modification time
changed counts as a change) and new calls allocate their relay with the new credential;
calls already up keep the relay they have. The include is replaced atomically
(callctl.fsutil), readable by the folder's group (Asterisk's, in a deployment), so Asterisk
never reads half a file. The daemon runs `run()`: a failure (secret file unreadable,
Asterisk down) is logged and retried with the reconnect backoff, never raised.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from callctl import fsutil
from callctl.asterisk.ami import AmiConfig, AmiSession
from callctl.asterisk.connect import read_private_file
from callctl.asterisk.reconnect import backoff_delay
from callctl.daemon.logfmt import kv
from callctl.errors import AsteriskUnavailable, UsageError
from callctl.turn import include, schedule
from callctl.turn.include import TurnCredential
from callctl.turn.rest import rest_credentials
from callctl.turn.settings import TurnSettings

log = logging.getLogger("callctl.turn")

RELOAD_COMMAND = "module reload res_rtp_asterisk.so"
# Asterisk must read the include; only the folder's group (Asterisk's) may, nobody else.
INCLUDE_MODE = 0o640

SessionFactory = Callable[[AmiConfig], Any]  # an async context manager -> CommandRunner


@dataclass(frozen=True)
class Rotation:
    credential: TurnCredential
    issued: bool  # False: the one on disk was still good
    reason: str | None  # why a new one was issued


class TurnRotator:
    def __init__(
        self,
        settings: TurnSettings,
        ami: AmiConfig | None,
        *,
        session_factory: SessionFactory = AmiSession,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        backoff_base: float = 0.5,
        backoff_cap: float = 60.0,
    ) -> None:
        self.settings = settings
        self.ami = ami
        self.session_factory = session_factory
        self.clock = clock
        self.sleep = sleep
        self.backoff_base, self.backoff_cap = backoff_base, backoff_cap
        self.failures = 0  # consecutive failed rounds of `run()`
        self.applied: TurnCredential | None = None  # what Asterisk was last reloaded with

    # -- the include (file I/O only) ---------------------------------------------------------

    def secret(self) -> str:
        text = read_private_file(self.settings.secret_file, "TURN secret file").strip()
        if not text:
            raise UsageError(f"TURN secret file {self.settings.secret_file} is empty")
        return text

    def current(self) -> TurnCredential | None:
        path = self.settings.include
        if not path.parent.is_dir():
            return None
        with fsutil.private_dir(path.parent, create=False) as fd:
            data = fsutil.read_private(fd, path.name)
        return None if data is None else include.parse(data.decode("utf-8", "replace"))

    def write(self, credential: TurnCredential) -> None:
        path = self.settings.include
        with fsutil.private_dir(path.parent) as fd:
            text = include.render(credential).encode()
            fsutil.write_atomic(fd, path.name, text, mode=INCLUDE_MODE)

    def ensure(self, *, force: bool = False) -> Rotation:
        """Issue and write a new credential when the one on disk is due (or `force`)."""
        secret = self.secret()
        now = int(self.clock())
        current = self.current()
        reason = "forced" if force else schedule.why_renew(current, self.settings, secret, now=now)
        if reason is None and current is not None:
            return Rotation(current, issued=False, reason=None)
        username, password = rest_credentials(
            secret, self.settings.user, ttl=self.settings.ttl, now=now
        )
        credential = TurnCredential(self.settings.server, username, password)
        self.write(credential)
        return Rotation(credential, issued=True, reason=reason)

    # -- Asterisk ----------------------------------------------------------------------------

    async def reload(self) -> None:
        """Have res_rtp_asterisk re-read rtp.conf (and so the include)."""
        if self.ami is None:
            raise UsageError("no AMI connection to reload res_rtp_asterisk with")
        async with self.session_factory(self.ami) as ami:
            result = await ami.command(RELOAD_COMMAND)
        text = "\n".join(result.output)
        if "reloaded successfully" not in text:
            raise AsteriskUnavailable(
                f"`{RELOAD_COMMAND}` did not reload: {text.strip() or 'no output'}",
                hint="is res_rtp_asterisk loaded?",
            )

    async def rotate_once(self, *, force: bool = False, reload: bool = True) -> Rotation:
        rotation = self.ensure(force=force)
        if reload:
            await self.reload()
        return rotation

    # -- the daemon's task -------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What Asterisk was last reloaded with (no password) and the failed rounds since."""
        applied = self.applied
        return {
            "username": applied.username if applied is not None else None,
            "expires": applied.expires if applied is not None else None,
            "failures": self.failures,
        }

    async def run(self) -> None:
        """Forever: renew when due, reload after each write (and once at start, since
        Asterisk may have read an older include); on failure retry with backoff."""
        reload_pending = True
        while True:
            try:
                rotation = self.ensure()
                if rotation.issued:
                    reload_pending = True
                    log.info(
                        kv(
                            "turn.issued",
                            username=rotation.credential.username,
                            reason=rotation.reason,
                            include=str(self.settings.include),
                        )
                    )
                if reload_pending:
                    await self.reload()
                    reload_pending = False
                    self.applied = rotation.credential
                    log.info(kv("turn.reloaded", username=rotation.credential.username))
                self.failures = 0
                delay = schedule.seconds_until_due(
                    rotation.credential, self.settings, now=self.clock()
                )
            except Exception as err:  # never take the router down; the next round retries
                self.failures += 1
                delay = backoff_delay(self.failures, base=self.backoff_base, cap=self.backoff_cap)
                log.warning(
                    kv(
                        "turn.rotation_failed",
                        error=getattr(err, "message", None) or f"{type(err).__name__}: {err}",
                        attempt=self.failures,
                        retry_in_s=round(delay, 1),
                    )
                )
            await self.sleep(delay)
