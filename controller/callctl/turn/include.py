"""The rtp.conf include that holds Asterisk's current TURN credential (pure).

res_rtp_asterisk reads `turnaddr` (IPv4 or hostname, :port), `turnusername` and
`turnpassword` from rtp.conf's [general] section when it loads or reloads, and allocates a
relay (always TURN over TCP) for each new call's RTP instance with them. The include carries
no section header: rtp.conf puts `#tryinclude "FILE"` inside [general], and Asterisk reads
the included lines into the section it is in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from callctl.turn.rest import expiry

_KEYS = ("turnaddr", "turnusername", "turnpassword")


@dataclass(frozen=True)
class TurnCredential:
    server: str  # HOST:PORT, as turnaddr
    username: str  # `<expiry unix time>:<user>`
    password: str

    @property
    def expires(self) -> int:
        return expiry(self.username)


def render(credential: TurnCredential) -> str:
    expires = datetime.fromtimestamp(credential.expires, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return (
        "; Written by callctl (docs/turn.md); replaced before it expires. Do not edit.\n"
        f"; expires {expires}\n"
        f"turnaddr = {credential.server}\n"
        f"turnusername = {credential.username}\n"
        f"turnpassword = {credential.password}\n"
    )


def parse(text: str) -> TurnCredential | None:
    """The credential in an include written by `render`; None for anything else."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() in _KEYS:
            values[key.strip()] = value.strip()
    if set(values) != set(_KEYS):
        return None
    credential = TurnCredential(values["turnaddr"], values["turnusername"], values["turnpassword"])
    stamp, sep, _user = credential.username.partition(":")
    return credential if sep and stamp.isdigit() else None
