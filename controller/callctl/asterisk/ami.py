"""A one-shot AMI client: connect, log in, run CLI commands, close. Never reconnects.

panoramisk's `Manager` reconnects by itself: after a lost connection it re-sends every action
still waiting for a reply (so `core set debug 5` or `logger add channel` could run twice), and a
refused first connect keeps retrying in the background. callctl's debug commands change live
Asterisk state, so this module uses only panoramisk's wire layer (`AMIProtocol`, `Action`,
`Message`) and owns the connection itself:

- one TCP connection per `AmiSession`; a refused or timed-out connect raises
  `AsteriskUnavailable` and leaves nothing running;
- a lost connection fails every pending action with `AmiConnectionLost` (the caller decides
  what to do; an action in flight may or may not have run) and nothing is ever re-sent;
- `Command` output is normalised to a list of lines (panoramisk gives a list, or a plain str
  when there is one line, or nothing at all).

The secret is never logged nor put in an error message. Where AMI is and who logs in:
callctl.asterisk.connect.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from panoramisk.actions import Action, Command
from panoramisk.ami_protocol import AMIProtocol

from callctl.asterisk.closing import ClosesOnExit
from callctl.errors import AsteriskUnavailable

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5038
DEFAULT_TIMEOUT = 5.0


@dataclass(frozen=True)
class AmiConfig:
    """Where the Asterisk Manager Interface is and how to log in."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    user: str = "callctl"
    secret: str = field(default="", repr=False)
    timeout: float = DEFAULT_TIMEOUT
    source: str = "defaults"

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"


class AmiError(AsteriskUnavailable):
    """Base of AMI failures (exit status 6)."""


class AmiConnectionLost(AmiError):
    """The connection dropped while an action was pending: it may or may not have run."""


class AmiCommandRejected(AmiError):
    """Asterisk answered a `Command` action with Response: Error."""

    def __init__(self, command: str, output: list[str], message: str) -> None:
        text = "; ".join(line for line in output if line.strip()) or message
        super().__init__(f"Asterisk rejected {command!r}: {text}")
        self.command = command
        self.output = output


@dataclass(frozen=True)
class CommandResult:
    command: str
    ok: bool
    output: list[str]
    message: str = ""

    @property
    def text(self) -> str:
        return "\n".join(self.output)


def normalise_output(value: Any) -> list[str]:
    """`Output` from panoramisk: a list, a str (one line), or absent."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [str(value)]


class CommandRunner(Protocol):
    """What the debug service needs from AMI: run one CLI command."""

    async def command(self, command: str) -> CommandResult: ...


class _Protocol(AMIProtocol):  # type: ignore[misc]  # panoramisk is untyped
    def connection_lost(self, exc: Exception | None) -> None:
        # AMIProtocol.close() would queue unanswered actions for re-sending (and silently
        # drop "forgettable" ones such as Login); take them all first and fail them instead.
        if not self.closed:
            pending = list({id(a): a for a in self.responses.values()}.values())
            self.responses.clear()
            self.close()
            if self.factory is not None:
                self.factory.connection_lost(exc, pending)


class AmiSession(ClosesOnExit):
    """One AMI connection. Use `async with AmiSession(config) as ami:`."""

    def __init__(
        self,
        config: AmiConfig,
        *,
        events: str = "off",
        on_event: Callable[[Mapping[str, Any]], None] | None = None,
        on_lost: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.on_lost = on_lost  # told when the connection drops (the daemon's link waits on it)
        self.events = events  # the Login's event classes, e.g. "call"; "off" for none
        self.on_event = on_event
        # The attributes below form the duck-typed "factory" AMIProtocol talks to.
        self.save_stream = None
        self.forgetable_actions = ("ping", "login", "logoff")
        self.awaiting_actions: deque[Any] = deque()
        self._protocol: _Protocol | None = None
        self._lost: BaseException | None = None
        self._closed = False

    # -- factory interface used by AMIProtocol --------------------------------------------
    def dispatch(self, event: Any) -> list[str]:
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # a handler bug must not kill the connection
                log.exception("AMI event handler failed")
        return []

    def connection_lost(self, exc: Any, pending: list[Any] | None = None) -> None:
        self._lost = exc if isinstance(exc, BaseException) else ConnectionResetError(str(exc))
        actions: list[Any] = list(pending or [])
        actions.extend(self.awaiting_actions)
        self.awaiting_actions.clear()
        for action in actions:
            if not action.future.done():
                action.future.set_exception(
                    AmiConnectionLost(
                        f"AMI connection to {self.config.target} lost while waiting for "
                        f"{_describe(action)}; it may or may not have run (not re-sent)"
                    )
                )
        if self.on_lost is not None:
            self.on_lost()

    # -- public API --------------------------------------------------------------------------
    async def _enter(self) -> None:  # `async with AmiSession(...)` connects
        await self.connect()

    def _where_hint(self, default: str) -> str:
        if self.config.source == "defaults":
            return (
                "no AMI settings were given and no sandbox is running, so the default "
                f"{self.config.target} was tried: pass --ami-host/--ami-port/--ami-user, set "
                "CALLCTL_AMI_*, or start one with `callctl sandbox up`"
            )
        return default

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        cfg = self.config
        try:
            # asyncio.timeout rather than wait_for throughout: on 3.11 wait_for loses a cancel
            # that arrives as the answer does, and the caller's loop then runs on.
            async with asyncio.timeout(cfg.timeout):
                _, protocol = await loop.create_connection(_Protocol, cfg.host, cfg.port)
        except TimeoutError:
            raise AsteriskUnavailable(
                f"AMI at {cfg.target} did not accept a connection within {cfg.timeout:g} s",
                hint=self._where_hint(
                    "is Asterisk running, and is manager.conf [general] enabled=yes?"
                ),
            ) from None
        except OSError as err:
            raise AsteriskUnavailable(
                f"cannot connect to AMI at {cfg.target}: {err.strerror or err}",
                hint=self._where_hint(
                    "is Asterisk running with AMI enabled on that address "
                    "(manager.conf, or set --ami-host/--ami-port, CALLCTL_AMI_HOST/PORT)?"
                ),
            ) from None
        protocol.factory = self
        protocol.log = log
        protocol.encoding = "utf8"
        protocol.queue = deque()
        protocol.responses = {}
        self._protocol = protocol
        try:
            reply = await self._send(
                Action(
                    {
                        "Action": "Login",
                        "Username": cfg.user,
                        "Secret": cfg.secret,
                        "Events": self.events,
                    }
                ),
                "Login",
            )
        except AmiConnectionLost:
            await self.close()
            raise AsteriskUnavailable(
                f"AMI at {cfg.target} closed the connection during login",
                hint="check the manager.conf user, its secret and its permit/deny lines",
            ) from None
        except BaseException:
            await self.close()
            raise
        if not reply.success:
            await self.close()
            raise AsteriskUnavailable(
                f"AMI login as {cfg.user!r} refused by {cfg.target}: "
                f"{reply.get('Message') or 'no reason given'}",
                hint=self._where_hint(
                    "check the user and secret (CALLCTL_AMI_USER, CALLCTL_AMI_SECRET or "
                    "CALLCTL_AMI_SECRET_FILE) against manager.conf"
                ),
            )

    async def add_filter(self, criteria: str, pattern: str = "") -> None:
        """Ask Asterisk to send this session only matching events (the `Filter` action;
        e.g. criteria "action(include),name(Hangup)"). Raises on Response: Error."""
        reply = await self._send(
            Action(
                {
                    "Action": "Filter",
                    "Operation": "Add",
                    "MatchCriteria": criteria,
                    "Filter": pattern,
                }
            ),
            f"Filter {criteria}",
        )
        if not reply.success:
            raise AsteriskUnavailable(
                f"AMI at {self.config.target} refused the event filter {criteria!r}: "
                f"{reply.get('Message') or 'no reason given'}",
                hint="the daemon's AMI user needs write permission 'system' (manager.conf)",
            )

    async def command(self, command: str) -> CommandResult:
        """Run one CLI command through the `Command` action. Raises on Response: Error."""
        reply = await self._send(Command({"Action": "Command", "Command": command}), command)
        output = normalise_output(reply.get("Output"))
        message = str(reply.get("Message") or "")
        content = reply.get("content")
        if not output and content:
            output = str(content).splitlines()
        result = CommandResult(command, bool(reply.success), output, message)
        log.debug("AMI %s -> %s %r", command, reply.get("Response"), output)
        if not result.ok:
            raise AmiCommandRejected(command, output, message or "Response: Error")
        return result

    async def ping(self) -> None:
        """A Ping that must be answered within the timeout (panoramisk's own never checks)."""
        reply = await self._send(Action({"Action": "Ping"}), "Ping")
        if not reply.success:
            raise AmiError(f"AMI at {self.config.target} answered Ping with an error")

    async def close(self) -> None:
        if self._closed:
            return
        protocol = self._protocol
        if protocol is not None and not protocol.closed and self._lost is None:
            try:
                fut = protocol.send(Action({"Action": "Logoff"}))
                async with asyncio.timeout(0.5):
                    await asyncio.shield(fut)
            except (TimeoutError, AmiError, OSError):
                pass
        self._closed = True
        if protocol is not None:
            protocol.responses.clear()
            protocol.close()
        self.awaiting_actions.clear()

    async def _send(self, action: Any, what: str) -> Any:
        protocol = self._protocol
        if protocol is None or protocol.closed or self._lost is not None:
            raise AmiConnectionLost(f"AMI connection to {self.config.target} is not open")
        fut = protocol.send(action)
        try:
            async with asyncio.timeout(self.config.timeout):
                return await fut
        except TimeoutError:
            raise AmiError(
                f"AMI at {self.config.target} did not answer {what!r} within "
                f"{self.config.timeout:g} s; it may or may not have run"
            ) from None


def _describe(action: Any) -> str:
    try:
        if str(action.get("Action", "")).lower() == "command":
            return repr(action.get("Command"))
        return repr(action.get("Action"))
    except Exception:
        return "an action"


SessionFactory = Callable[[AmiConfig], AmiSession]
