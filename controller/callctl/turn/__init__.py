"""TURN for Asterisk with coturn's `use-auth-secret` (docs/turn.md).

rest       REST credentials: issue, check expiry (pure)
settings   the operator's TURN config file (YAML, line-numbered problems)
include    the rtp.conf include holding the current credential (pure)
schedule   when the credential must be issued again (pure)
rotator    write the include, reload res_rtp_asterisk over AMI, keep doing it (I/O)
cli        `callctl turn rotate`, `callctl turn check`
"""

from callctl.turn.rest import MAX_TTL, expiry, needs_rotation, password_for, rest_credentials

__all__ = ["MAX_TTL", "expiry", "needs_rotation", "password_for", "rest_credentials"]
