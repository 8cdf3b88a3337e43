"""Log line framing: split Asterisk and raw pjlib log lines into (time, sender, text).

Two framings are understood, both taken from the sources:

1. An Asterisk file channel (main/logger.c `format_log_default`, LOGTYPE_FILE):
   ``[DATE] LEVEL[LWP][C-xxxxxxxx] FILE: MESSAGE`` (the call-id part is optional).
   pjproject lines come through res_pjproject.c `log_forwarder` as
   ``ast_log(level, "pjproject", 0, "<?>", "\\t%s\\n", data)``, where `data` carries pjlib's
   decoration ``PJ_LOG_HAS_SENDER | PJ_LOG_HAS_INDENT``: the sender right-aligned in 22
   columns (PJ_LOG_SENDER_WIDTH on 64-bit), one space, one '.' per indent level, the text.
   DATE is `dateformat` from logger.conf: "%b %e %T" by default, often "%F %T.%3q".
2. A raw pjlib log (pjlib/src/pj/log.c, default decoration): ``HH:MM:SS.mmm SENDER  TEXT``,
   optionally preceded by a date, with '!' marking a thread switch and '.' indents.

Lines that match neither (for example the body of a multi-line message) come back with
kind "cont". The two common layouts take a fast path (slicing, cached stamps); the rest
goes through the regular expressions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

_AST = re.compile(
    r"^\[(?P<date>[^\]]+)\] (?P<level>[A-Z]+)\[(?P<lwp>\d{1,12})\](?:\[(?P<callid>C-[0-9a-f]+)\])? "
    r"(?P<src>[^:\s]+): (?P<msg>.*)$"
)
# The same, only for res_pjproject's lines: the sender, then pjlib's indent (dots) removed.
_AST_PJ = re.compile(
    r"\[([^\]]+)\] ([A-Z]+)\[\d{1,12}\](?:\[(C-[0-9a-f]+)\])? pjproject: [\t ]*([^ ]*) ?[. ]*(.*)",
    re.S,
)
# pjlib's default layout: "HH:MM:SS.mmm" + sender right-aligned in 22 columns + ' ' +
# thread-switch mark or ' ' + indent + text (the fast path slices it).
_PJ_DEFAULT = re.compile(r"\d\d:\d\d:\d\d\.\d\d\d .{21}[^ ] .", re.S)
_PJRAW = re.compile(
    r"^(?P<date>\d{4}-\d\d-\d\d )?(?P<time>\d\d:\d\d:\d\d\.\d{3}) +(?P<sender>\S+) "
    r"[ !]?(?P<msg>.*)$"
)
_TIME = re.compile(r"(\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?")  # bounded: int() of it
_DATE_FORMATS = ("%Y-%m-%d", "%b %d", "%Y/%m/%d", "%d/%m/%Y", "%a %b %d")
_CACHE = 4096  # distinct stamps remembered (a log repeats each stamp on many lines)


@dataclass(slots=True)
class Line:
    kind: str  # "pj" (a pjlib line), "ast" (another Asterisk line), "cont"
    ts: float | None  # seconds; only differences are meaningful
    stamp: str  # the time as written
    sender: str  # pj sender (e.g. icess0x55...) or Asterisk source file
    text: str  # message with pjlib's indent removed
    level: str
    callid: str


def _clock_of(raw: str) -> float:
    """Seconds of day of a pjlib "HH:MM:SS.mmm" stamp; -1 when it is not one."""
    try:
        return int(raw[0:2]) * 3600 + int(raw[3:5]) * 60 + int(raw[6:8]) + int(raw[9:12]) / 1000
    except ValueError:
        return -1.0


class Framer:
    """Turns raw lines into `Line`s; keeps a little state for dates and midnight wraps."""

    def __init__(self) -> None:
        self._days: dict[str, float] = {}
        self._clocks: dict[str, float] = {}
        self._stamps: dict[str, float | None] = {}
        self._last_raw_ts = -1.0
        self._raw_day_offset = 0.0

    def frame(self, raw: str) -> Line:
        if raw.startswith("["):
            fast = self._asterisk_pjproject(raw)
            if fast is not None:
                return fast
            m = _AST.match(raw)
            if m:
                return self._ast(m)
        elif raw[:1].isdigit():
            if len(raw) > 37 and _PJ_DEFAULT.match(raw):
                stamp = raw[:12]
                t = self._clocks.get(stamp)
                if t is None:
                    t = _clock_of(stamp)
                    if len(self._clocks) > _CACHE:
                        self._clocks.clear()
                    self._clocks[stamp] = t
                if t >= 0:
                    return Line(
                        "pj",
                        self.clock(t),
                        stamp,
                        raw[13:35].lstrip(),
                        raw[36:].lstrip(" !."),
                        "",
                        "",
                    )
            m = _PJRAW.match(raw)
            if m:
                return self._pjraw(m)
        return Line("cont", None, "", "", raw.strip(), "", "")

    def clock(self, seconds_of_day: float) -> float:
        """A time-of-day stamp without a date, on a continuous scale: detects the wrap at
        midnight (a jump back of more than 12 hours)."""
        ts = seconds_of_day
        if ts + 43200 < self._last_raw_ts - self._raw_day_offset:
            self._raw_day_offset += 86400.0
        ts += self._raw_day_offset
        self._last_raw_ts = ts
        return ts

    def stamp_seconds(self, date: str) -> float | None:
        """Seconds of an Asterisk `dateformat` stamp (day and time), None without a time."""
        when = self._stamps.get(date)
        if when is None and date not in self._stamps:
            when = self._parse_stamp(date)
            if len(self._stamps) > _CACHE:
                self._stamps.clear()
            self._stamps[date] = when
        return when

    def _day(self, date: str) -> float:
        d = self._days.get(date)
        if d is None:
            norm = " ".join(date.split())
            d = 0.0
            for fmt in _DATE_FORMATS:
                try:
                    parsed = datetime.strptime(norm, fmt)
                except ValueError:
                    continue
                d = float(parsed.toordinal() if parsed.year > 1900 else parsed.timetuple().tm_yday)
                break
            if len(self._days) > _CACHE:
                self._days.clear()
            self._days[date] = d
        return d * 86400.0

    def _parse_stamp(self, date: str) -> float | None:
        day, _, clock = date.rpartition(" ")
        t = _TIME.fullmatch(clock)
        if t is None:
            t = _TIME.search(date)
            day = date[: t.start()] if t else ""
        if t is None:
            return None
        frac = t.group(4)
        ts = float(int(t.group(1)) * 3600 + int(t.group(2)) * 60 + int(t.group(3)))
        if frac:
            ts += int(frac) / (10 ** len(frac))
        return ts + self._day(day.strip())

    def _asterisk_pjproject(self, raw: str) -> Line | None:
        """Fast path: an Asterisk file channel line carrying pjproject output,
        "[DATE] LEVEL[LWP][C-...] pjproject: \\t<sender right-aligned> <indent><text>"
        (one regular expression: far cheaper than the general one plus slicing)."""
        m = _AST_PJ.match(raw)
        if m is None:
            return None
        date, level, callid, sender, text = m.groups()
        return Line("pj", self.stamp_seconds(date), date, sender, text, level, callid or "")

    def _pjraw(self, m: re.Match[str]) -> Line:
        t = _TIME.match(m.group("time"))
        assert t is not None
        secs = int(t.group(1)) * 3600 + int(t.group(2)) * 60 + int(t.group(3))
        ts = secs + int(t.group(4)) / 1000.0
        if m.group("date"):
            ts += self._day(m.group("date").strip())
        else:
            ts = self.clock(ts)
        return Line(
            "pj", ts, m.group("time"), m.group("sender"), m.group("msg").lstrip(". "), "", ""
        )

    def _ast(self, m: re.Match[str]) -> Line:
        date = m.group("date")
        ts = self.stamp_seconds(date)
        msg = m.group("msg")
        level = m.group("level")
        callid = m.group("callid") or ""
        if m.group("src") == "pjproject":
            data = msg.lstrip("\t ")
            sender, _, rest = data.partition(" ")
            return Line("pj", ts, date, sender, rest.lstrip(". "), level, callid)
        return Line("ast", ts, date, m.group("src"), msg, level, callid)
