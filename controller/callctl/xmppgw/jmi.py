"""Jingle Message Initiation (XEP-0353) for a call to a user: one offer, many devices.

Pure state machine in the style of callctl.daemon.calls: each input returns the effects
the gateway must carry out, in order; nothing here sends anything.

    PROPOSED --ringing--> RINGING --proceed--> ANSWERED --session ends--> FINISHED
        \\___________________\\--reject--> REJECTED (Asterisk gets busy / decline)
         \\___________________\\--the phone caller hangs up--> RETRACTED

A call to one device (a full JID, `direct`) skips the proposal: that device gets the Jingle
session at once, as clients without XEP-0353 (Gajim) expect.
The first device to `<proceed/>` gets the Jingle session; the user's server copies that
proceed (or a reject) to the user's other devices (XEP-0280 carbons), which stop ringing.
A device that proceeds after another one did is told with a directed `<retract/>`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class OfferState(StrEnum):
    PROPOSED = "proposed"
    RINGING = "ringing"
    ANSWERED = "answered"
    REJECTED = "rejected"
    RETRACTED = "retracted"
    FINISHED = "finished"


# JMI reject reasons the gateway tells apart; anything else is a decline.
BUSY, DECLINE = "busy", "decline"


@dataclass(frozen=True)
class Propose:
    to: str  # the user's bare JID: every device rings


@dataclass(frozen=True)
class Retract:
    to: str  # bare JID (the call is gone) or one device's full JID (answered elsewhere)
    reason: str


@dataclass(frozen=True)
class Finish:
    to: str
    reason: str


@dataclass(frozen=True)
class RingAsterisk:
    """Tell Asterisk the callee rings (Jingle session-info <ringing/>)."""


@dataclass(frozen=True)
class Connect:
    """Hand the held session-initiate (and what Asterisk sent after it) to this device."""

    device: str


@dataclass(frozen=True)
class EndAsterisk:
    """End the session towards Asterisk with this Jingle reason."""

    reason: str


Effect = Propose | Retract | Finish | RingAsterisk | Connect | EndAsterisk


@dataclass
class Offer:
    sid: str
    user: str  # bare JID (or a full JID when `direct`)
    direct: bool = False  # one device: no JMI at all, the session goes straight to it
    state: OfferState = OfferState.PROPOSED
    device: str | None = None  # the full JID that answered
    ringing: set[str] = field(default_factory=set)

    @property
    def open(self) -> bool:
        return self.state in (OfferState.PROPOSED, OfferState.RINGING)

    def start(self) -> list[Effect]:
        if self.direct:
            self.state, self.device = OfferState.ANSWERED, self.user
            return [Connect(self.user)]
        return [Propose(self.user)]

    def device_ringing(self, device: str) -> list[Effect]:
        if not self.open or device in self.ringing:
            return []
        first = not self.ringing
        self.ringing.add(device)
        self.state = OfferState.RINGING
        return [RingAsterisk()] if first else []

    def device_proceed(self, device: str) -> list[Effect]:
        if self.open:
            self.state, self.device = OfferState.ANSWERED, device
            return [Connect(device)]
        if self.state == OfferState.ANSWERED and device != self.device:
            return [Retract(device, "cancel")]  # answered on another device
        return []

    def device_reject(self, reason: str) -> list[Effect]:
        if not self.open:
            return []
        self.state = OfferState.REJECTED
        return [EndAsterisk(BUSY if reason == BUSY else DECLINE)]

    def asterisk_ended(self, reason: str) -> list[Effect]:
        """Asterisk ended the session: the phone caller hung up, or the router's ring timer."""
        if self.open:
            self.state = OfferState.RETRACTED
            return [Retract(self.user, "cancel")]
        if self.state == OfferState.ANSWERED:
            self.state = OfferState.FINISHED
            return [] if self.direct else [Finish(self.user, reason or "success")]
        return []

    def device_ended(self, reason: str) -> list[Effect]:
        """The answering device ended the Jingle session."""
        if self.state != OfferState.ANSWERED:
            return []
        self.state = OfferState.FINISHED
        return [] if self.direct else [Finish(self.user, reason or "success")]
