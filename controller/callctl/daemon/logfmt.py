"""Structured log lines: `ts=... level=info logger=... event=call.start call=c1 key=value`.

Callers pass fields through `kv(event, **fields)`; values are quoted when they hold spaces or
quotes, and line breaks are escaped so a hostile caller ID cannot forge a second log line.
"""

from __future__ import annotations

import logging
import time
from typing import Any

_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-_.:/@")


def quote(value: object) -> str:
    text = str(value)
    if text and all(c in _SAFE for c in text):
        return text
    escaped = (
        text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    )
    return f'"{escaped}"'


def kv(event: str, **fields: Any) -> str:
    """A message body: the event name, then key=value pairs (None values are left out)."""
    parts = [f"event={quote(event)}"]
    parts += [f"{k}={quote(v)}" for k, v in fields.items() if v is not None]
    return " ".join(parts)


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        msg = record.getMessage()
        if not msg.startswith("event="):
            msg = f"msg={quote(msg)}"
        line = (
            f"ts={ts}.{int(record.msecs):03d}Z level={record.levelname.lower()} "
            f"logger={record.name} {msg}"
        )
        if record.exc_info:
            line += f" exc={quote(self.formatException(record.exc_info))}"
        return line


def setup(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's access log would log every /metrics scrape; keep it quiet.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
