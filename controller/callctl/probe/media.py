"""After ICE: the DTLS handshake when both sides signalled a fingerprint, then a second of
PCMU out (SRTP once keyed) and the first audio packet back. One reader dispatches every
datagram on component 1 by its first byte (RFC 7983)."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from callctl.probe.dtls import RTP_FIRST_BYTES, Certificate, DtlsPeer, is_dtls
from callctl.probe.timeline import Timeline

PCMU_SILENCE = b"\xff" * 160  # 20 ms at 8 kHz


def rtp_packet(seq: int) -> bytes:
    # V=2, PT 0 (PCMU), 20 ms of samples per packet.
    return struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, seq * 160, 0x0BE0BE) + PCMU_SILENCE


@dataclass(frozen=True)
class _Signalled:
    value: str


@dataclass
class MediaSession:
    """`ice` is a connected aioice Connection; `mark` records an event on the timeline."""

    ice: Any
    timeline: Timeline
    mark: Callable[[str], None]
    certificate: Certificate | None
    remote_fingerprint: str
    remote_setup: str
    step_timeout: float
    audio_seconds: float
    dtls: DtlsPeer | None = field(init=False, default=None)
    dtls_done: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    audio_in: asyncio.Event = field(init=False, default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        if self.certificate is None:
            return
        if not self.remote_fingerprint:
            self.timeline.skip("dtls", "offered, but the answer carried no fingerprint")
            return
        # Our offer said actpass; the answer's role decides (RFC 5763 section 5).
        active = self.remote_setup != "active"
        remote = _Signalled(self.remote_fingerprint)
        self.dtls = DtlsPeer(self.certificate, active=active, remote=remote)
        self.timeline.expect("dtls")

    async def run(self) -> None:
        reader = asyncio.ensure_future(self._read())
        try:
            if self.dtls is not None and not await self._handshake():
                return
            await self._audio()
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                await reader

    async def _flush(self) -> None:
        assert self.dtls is not None
        for datagram in self.dtls.outgoing():
            await self.ice.sendto(datagram, 1)

    async def _handshake(self) -> bool:
        assert self.dtls is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.step_timeout
        self.dtls.start()
        await self._flush()
        while not self.dtls_done.is_set() and loop.time() < deadline:
            wait = self.dtls.timeout()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.dtls_done.wait(), min(wait or 0.1, 0.1))
            if not self.dtls_done.is_set():
                self.dtls.handle_timeout()
                await self._flush()
        if self.dtls.error or not self.dtls.keyed:
            why = self.dtls.error or f"no DTLS handshake within {self.step_timeout:g} s"
            self.timeline.fail(f"DTLS: {why}")
            return False
        self.mark("dtls")
        return True

    async def _read(self) -> None:
        while True:
            data, component = await self.ice.recvfrom()
            if component != 1 or not data:
                continue
            if is_dtls(data) and self.dtls is not None:
                self.dtls.feed(data)
                await self._flush()
                if self.dtls.handshake_done:
                    self.dtls_done.set()
                continue
            if data[0] not in RTP_FIRST_BYTES:
                continue
            if self.dtls is not None:
                plain = self.dtls.unprotect(data) if self.dtls.keyed else None
                if plain is None:
                    continue
                data = plain
            if len(data) >= 12 and data[1] & 0x7F == 0:  # PCMU, not RTCP
                self.mark("audio-in")
                self.audio_in.set()

    async def _audio(self) -> None:
        packets = max(1, int(self.audio_seconds * 50))
        for seq in range(packets):
            packet = rtp_packet(seq)
            if self.dtls is not None:
                packet = self.dtls.protect(packet)
            await self.ice.sendto(packet, 1)
            if seq == 0:
                self.mark("audio-out")
            await asyncio.sleep(0.02)
        try:
            await asyncio.wait_for(self.audio_in.wait(), self.step_timeout)
        except TimeoutError:
            self.timeline.fail(
                f"no audio came back within {self.step_timeout:g} s of the last packet sent"
            )
