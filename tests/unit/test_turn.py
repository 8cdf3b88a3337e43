"""callctl.turn: coturn REST credentials (use-auth-secret)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from callctl.errors import UsageError
from callctl.turn import expiry, needs_rotation, password_for, rest_credentials
from hypothesis import given
from hypothesis import strategies as st


def test_known_vector() -> None:
    # Computed independently:
    # printf '1700000600:alice' | openssl dgst -sha1 -hmac s3cret -binary | base64
    username, password = rest_credentials("s3cret", "alice", ttl=600, now=1_700_000_000)
    assert username == "1700000600:alice"
    assert password == "bUIJIVaC05oyFgKsQvKAparqg1Q="


@given(
    secret=st.text(min_size=1, max_size=40),
    user=st.text(min_size=1, max_size=20).filter(lambda u: ":" not in u),
    ttl=st.integers(1, 7 * 24 * 3600),
    now=st.integers(0, 2**33),
)
def test_password_is_the_hmac_of_the_username(secret: str, user: str, ttl: int, now: int) -> None:
    username, password = rest_credentials(secret, user, ttl=ttl, now=now)
    assert expiry(username) == now + ttl and username.endswith(f":{user}")
    mac = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    assert base64.b64decode(password) == mac
    assert password_for(secret, username) == password


def test_a_different_secret_or_expiry_gives_another_password() -> None:
    _, one = rest_credentials("a", "alice", ttl=60, now=0)
    _, other_secret = rest_credentials("b", "alice", ttl=60, now=0)
    _, later = rest_credentials("a", "alice", ttl=60, now=1)
    assert len({one, other_secret, later}) == 3


@pytest.mark.parametrize(
    ("secret", "user", "ttl"),
    [("", "alice", 60), ("s", "", 60), ("s", "a:b", 60), ("s", "alice", 0), ("s", "alice", 10**9)],
)
def test_bad_input_is_a_usage_error(secret: str, user: str, ttl: int) -> None:
    with pytest.raises(UsageError):
        rest_credentials(secret, user, ttl=ttl, now=0)


def test_rotation_is_due_within_the_margin() -> None:
    username, _ = rest_credentials("s", "alice", ttl=600, now=1000)
    assert not needs_rotation(username, now=1000, margin=60)
    assert not needs_rotation(username, now=1539, margin=60)
    assert needs_rotation(username, now=1540, margin=60)
    assert needs_rotation(username, now=2000, margin=60)


@pytest.mark.parametrize("username", ["alice", ":alice", "12a:alice", ""])
def test_expiry_refuses_what_is_not_a_rest_username(username: str) -> None:
    with pytest.raises(UsageError):
        expiry(username)
