"""Named failure signatures: what went wrong in one ICE session, and the patch that fixes it.

Pure: `signatures(session, media)` reads a finished `Session` (and the media destinations
Asterisk logged) and returns the signatures found, each with its evidence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from callctl.icelog.session import CheckInfo, Session, key_text

PATCHES = {
    "late-peer-no-triggered-check": "pjnath triggered-check patch "
    "(patches/pjproject/0100-pjnath-retry-failed-pairs-and-wait-for-a-late-peer.patch: a Failed "
    "pair goes back to Waiting on an incoming check, RFC 8445 7.3.1.4, and the controlled "
    "agent waits for a late peer instead of declaring ICE failed)",
    "component-2-only": "chan_motif component-2 patch "
    "(patches/asterisk/0060-chan_motif-rtcp-mux-candidates.patch: accumulate trickled "
    "candidates, one ICE component when RTCP is muxed)",
    "no-nomination-renomination": "renomination patch "
    "(patches/pjproject/0110-pjnath-honour-NOMINATION-largest-value-wins.patch: honour the "
    "NOMINATION attribute 0xC001, largest value wins)",
    "media-not-to-nominated": "res_rtp_asterisk nominated_check patch "
    "(patches/asterisk/0010-res_rtp_asterisk-nominated-pair.patch: take the remote address "
    "from comp[].nominated_check, not valid_check)",
    "rtcp-mux-one-component": "chan_motif component-2 patch "
    "(patches/asterisk/0060-chan_motif-rtcp-mux-candidates.patch: one ICE component when "
    "RTCP is muxed)",
    "jingle-content-creator": "chan_motif content creator patch "
    "(patches/asterisk/0030-chan_motif-content-creator.patch: answer with the creator the "
    "content was created with)",
    "ice-role-unknown": "chan_motif ICE role patch "
    "(patches/asterisk/0050-chan_motif-ice-role.patch: set the role from the Jingle "
    "initiator, start checks once accepted)",
    # Real WebRTC clients (callctl.icelog.webrtc): the chan_motif patches of issue 12.
    "webrtc-fingerprint-as-candidate": "chan_motif real-client input patch "
    "(patches/asterisk/0080-chan_motif-accept-real-client-input.patch: only <candidate/> "
    "children of <transport/> are candidates, unknown children are ignored)",
    "webrtc-candidate-incomplete": "chan_motif real-client input patch "
    "(patches/asterisk/0080-chan_motif-accept-real-client-input.patch: generation, id and "
    "network get defaults)",
    "webrtc-bundle-group-refused": "chan_motif real-client input patch "
    "(patches/asterisk/0080-chan_motif-accept-real-client-input.patch: a XEP-0338 <group/> "
    "is not a content)",
    "webrtc-no-fingerprint": "chan_motif DTLS-SRTP patch "
    "(patches/asterisk/0090-chan_motif-dtls-srtp.patch: XEP-0320 <fingerprint/> in offers "
    "and answers)",
    "webrtc-rtcp-mux-missing": "chan_motif rtcp-mux offer patch "
    "(patches/asterisk/0100-chan_motif-offer-rtcp-mux.patch: calls Asterisk places offer "
    "<rtcp-mux/>)",
    "webrtc-transport-incomplete": "chan_motif offer-before-PBX patch "
    "(patches/asterisk/0040-chan_motif-offer-before-pbx.patch: the transport of "
    "session-initiate and session-accept carries ufrag, pwd and candidates)",
    "webrtc-dtls-never-started": "chan_motif DTLS-SRTP patch "
    "(patches/asterisk/0090-chan_motif-dtls-srtp.patch: DTLS set up on the RTP instance "
    "from the signalled fingerprint)",
}

EXPLAIN = {
    "late-peer-no-triggered-check": "our checks all failed before the peer started checking; "
    "its checks arrived later but no triggered check was sent back, so ICE never recovered",
    "component-2-only": "the session was left with component-2 (RTCP) candidates only, so no "
    "checklist could be run for component 1 and nothing was nominated",
    "no-nomination-renomination": "valid pairs were found but the peer never nominated one that "
    "pjnath understood (it nominates with the renomination attribute 0xC001)",
    "media-not-to-nominated": "media went to a valid pair that is not the nominated one",
    "rtcp-mux-one-component": "the peer muxes RTCP and sent component-1 candidates only, but "
    "Asterisk's session has 2 components, so it skipped the checklist: no ICE check ever ran",
    "jingle-content-creator": "chan_motif named a content the client created "
    "creator='responder' in what it sent back (XEP-0166: creator is who created the content); "
    "a client that checks it (Gajim) refuses the session before any ICE check matters",
    "ice-role-unknown": "the ICE session kept role Unknown (chan_motif never sets it): checks "
    "start before the call is accepted and pjnath runs the controlling agent's completion "
    "logic without nominating, so ICE succeeds or fails by timing",
    "webrtc-fingerprint-as-candidate": "chan_motif takes every child of <transport/> for a "
    "candidate; a WebRTC client's XEP-0320 <fingerprint/> is one, so the call ends "
    "failed-transport ('Incomplete ICE-UDP candidate') before any ICE check",
    "webrtc-candidate-incomplete": "the client's candidates lack attributes chan_motif "
    "requires (generation, id, network), so it ends the call failed-transport",
    "webrtc-bundle-group-refused": "the client's BUNDLE <group/> (XEP-0338, sent by every "
    "WebRTC Jingle client) was read as a content and the call refused",
    "webrtc-no-fingerprint": "Asterisk's offer or answer has no XEP-0320 <fingerprint/>; a "
    "WebRTC client requires DTLS-SRTP and refuses the media (browsers: 'SDP without DTLS "
    "fingerprint')",
    "webrtc-rtcp-mux-missing": "Asterisk's offer has no <rtcp-mux/>; browsers require RTCP "
    "muxed ('RTCP-MUX is not enabled when it is required') and refuse the offer",
    "webrtc-transport-incomplete": "a <transport/> Asterisk sent has no ufrag/pwd; the "
    "client cannot apply it (StanzaJS: TypeError on 'usernameFragment' at the next "
    "transport-info)",
    "webrtc-dtls-never-started": "the client's DTLS handshake reached an RTP instance with "
    "no DTLS session: chan_motif never set DTLS up, so SRTP never starts",
}


def describe(sig: str, evidence: str) -> dict[str, Any]:
    return {
        "signature": sig,
        "explanation": EXPLAIN[sig],
        "patch": PATCHES[sig],
        "evidence": evidence,
    }


@dataclass(frozen=True)
class _Facts:
    """What several signatures read from one session."""

    s: Session
    media: list[tuple[float | None, str]]
    outcome: str
    checks: list[CheckInfo]
    succeeded: list[CheckInfo]
    nominated: list[CheckInfo]
    role_unknown: bool

    @classmethod
    def of(cls, s: Session, media: list[tuple[float | None, str]]) -> _Facts:
        checks = list(s.checks.values())
        nominated = [c for c in checks if c.nominated] or [
            c for c in checks if any(n["pair"] == key_text(c.key) for n in s.nominations)
        ]
        return cls(
            s,
            media,
            s.outcome(),
            checks,
            [c for c in checks if c.state == "Succeeded" or c.succeeded_at is not None],
            nominated,
            s.roles == ["Unknown"] and s.role == "Unknown",
        )


def _late_peer(f: _Facts) -> str | None:
    """Checks failed before the peer started; no triggered check followed."""
    s = f.s
    failed_early = [
        c
        for c in f.checks
        if c.failed_at is not None and (s.peer_first is None or c.failed_at <= s.peer_first)
    ]
    if (
        f.outcome == "success"
        or not failed_early
        or s.peer_first is None
        or s.triggered_after_peer
        or f.succeeded
    ):
        return None
    first_fail = min(c.failed_at for c in failed_early if c.failed_at is not None)
    late = s.peer_first - first_fail
    extra = (
        f"; {s.ignored_after_complete} incoming check(s) ignored after ICE completed"
        if s.ignored_after_complete
        else ""
    )
    return (
        f"{len(failed_early)} check(s) failed, the peer's first check came {late:.1f} s "
        f"after the first failure, no triggered check followed{extra}"
    )


def _component_2_only(f: _Facts) -> str | None:
    comps = {k[0] for k in f.s.checks}
    if comps == {2}:
        return "checklist pairs are all component 2"
    if f.s.skipped_checklist.startswith("no RTP"):
        return "Asterisk skipped the checklist: no component-1 candidates"
    return None


def _rtcp_mux_one_component(f: _Facts) -> str | None:
    """The peer muxes RTCP (component 1 only); Asterisk wanted 2 and skipped the checklist."""
    if f.s.skipped_checklist.startswith("no RTCP") and not f.s.checks:
        return "Asterisk skipped the checklist: ICE no RTCP candidates (2-component session)"
    return None


def _role_unknown(f: _Facts) -> str | None:
    """The role was never set (chan_motif): pjnath's outcome is meaningless."""
    if f.role_unknown and (f.s.started is not None or f.s.checks):
        status = f"; outcome {f.s.status}" if f.s.status else ""
        return f"pjnath logged 'role is Unknown agent' and no role change{status}"
    return None


def _no_nomination(f: _Facts) -> str | None:
    """Valid pairs but no nomination (the controlled agent waited in vain)."""
    s = f.s
    if not f.succeeded or f.nominated or f.outcome == "success" or f.role_unknown:
        return None
    comps_valid = sorted({c.key[0] for c in f.succeeded})
    why = (
        "the peer's checks carried the renomination attribute 0xC001 "
        f"({s.renomination_attr_seen} seen)"
        if s.renomination_attr_seen
        else "no USE-CANDIDATE was ever received (a renomination-only peer looks "
        "like this; level-5 STUN dumps would show Attr 0xc001)"
    )
    if s.nomination_timeout:
        why += "; pjnath timed out waiting for nomination"
    return f"valid pair(s) for component(s) {comps_valid} but none nominated: {why}"


def _media_not_to_nominated(f: _Facts) -> str | None:
    """Media to a valid pair that is not the nominated one."""
    s = f.s
    nominated_remote = {c.key[2] for c in f.nominated if c.key[0] == 1}
    if not nominated_remote:
        return None
    valid_remote = {c.key[2] for c in f.succeeded if c.key[0] == 1} | {
        v["remote"] for v in s.valid_list if v["comp"] == 1
    }
    t0 = s.created if s.created is not None else s.started
    for ts, dest in f.media:
        if t0 is not None and ts is not None and ts < t0:
            continue
        if s.ended is not None and ts is not None and ts > s.ended + 60:
            continue
        if dest in valid_remote and dest not in nominated_remote:
            return (
                f"media sent to {dest}; nominated pair goes to "
                f"{', '.join(sorted(nominated_remote))}"
            )
    return None


_CHECKS: tuple[tuple[str, Callable[[_Facts], str | None]], ...] = (
    ("late-peer-no-triggered-check", _late_peer),
    ("component-2-only", _component_2_only),
    ("rtcp-mux-one-component", _rtcp_mux_one_component),
    ("ice-role-unknown", _role_unknown),
    ("no-nomination-renomination", _no_nomination),
    ("media-not-to-nominated", _media_not_to_nominated),
)


def signatures(s: Session, media: list[tuple[float | None, str]]) -> list[dict[str, Any]]:
    facts = _Facts.of(s, media)
    found: list[dict[str, Any]] = []
    for name, check in _CHECKS:
        evidence = check(facts)
        if evidence is not None:
            found.append(describe(name, evidence))
    return found
