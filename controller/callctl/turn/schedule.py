"""When Asterisk's TURN credential must be issued again (pure: the clock is a parameter).

A credential is renewed once half its lifetime has passed, not just before it expires: coturn
also checks the username's expiry on every Refresh of an allocation, so a call that took its
relay with the old credential keeps it for at least the other half (12 h with the 24 h
default) before coturn would refuse the refresh.
"""

from __future__ import annotations

from callctl.turn.include import TurnCredential
from callctl.turn.rest import password_for
from callctl.turn.settings import TurnSettings

# Never sleep longer than this between checks: a suspended machine or a clock step must not
# carry the daemon past an expiry.
MAX_SLEEP = 60.0


def renew_margin(ttl: int) -> int:
    """Seconds before expiry at which a credential is renewed."""
    return ttl // 2


def why_renew(
    current: TurnCredential | None, settings: TurnSettings, secret: str, *, now: int
) -> str | None:
    """Why the current credential must be replaced now (a short reason), or None."""
    if current is None:
        return "none written yet"
    if current.server != settings.server:
        return "server changed"
    if current.username.partition(":")[2] != settings.user:
        return "user changed"
    if current.password != password_for(secret, current.username):
        return "secret changed"
    left = current.expires - now
    if left > settings.ttl:
        return "lifetime shortened"
    if left <= renew_margin(settings.ttl):
        return "expired" if left <= 0 else "half its lifetime passed"
    return None


def seconds_until_due(current: TurnCredential, settings: TurnSettings, *, now: float) -> float:
    """How long to sleep before checking again (at most MAX_SLEEP)."""
    due = current.expires - renew_margin(settings.ttl)
    return max(0.0, min(MAX_SLEEP, due - now))
