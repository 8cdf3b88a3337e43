"""Which probe client places the call (pure): `--client auto` takes headless Chromium when the
browser, node and the installed npm packages are all there, else the builtin client, and
says why."""

from __future__ import annotations

from dataclasses import dataclass

from callctl.errors import AsteriskUnavailable, UsageError

CLIENTS = ("auto", "chromium", "builtin")


@dataclass(frozen=True)
class Choice:
    client: str  # chromium or builtin
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.client, "reason": self.reason}


def choose(requested: str, missing: list[str], websocket: str | None, dtls: str) -> Choice:
    """`missing`: what the chromium client lacks on this machine (browser.modules.missing);
    `websocket`: the gateway's XMPP WebSocket URL, None when unknown. Raises for a
    `--client chromium` that cannot run: UsageError (the call cannot be placed that way) or
    AsteriskUnavailable (exit 6: install what is missing)."""
    from callctl.probe.browser.modules import INSTALL_HINT

    if requested == "builtin":
        return Choice("builtin", "asked for (--client builtin)")
    if requested != "auto":
        if requested != "chromium":
            raise UsageError(f"--client {requested!r}: expected one of {', '.join(CLIENTS)}")
        if dtls == "off":
            raise UsageError("--dtls off needs --client builtin (a browser always offers DTLS)")
        if websocket is None:
            raise UsageError(
                "--client chromium needs the gateway's XMPP WebSocket URL",
                hint="--websocket URL (or `websocket:` in the config file)",
            )
        if missing:
            raise AsteriskUnavailable(
                f"the chromium probe client cannot run here: missing {', '.join(missing)}",
                hint=INSTALL_HINT,
            )
        return Choice("chromium", "asked for (--client chromium)")
    if dtls == "off":
        return Choice("builtin", "auto: --dtls off (a browser always offers DTLS)")
    if websocket is None:
        return Choice("builtin", "auto: no WebSocket URL for the gateway (--websocket)")
    if missing:
        return Choice("builtin", f"auto: chromium cannot run here (missing {', '.join(missing)})")
    return Choice("chromium", "auto: chromium, node and the npm packages are installed")
