"""Fakes and hypothesis strategies for the daemon's unit tests: a recording ARI client,
StasisStart/other events, the routing config the rig uses, hostile text for property tests."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from callctl.asterisk.ari import AriNotFound, Event
from callctl.daemon import calls as C
from callctl.daemon.stasis import Router
from callctl.routing import RoutingConfig, parse_config
from callctl.routing.dialstring import DialTarget
from hypothesis import strategies as st

from support.daemon_rig import ROUTING

TRUNKS = (
    DialTarget("carrier-a", "PJSIP/+15551230000@carrier-a"),
    DialTarget("carrier-b", "PJSIP/+15551230000@carrier-b"),
)
JIDS = (
    DialTarget("a@example.org/x", "Motif/xmpp-gw/a@example.org/x"),
    DialTarget("b@example.org", "Motif/xmpp-gw/b@example.org"),
)


def outbound_call() -> C.Call:
    """A call to +15551230000 over carrier-a then carrier-b, entered at t=100."""
    return C.Call(
        id="callctl-1",
        direction=C.Direction.OUTBOUND,
        caller_channel="chan",
        candidates=TRUNKS,
        started=100.0,
        ring_timeout=30,
        caller_id="+15550104400",
    )


def inbound_call(parallel: bool) -> C.Call:
    """A call from the trunk ringing two JIDs, entered at t=0."""
    return C.Call(
        id="callctl-2",
        direction=C.Direction.INBOUND,
        caller_channel="trunk",
        candidates=JIDS,
        started=0.0,
        ring_timeout=15,
        parallel=parallel,
    )


def config() -> RoutingConfig:
    cfg, issues = parse_config(ROUTING.replace("RING", "20"))
    assert cfg is not None, issues
    return cfg


class RecordingAri:
    """Records requests; ids it is told are gone answer 404 like Asterisk."""

    def __init__(self) -> None:
        self.log: list[tuple[Any, ...]] = []
        self.gone: set[str] = set()
        self.fail_create: set[str] = set()
        self.variables: dict[tuple[str, str], str] = {}
        self.listing: list[dict[str, Any]] = []  # what GET /channels answers
        self.router: Router | None = None

    async def create_bridge(
        self, *, bridge_id: str | None = None, name: str | None = None, bridge_type: str = "mixing"
    ) -> dict[str, Any]:
        self.log.append(("bridge", bridge_id))
        return {"id": bridge_id}

    async def add_channels(self, bridge_id: str, channel_ids: list[str]) -> None:
        self.log.append(("add", bridge_id, tuple(channel_ids)))

    async def create_channel(
        self,
        endpoint: str,
        *,
        app_args: list[str] = (),  # type: ignore[assignment]
        channel_id: str | None = None,
        originator: str | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        self.log.append(("create", endpoint, channel_id, dict(variables or {})))
        if endpoint in self.fail_create:
            raise AriNotFound("no endpoint", http_status=404, ari_message="x")
        if self.router is not None:  # as Asterisk does: the new channel enters the app
            self.router.handle(stasis_start(str(channel_id), "leg"))
        return {"id": channel_id}

    async def dial(
        self, channel_id: str, *, caller: str | None = None, timeout: int | None = None
    ) -> None:
        self.log.append(("dial", channel_id, timeout))

    async def ring(self, channel_id: str) -> None:
        self.log.append(("ring", channel_id))

    async def set_variable(self, channel_id: str, variable: str, value: str) -> None:
        self.log.append(("setvar", channel_id, variable, value))

    async def get_variable(self, channel_id: str, variable: str) -> str:
        self.log.append(("getvar", channel_id, variable))
        return self.variables.get((channel_id, variable), "")

    async def continue_in_dialplan(
        self, channel_id: str, *, context: str, extension: str, priority: int = 1
    ) -> None:
        self.log.append(("continue", channel_id, context, extension, priority))

    async def channel(self, channel_id: str) -> dict[str, Any]:
        self.log.append(("get", channel_id))
        return {"id": channel_id, "state": "Ring"}

    async def answer(self, channel_id: str) -> None:
        self.log.append(("answer", channel_id))

    async def hangup(
        self, channel_id: str, *, reason: str | None = None, reason_code: int | None = None
    ) -> None:
        self.log.append(("hangup", channel_id, reason or reason_code))
        if channel_id in self.gone:
            raise AriNotFound("gone", http_status=404, ari_message="Channel not found")

    async def destroy_bridge(self, bridge_id: str) -> None:
        self.log.append(("destroy", bridge_id))

    async def channels(self) -> list[dict[str, Any]]:
        return list(self.listing)

    async def bridges(self) -> list[dict[str, Any]]:
        return []

    async def application(self, name: str | None = None) -> dict[str, Any]:
        return {}


def stasis_start(channel: str, *args: str, name: str = "alice@example.org/phone") -> Event:
    return Event(
        "StasisStart",
        {
            "type": "StasisStart",
            "args": list(args),
            "channel": {
                "id": channel,
                "state": "Ring",
                "caller": {"name": name, "number": "alice"},
            },
        },
    )


def event(kind: str, channel: str, **data: Any) -> Event:
    return Event(kind, {"type": kind, "channel": {"id": channel, **data.pop("chan", {})}, **data})


# Text built from everything with a meaning in a dial string or dialplan (shared with the
# fast path's test in tests/unit/daemon/test_handoff.py), and the destinations thrown at the router.
_TOKENS = [*"0123456789+&,/()$\n{}|;^'\" éx@.", "${EXTEN}", "PJSIP/", "carrier-b", ",G(x)"]
HOSTILE = st.lists(st.sampled_from(_TOKENS), max_size=30).map("".join)
DESTINATIONS = st.one_of(
    HOSTILE,
    st.from_regex(r"\+?1?[2-8][0-9]{9}", fullmatch=True),
    st.sampled_from(["15550104400", "+15550104401", "15550104402"]),
)
SAFE_ENDPOINT = re.compile(r"PJSIP/\+1[0-9]{10}@carrier-[ab]|Motif/xmpp-gw/alice@example\.org/[ab]")
