"""callctl.turn.schedule: when the credential is issued again."""

from __future__ import annotations

from pathlib import Path

import pytest
from callctl.turn.include import TurnCredential
from callctl.turn.rest import rest_credentials
from callctl.turn.schedule import MAX_SLEEP, renew_margin, seconds_until_due, why_renew
from callctl.turn.settings import TurnSettings
from hypothesis import given
from hypothesis import strategies as st

SETTINGS = TurnSettings("192.0.2.10", 3478, Path("/s"), Path("/i.conf"), "asterisk", 600)


def _issued(now: int, secret: str = "s", settings: TurnSettings = SETTINGS) -> TurnCredential:
    username, password = rest_credentials(secret, settings.user, ttl=settings.ttl, now=now)
    return TurnCredential(settings.server, username, password)


def test_renewed_once_half_the_lifetime_passed() -> None:
    cred = _issued(1000)  # expires 1600, renewed from 1300
    assert why_renew(cred, SETTINGS, "s", now=1000) is None
    assert why_renew(cred, SETTINGS, "s", now=1299) is None
    assert why_renew(cred, SETTINGS, "s", now=1300) == "half its lifetime passed"
    assert why_renew(cred, SETTINGS, "s", now=1600) == "expired"


@pytest.mark.parametrize(
    ("current", "secret", "reason"),
    [
        (None, "s", "none written yet"),
        (TurnCredential("192.0.2.99:3478", "1600:asterisk", "x"), "s", "server changed"),
        (
            _issued(1000, settings=TurnSettings("192.0.2.10", 3478, Path("/s"), Path("/i"), "gw")),
            "s",
            "user changed",
        ),
        (_issued(1000), "another secret", "secret changed"),
        (
            _issued(
                1000,
                settings=TurnSettings("192.0.2.10", 3478, Path("/s"), Path("/i"), "asterisk", 6000),
            ),
            "s",
            "lifetime shortened",
        ),
    ],
)
def test_renewed_when_what_it_was_made_from_changed(
    current: TurnCredential | None, secret: str, reason: str
) -> None:
    assert why_renew(current, SETTINGS, secret, now=1000) == reason


@given(
    issued=st.integers(0, 2**32), ttl=st.integers(60, 7 * 24 * 3600), later=st.integers(0, 10**6)
)
def test_the_sleep_ends_when_renewal_is_due_and_never_after_expiry(
    issued: int, ttl: int, later: int
) -> None:
    settings = TurnSettings("192.0.2.10", 3478, Path("/s"), Path("/i"), "asterisk", ttl)
    cred = _issued(issued, settings=settings)
    now = issued + later
    sleep = seconds_until_due(cred, settings, now=now)
    assert 0 <= sleep <= MAX_SLEEP
    due = why_renew(cred, settings, "s", now=now) is not None
    assert (sleep == 0) == due
    # Waking after `sleep`, the credential still has at least the margin left (or is due).
    assert cred.expires - (now + sleep) >= renew_margin(ttl) or due
