"""After a (re)connect: what Asterisk really has versus what the calls in memory believe.

Asterisk drops Stasis events while no WebSocket is connected, so a hangup or an answer may
have been missed. `plan()` is pure: it compares the calls with a snapshot of channels and
bridges and says what to feed into which call, and what is left over (orphans) to clean up.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from callctl.daemon.calls import Call, LegState

ID_PREFIX = "callctl-"  # every leg and bridge the daemon creates carries it


def new_call_id() -> str:
    return f"{ID_PREFIX}{secrets.token_hex(6)}"


@dataclass(frozen=True)
class Snapshot:
    channels: Mapping[str, str]  # channel id -> ARI state ("Up", "Ringing", "Ring", "Down")
    bridges: frozenset[str]
    app_channels: frozenset[str] = frozenset()  # channels subscribed by our app
    app_bridges: frozenset[str] = frozenset()
    contexts: Mapping[str, str] = field(default_factory=dict)  # channel id -> dialplan context

    @classmethod
    def from_ari(
        cls,
        channels: Iterable[Mapping[str, Any]],
        bridges: Iterable[Mapping[str, Any]],
        application: Mapping[str, Any] | None,
    ) -> Snapshot:
        app = application or {}
        return cls(
            channels={str(c["id"]): str(c.get("state", "")) for c in channels if "id" in c},
            bridges=frozenset(str(b["id"]) for b in bridges if "id" in b),
            app_channels=frozenset(str(c) for c in app.get("channel_ids", [])),
            app_bridges=frozenset(str(b) for b in app.get("bridge_ids", [])),
            contexts={
                str(c["id"]): str(c["dialplan"].get("context", ""))
                for c in channels
                if "id" in c and isinstance(c.get("dialplan"), Mapping)
            },
        )


@dataclass
class Plan:
    lost: list[tuple[str, str]] = field(default_factory=list)  # (call id, channel id)
    answered: list[tuple[str, str]] = field(default_factory=list)  # (call id, leg id)
    orphan_channels: list[str] = field(default_factory=list)
    orphan_bridges: list[str] = field(default_factory=list)
    adopt: list[str] = field(default_factory=list)  # callers in Dial() no call of ours has

    @property
    def empty(self) -> bool:
        return not (
            self.lost or self.answered or self.orphan_channels or self.orphan_bridges or self.adopt
        )


def plan(
    calls: Iterable[Call],
    snap: Snapshot,
    legs_are_channels: bool = True,
    handoff_context: str | None = None,
) -> Plan:
    """`legs_are_channels` is False on the fast path (callctl.daemon.dialplan): a leg is a
    destination of a Dial() on the caller's channel, not a channel of ours. Channels in
    `handoff_context` that no call knows were handed to Dial() by an earlier daemon: they
    are to be adopted (their Dial() runs without us), never hung up."""
    result = Plan()
    known_channels: set[str] = set()
    known_bridges: set[str] = set()
    for call in calls:
        if call.ended:
            continue
        known_channels.update(call.channel_ids())
        known_bridges.add(call.bridge_id)
        if call.caller_channel not in snap.channels:
            result.lost.append((call.id, call.caller_channel))
        if not legs_are_channels:
            # Its legs are Dial()'s channels, not ours: the caller's channel tells all. Back
            # in the app with a live leg means Dial() returned while events were not
            # arriving; why is unknown, so the leg counts as lost (no failover).
            live = [leg for leg in call.legs if leg.state is not LegState.GONE]
            if live and call.caller_channel in snap.app_channels and call.answered_leg is None:
                result.lost.append((call.id, live[-1].channel_id))
            elif (
                live
                and call.answered_leg is None
                and snap.channels.get(call.caller_channel) == "Up"
            ):
                # Up and still in Dial(): answered while the events did not arrive.
                result.answered.append((call.id, live[0].channel_id))
            continue
        for leg in call.legs:
            if leg.state is LegState.GONE:
                continue
            state = snap.channels.get(leg.channel_id)
            if state is None:
                result.lost.append((call.id, leg.channel_id))
            elif state == "Up" and leg.state is not LegState.UP:
                result.answered.append((call.id, leg.channel_id))
    ours = {c for c in snap.channels if c.startswith(ID_PREFIX)} | (
        snap.app_channels & snap.channels.keys()
    )
    result.orphan_channels = sorted(ours - known_channels)
    if handoff_context is not None:
        result.adopt = sorted(
            c
            for c, context in snap.contexts.items()
            if context == handoff_context and c not in known_channels and c in snap.channels
        )
    bridges = {b for b in snap.bridges if b.startswith(ID_PREFIX)} | (
        snap.app_bridges & snap.bridges
    )
    result.orphan_bridges = sorted(bridges - known_bridges)
    return result
