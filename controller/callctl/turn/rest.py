"""TURN REST credentials for coturn's `use-auth-secret` (time-limited, no user database).

draft-uberti-behave-turn-rest, as coturn implements it: the username is
`<expiry unix time>:<user>`, the password is base64(HMAC-SHA1(shared secret, username)).
coturn recomputes the password from its `static-auth-secret` and refuses a username whose
expiry has passed, so a credential rotates by being issued again before it expires. Pure:
the clock is a parameter.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from callctl.errors import UsageError

MAX_TTL = 7 * 24 * 3600  # a week: longer-lived credentials defeat the point of expiry


def rest_credentials(secret: str, user: str, *, ttl: int, now: int) -> tuple[str, str]:
    """(username, password) for `user`, valid until `now + ttl` (unix seconds)."""
    if not secret:
        raise UsageError("TURN shared secret is empty", hint="set coturn's static-auth-secret")
    if not user or ":" in user:
        raise UsageError(
            f"TURN user {user!r} is empty or contains ':'",
            hint="the ':' separates the expiry from the user in REST usernames",
        )
    if not 0 < ttl <= MAX_TTL:
        raise UsageError(f"TURN credential lifetime {ttl} s is outside 1..{MAX_TTL} s")
    username = f"{now + ttl}:{user}"
    return username, password_for(secret, username)


def password_for(secret: str, username: str) -> str:
    """The password coturn expects for a REST `username` under `secret`."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def expiry(username: str) -> int:
    """The expiry (unix seconds) written in a REST username."""
    stamp, sep, _user = username.partition(":")
    if not sep or not stamp.isdigit():
        raise UsageError(f"not a TURN REST username: {username!r}")
    return int(stamp)


def needs_rotation(username: str, *, now: int, margin: int) -> bool:
    """Whether a credential expires within `margin` seconds of `now` (issue a new one)."""
    return expiry(username) - now <= margin
