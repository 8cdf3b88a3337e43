"""The chromium probe client: the same call as the builtin one, placed by headless Chromium
running the StanzaJS page (the page of the real-client tests).

The browser runs where its media can flow: in the sandbox's network namespace (`ip netns
exec`, as the test rigs run it), logged in over the WebSocket prosody serves on the veth; for
a deployed gateway, in this namespace. Python drives the call through the page (disco#info,
XEP-0353 propose, session-initiate, hangup) and reads the page's record of it into the
timeline: the session-initiate's acknowledgement, ringing, accept, ICE and DTLS states, and
the first audio packets out and back from getStats.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callctl.probe.browser import report
from callctl.probe.browser.client import BrowserClient, BrowserError
from callctl.probe.optional import use_optional
from callctl.probe.timeline import Timeline

NS_JMI = "urn:xmpp:jingle-message:0"
POLL = 0.05  # seconds between reads of the page's record


@dataclass(frozen=True)
class BrowserTarget:
    websocket: str  # ws:// URL the browser logs in through
    netns: str  # the namespace the browser runs in ("": this one)
    jid: str  # the probe's account (bare)
    password: str
    to: str  # the number JID
    jmi: str = "auto"
    answer_timeout: float = 30.0
    step_timeout: float = 10.0
    audio_seconds: float = 1.0
    modules: Path | None = None


class BrowserCall:
    """One probe call placed by the browser, recorded on `timeline`; `media` holds the
    page's RTP counters (getStats) once audio ran."""

    def __init__(self, target: BrowserTarget, timeline: Timeline) -> None:
        self.t = target
        self.timeline = timeline
        self.media: dict[str, Any] | None = None
        self._t0 = 0.0
        self._offset = 0.0  # the probe's clock at the page's time 0

    def _now(self) -> float:
        return asyncio.get_running_loop().time() - self._t0

    async def run(self) -> None:
        self._t0 = asyncio.get_running_loop().time()
        t = self.t
        browser = BrowserClient(
            "chromium",
            t.netns,
            f"{t.jid}/probe-{secrets.token_hex(3)}",
            t.password,
            t.websocket,
            modules=t.modules,
        )
        try:
            try:
                await browser.start()  # starts the browser and logs the page in
            except BrowserError as exc:
                self.timeline.fail(f"the browser did not log in: {exc}")
                return
            self.timeline.mark("login", self._now())
            await self._call(browser)
        except BrowserError as exc:  # the page or the browser died mid-call
            self.timeline.fail(f"browser: {exc}")
        finally:
            await browser.close()

    async def _call(self, browser: BrowserClient) -> None:
        t = self.t
        features = await browser.rpc("features", t.to, timeout=t.step_timeout + 5)
        found = set(features) if isinstance(features, list) else None
        self.timeline.expect("dtls")  # WebRTC media is DTLS-SRTP: a browser needs the handshake
        peer, sid = t.to, ""
        if use_optional(self.timeline, "propose", t.jmi, found, NS_JMI, "JMI", t.to):
            answer = await browser.rpc(
                "propose", t.to, int(t.step_timeout * 1000), timeout=t.step_timeout + 5
            )
            if not isinstance(answer, dict):
                return self.timeline.fail(
                    f"no <proceed/> to the proposal within {t.step_timeout:g} s"
                )
            if answer.get("verb") != "proceed":
                return self.timeline.fail(f"{t.to} answered the proposal with <{answer['verb']}/>")
            peer, sid = str(answer["from"]), str(answer["sid"])
            self.timeline.mark("propose", self._now())
        before = self._now()
        page_now = float(await browser.rpc("clock"))
        self._offset = (before + self._now()) / 2 - page_now / 1000.0
        await browser.rpc("call", peer, sid)
        if not await self._answered(browser):
            await browser.rpc("hangup", "cancel")
            return None
        await browser.rpc("watchAudio")
        for event, why in (
            ("ice", lambda r: f"ICE did not connect (ICE state {report.last_state(r, 'ice')})"),
            ("dtls", lambda r: f"DTLS: no handshake (state {report.last_state(r, 'dtls')})"),
            ("audio-out", lambda _r: "no audio packet sent (getStats)"),
            ("audio-in", lambda _r: "no audio came back (getStats: no packet received)"),
        ):
            if not await self._until(browser, event, t.step_timeout, why):
                await browser.rpc("hangup")
                return None
        # Audio both ways: let it run for the call's audio time, then read the counters.
        await asyncio.sleep(t.audio_seconds)
        stats = await browser.rpc("stats")
        self.media = {k: stats.get(k) for k in _MEDIA_KEYS} if isinstance(stats, dict) else None
        await self._hangup(browser)

    async def _record(self, browser: BrowserClient) -> dict[str, Any]:
        rec = await browser.rpc("report")
        rec = rec if isinstance(rec, dict) else {}
        report.apply(self.timeline, rec, self._offset)
        return rec

    async def _answered(self, browser: BrowserClient) -> bool:
        t = self.t
        loop = asyncio.get_running_loop()
        start = loop.time()
        while True:
            rec = await self._record(browser)
            if "accept" in self.timeline.times:
                return True
            if (refused := report.initiate_refused(rec)) is not None:
                self.timeline.fail(f"{t.to} refused the session-initiate: {refused}")
                return False
            if (ended := report.ended_by_peer(rec)) is not None:
                self.timeline.fail(f"the gateway ended the call before the answer: {ended}")
                return False
            waited = loop.time() - start
            initiated = "session-initiate" in self.timeline.times
            if not initiated and waited > t.step_timeout:
                self.timeline.fail(f"no answer to the session-initiate within {t.step_timeout:g} s")
                return False
            if waited > t.answer_timeout:
                rang = " (it rang)" if "ringing" in self.timeline.times else ""
                self.timeline.fail(f"not answered within {t.answer_timeout:g} s{rang}")
                return False
            await asyncio.sleep(POLL)

    async def _until(
        self,
        browser: BrowserClient,
        event: str,
        limit: float,
        why: Callable[[dict[str, Any]], str],
    ) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        while True:
            rec = await self._record(browser)
            if event in self.timeline.times:
                return True
            if (ended := report.ended_by_peer(rec)) is not None:
                self.timeline.fail(f"the gateway ended the call: {ended}")
                return False
            if loop.time() > deadline:
                self.timeline.fail(f"{why(rec)} within {limit:g} s")
                return False
            await asyncio.sleep(POLL)

    async def _hangup(self, browser: BrowserClient) -> None:
        rec = await self._record(browser)
        if (ended := report.ended_by_peer(rec)) is not None:
            return self.timeline.fail(f"the gateway ended the call: {ended}")
        await browser.rpc("hangup", "success")  # returns once the terminate is answered
        refused = report.first(await browser.rpc("report"), "terminate-error")
        if refused is not None:
            return self.timeline.fail(f"the session-terminate was not acknowledged: {refused}")
        self.timeline.mark("hangup", self._now())


_MEDIA_KEYS = ("packetsSent", "bytesSent", "packetsReceived", "bytesReceived", "codec")
