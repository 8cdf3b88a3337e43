"""Client profiles: the few behaviours by which the seed's clients differ (issue 6).

Each field is one observable difference; everything else is the same Jingle client.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    # ICE components offered: 1 with rtcp-mux (WebRTC browsers), 2 for RTP + RTCP.
    components: int
    rtcp_mux: bool
    # Trickle each component's candidates in its own transport-info, component 1 first
    # (Firefox); otherwise all candidates go in one transport-info.
    trickle_per_component: bool = False
    # Reject a session whose content `creator` is not the party that created the content
    # (Gajim): reply bad-request and terminate with failed-application.
    strict_creator: bool = False
    # Nominate with NOMINATION (0xC001) only, never USE-CANDIDATE (Conversations with
    # libwebrtc's `renomination` option on).
    renomination: bool = False
    # Also put `<renomination/>` (Conversations' ice-option namespace) in the transport. Off
    # for `conversations`: the seed says the Conversations of the time had no way to signal it
    # in Jingle; and stock chan_motif treats any non-candidate child of <transport> as an
    # "Incomplete ICE-UDP candidate" and hangs up, which would hide the nomination bug.
    signal_renomination: bool = False
    # Start ICE checks as soon as the callee's candidates arrive, before session-accept. WebRTC
    # callers cannot (the answer carries the remote description), so all profiles wait; that
    # wait is what exposes pjnath giving up during a long ring (issue 6, 10 s ringing).
    early_ice: bool = False


# The reference client: RTP + RTCP, every candidate in one transport-info, USE-CANDIDATE.
# Nothing in it trips a known chan_motif/pjnath bug, so stock Asterisk should connect.
PLAIN = Profile("plain", components=2, rtcp_mux=False)
CHROMIUM = Profile("chromium", components=1, rtcp_mux=True)
FIREFOX = Profile("firefox", components=2, rtcp_mux=True, trickle_per_component=True)
# Gajim's component count is assumed (RTP + RTCP); its one difference here is the creator check.
GAJIM = Profile("gajim", components=2, rtcp_mux=False, strict_creator=True)
CONVERSATIONS = Profile("conversations", components=1, rtcp_mux=True, renomination=True)

PROFILES: dict[str, Profile] = {p.name: p for p in (PLAIN, CHROMIUM, FIREFOX, GAJIM, CONVERSATIONS)}
