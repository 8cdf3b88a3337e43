"""The probe's media step with a stand-in ICE connection (the real one is proven against
Asterisk in tests/functional/test_probe.py): echoed PCMU marks audio-in; silence,
RTCP or another payload type do not; DTLS-SRTP between two probe peers keys both ways."""

from __future__ import annotations

import asyncio

from callctl.probe.dtls import Certificate
from callctl.probe.media import MediaSession, rtp_packet
from callctl.probe.timeline import Timeline


class FakeIce:
    """`reply(datagram)` decides what comes back for each datagram sent."""

    def __init__(self, reply: object) -> None:
        self.reply = reply
        self.queue: asyncio.Queue[tuple[bytes, int]] = asyncio.Queue()
        self.sent: list[bytes] = []

    async def sendto(self, data: bytes, component: int) -> None:
        self.sent.append(data)
        for back in self.reply(data):
            self.queue.put_nowait((back, component))

    async def recvfrom(self) -> tuple[bytes, int]:
        return await self.queue.get()


def _session(ice: FakeIce, timeline: Timeline, **kw: object) -> MediaSession:
    marks: list[str] = []

    def mark(event: str) -> None:
        marks.append(event)
        timeline.mark(event, len(marks))

    args = {"certificate": None, "remote_fingerprint": "", "remote_setup": ""} | kw
    return MediaSession(ice, timeline, mark, step_timeout=0.3, audio_seconds=0.1, **args)


def _back_to_back(
    a_cert: Certificate, b_cert: Certificate, a_expects: str
) -> tuple[MediaSession, MediaSession, FakeIce]:
    """Two sessions wired back to back: what one sends, the other receives (no echo: each
    side hears the other's PCMU). `a` was answered `active` and checks `b`'s certificate
    against `a_expects`; `b` was answered `passive` and checks `a`'s against the real one."""
    a_ice, b_ice = FakeIce(lambda d: []), FakeIce(lambda d: [])
    a_ice.reply = lambda d: (b_ice.queue.put_nowait((d, 1)), [])[1]
    b_ice.reply = lambda d: (a_ice.queue.put_nowait((d, 1)), [])[1]
    a = _session(
        a_ice, Timeline(), certificate=a_cert, remote_fingerprint=a_expects, remote_setup="active"
    )
    b_fp = a_cert.fingerprint
    b = _session(
        b_ice, Timeline(), certificate=b_cert, remote_fingerprint=b_fp, remote_setup="passive"
    )
    return a, b, a_ice


def test_rtp_packet_is_pcmu_with_growing_sequence_and_timestamp() -> None:
    a, b = rtp_packet(0), rtp_packet(1)
    assert a[0] == 0x80 and a[1] == 0 and len(a) == 12 + 160
    assert int.from_bytes(b[2:4], "big") == 1 and int.from_bytes(b[4:8], "big") == 160


async def test_an_echo_marks_audio_out_and_in() -> None:
    t = Timeline()
    ice = FakeIce(lambda d: [d])
    await _session(ice, t).run()
    assert "audio-out" in t.times and "audio-in" in t.times and not t.error
    assert len(ice.sent) == 5  # 0.1 s of 20 ms packets


async def test_no_echo_fails_at_audio() -> None:
    t = Timeline()
    await _session(FakeIce(lambda d: []), t).run()
    assert "audio-in" not in t.times
    assert t.error.startswith("no audio came back")


async def test_rtcp_or_another_payload_type_is_not_audio_back() -> None:
    t = Timeline()
    rtcp = bytes([0x80, 200]) + bytes(30)
    pt8 = bytes([0x80, 8]) + rtp_packet(0)[2:]
    await _session(FakeIce(lambda d: [rtcp, pt8]), t).run()
    assert "audio-in" not in t.times


async def test_dtls_between_two_probe_peers_keys_srtp_and_the_audio_decrypts() -> None:
    """Two sessions wired back to back: one passive (the answer said active), one active."""
    a_cert, b_cert = Certificate.generate("a"), Certificate.generate("b")
    a, b, a_ice = _back_to_back(a_cert, b_cert, a_expects=b_cert.fingerprint)
    ta, tb = a.timeline, b.timeline
    await asyncio.gather(a.run(), b.run())
    assert "dtls" in ta.times and "dtls" in tb.times, (ta.error, tb.error)
    # Each side's PCMU reached the other through SRTP.
    assert "audio-in" in ta.times and "audio-in" in tb.times
    assert all(p[0] == 0x80 for p in a_ice.sent[-3:])  # SRTP keeps the RTP header


async def test_a_wrong_fingerprint_fails_dtls() -> None:
    a_cert, b_cert, other = (Certificate.generate(n) for n in ("a", "b", "x"))
    a, b, _ = _back_to_back(a_cert, b_cert, a_expects=other.fingerprint)
    ta = a.timeline
    await asyncio.gather(a.run(), b.run())
    assert "dtls" not in ta.times and ta.error.startswith("DTLS: peer certificate")
