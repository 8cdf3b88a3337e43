"""pjnath's level-5 STUN message dumps, read from the continuation lines (pure).

stun_session.c logs "RX|TX <n> bytes STUN message from|to <addr>:" as a pjlib line, then the
message as plain lines ("--- begin STUN message ---", "STUN Binding request", one line per
attribute, "--- end of STUN message ---"). Only received Binding requests matter here: the
peer's first check, and whether it nominates with the renomination attribute 0xC001.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

RE_STUN_HEADER = re.compile(r"^(RX|TX) \d{1,9} bytes STUN message (?:from|to) (\S+):$")
RE_TSX = re.compile(r"^Hdr: .*tsx_id=([0-9a-fA-F]{24})")
RE_USERNAME = re.compile(r'^USERNAME: length=\d{1,5}, value="([^":]{1,256}):([^"]{1,256})"$')


@dataclass(frozen=True)
class PeerRequest:
    """Something a dumped message showed: `what` is "first-request" (a received Binding
    request), "nomination-attr" (it carries 0xC001), "transaction" (any message's
    transaction ID, in `tsx`, sent to or received from `source`) or "username" (the ICE
    ufrags of a check, "RECEIVER:SENDER", in `tsx`)."""

    what: str
    source: str
    ts: float | None
    tsx: str = ""


class StunDumpReader:
    def __init__(self) -> None:
        self._in_dump = False
        self._is_request = False
        self._rx_src: str | None = None
        self._peer: str | None = None  # the other end, received from or sent to
        self._rx_ts: float | None = None

    @staticmethod
    def is_header(text: str) -> bool:
        return text.startswith(("RX ", "TX ")) and "STUN message" in text

    def header(self, ts: float | None, text: str) -> None:
        """A pjlib "RX/TX ... STUN message" line: a dump follows."""
        self._in_dump = True
        self._is_request = False
        self._rx_ts = ts
        m = RE_STUN_HEADER.match(text)
        self._peer = m.group(2) if m else None
        self._rx_src = self._peer if m and m.group(1) == "RX" else None

    def stop(self) -> None:
        """Any other framed line ends a dump."""
        self._in_dump = False

    def line(self, text: str, now: float | None) -> PeerRequest | None:
        """A continuation line; `now` is the time of the last framed line."""
        if not self._in_dump:
            return None
        if text.startswith("--- end of STUN message"):
            self._in_dump = False
        elif text.startswith("USERNAME: ") and self._peer is not None:
            m = RE_USERNAME.match(text)
            if m:
                return PeerRequest(
                    "username", self._peer, self._rx_ts, f"{m.group(1)}:{m.group(2)}"
                )
        elif text.startswith("Hdr: ") and self._peer is not None:
            m = RE_TSX.match(text)
            if m:
                return PeerRequest("transaction", self._peer, self._rx_ts, m.group(1).lower())
        elif text.startswith("STUN "):
            self._is_request = "request" in text and "Binding" in text
            if self._is_request and self._rx_src is not None:
                return PeerRequest("first-request", self._rx_src, self._rx_ts)
        elif (
            self._is_request
            and self._rx_src is not None
            and text.startswith(("Attr 0xc001", "Attr 0xC001"))
        ):
            return PeerRequest("nomination-attr", self._rx_src, now)
        return None
