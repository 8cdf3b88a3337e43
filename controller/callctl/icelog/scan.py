"""Find the lines worth parsing in a byte stream, at C speed (sans-IO).

Most of a debug log is SIP, RTP and other noise. Every line the analyzer acts on holds one
of a few anchors, found with bytes.find; the rest is never decoded. `feed()` takes any
chunking and yields (line number, text) for the lines holding an anchor.

Bounded for untrusted input: a line longer than `MAX_LINE` is skipped (counted in
`too_long`) without being kept, and the set of anchors never grows past the sets below plus
`MAX_FOLLOWED` names, so the work is linear in the input.
"""

from __future__ import annotations

from collections.abc import Iterator

# Every line the analyzer acts on contains one of these (checked against each pattern of
# session.py, stundump.py, analyzer.py).
ANCHORS = (
    b"-->",
    b"ICE ",
    b"andidate",
    b"riggered",
    b"Checklist",
    b"Valid list",
    b"bytes STUN message",
    b"STUN Binding request",
    b"0xc001",
    b"USE-CANDIDATE",
    b"Role changed",
    b"Controlled agent",
    b"incoming check",
    b"early check",
    b"no checklist",
    b"Stopping ICE",  # pjmedia's ICE transport (pjsua): the application stops ICE
    b"RTP",
)
# In an Asterisk log every pjnath ICE line comes from a session named "icess0x..." (Asterisk
# creates them with a NULL name, ice_session.c then uses "icess%p"), so far fewer anchors do.
ASTERISK_ANCHORS = (
    b"icess",
    b"ICE session created",
    b"bytes STUN message",
    b"STUN Binding request",
    b"0xc001",
    b"USE-CANDIDATE",
    b"RTP",
    b"skipping checklist",
    b"res_xmpp.c: ",  # res_xmpp's debug output: Jingle signalling (callctl.icelog.jingle),
    b"<--- XMPP ",  # a timestamped line, then a header line, then the stanza
    b"<jingle",
    # chan_motif / res_rtp_asterisk errors a WebRTC client meets (callctl.icelog.webrtc), and
    # a client's IQ error reply (a continuation line without <jingle).
    b"Incomplete ICE-UDP candidate",
    b"content without a name",
    b"without an SSL session",
    b"type='error'",
)
# Only to put a capture next to the log (`--pcap`): the STUN dumps' transaction IDs and the
# USERNAME (ufrags) of each check. Off by default: they are a sixth of an ICE-only log.
WIRE_KEYS = (b"tsx_id=", b"USERNAME: length")
# A log with a session not named icess...: every line of it holds one of these.
FOLLOW_ALL = tuple(dict.fromkeys(ASTERISK_ANCHORS + ANCHORS))
MAX_FOLLOWED = 16  # unusual session names searched for one by one
MAX_LINE = 64 * 1024  # pjlib writes at most 4,000 bytes a line; a res_xmpp stanza a few KB


def _starts(block: bytes, anchors: tuple[bytes, ...], begin: int, end: int) -> set[int]:
    find = block.find
    rfind = block.rfind
    starts: set[int] = set()
    for anchor in anchors:
        p = find(anchor, begin, end)
        while p != -1:
            starts.add(rfind(b"\n", 0, p) + 1)
            p = find(anchor, find(b"\n", p, end), end)
    return starts


class AnchorScanner:
    def __init__(self, extra: tuple[bytes, ...] = ()) -> None:
        self._tail = b""
        self._skipping = False  # inside a line longer than MAX_LINE
        self._extra = extra  # anchors wanted on top of the mode's (WIRE_KEYS)
        self._mode = ""  # "raw", "asterisk" or "all" (wide), decided by the first lines
        self._anchors: tuple[bytes, ...] | None = None
        self._widen = False
        self._follow: list[bytes] = []
        self.lineno = 0  # lines seen so far (all of them, not only those yielded)
        self.too_long = 0  # lines skipped for their length

    @property
    def anchors(self) -> tuple[bytes, ...]:
        return self._anchors or ()

    def follow(self, name: str) -> None:
        """A session with an unusual name (an Asterisk log's are all icess...): from here on
        also yield the lines holding its name. Up to MAX_FOLLOWED names are searched for one
        by one; past that the scan switches once to a fixed wider set of anchors that every
        line the analyzer acts on holds, so thousands of names cost no more than one set."""
        if self._mode != "asterisk" or self._anchors is None:
            return
        if name.startswith("icess"):
            return
        needle = name.encode()
        if needle in self._anchors or needle in self._follow:
            return
        followed = len(self._anchors) - len(ASTERISK_ANCHORS) - len(self._extra)
        if followed + len(self._follow) < MAX_FOLLOWED:
            self._follow.append(needle)
        else:
            self._widen = True

    def feed(self, data: bytes) -> Iterator[tuple[int, str]]:
        if self._skipping:
            nl = data.find(b"\n")
            if nl < 0:
                return
            self._skipping = False
            self.lineno += 1
            data = data[nl + 1 :]
        buf = self._tail + data if self._tail else data
        cut = buf.rfind(b"\n")
        self._tail = buf[cut + 1 :]
        if len(self._tail) > MAX_LINE:
            self._tail = b""
            self._skipping = True
            self.too_long += 1
        if cut >= 0:
            yield from self._scan(buf, cut + 1)

    def finish(self) -> Iterator[tuple[int, str]]:
        if self._skipping:
            self._skipping = False
            self.lineno += 1
        if self._tail:
            tail, self._tail = self._tail, b""
            yield from self.feed(tail + b"\n")

    def _scan(self, block: bytes, end: int) -> Iterator[tuple[int, str]]:
        if self._anchors is None:  # decided by the first complete lines
            first = block[: min(end, 65536)]
            asterisk = first.startswith(b"[") and b"] " in first[:64]
            self._mode = "asterisk" if asterisk else "raw"
            self._anchors = (ASTERISK_ANCHORS if asterisk else ANCHORS) + self._extra
        order = sorted(_starts(block, self._anchors, 0, end))
        find = block.find
        count = block.count
        base = self.lineno
        prev = 0
        i = 0
        while i < len(order):
            s = order[i]
            i += 1
            base += count(b"\n", prev, s)
            prev = s
            e = find(b"\n", s, end)
            self.lineno = base + 1
            if e - s > MAX_LINE:
                self.too_long += 1
                continue
            yield self.lineno, block[s:e].decode("utf-8", "replace")
            if self._widen or self._follow:
                new = FOLLOW_ALL + self._extra if self._widen else tuple(self._follow)
                self._anchors = new if self._widen else self._anchors + new
                self._mode = "all" if self._widen else self._mode
                self._widen = False
                self._follow.clear()
                extra = _starts(block, new, e, end) - set(order[i:])
                if extra:
                    order = order[:i] + sorted(set(order[i:]) | extra)
        self.lineno = base + count(b"\n", prev, end)
