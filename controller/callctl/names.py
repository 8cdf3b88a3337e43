"""The one check for names that become paths, config section names or AMI/CLI arguments.

Sandbox names (a folder under the state dir that `down` removes), debug log channel names
(a file in Asterisk's log dir, sent in an AMI `Command:` header) and build spec names (a link
under the cache) all pass through here. The whole value must match (`fullmatch`): with
`re.match` and `$`, "name\\n" passes, and a bare LF ends an AMI header or a pjsip.conf line.
A letter or digit comes first, so "." and ".." never pass; "/" is never allowed.
"""

from __future__ import annotations

import re

from callctl.errors import UsageError

MAX_NAME = 64
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
NAME_HINT = "letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64"


def is_safe_name(value: object) -> bool:
    return isinstance(value, str) and NAME_RE.fullmatch(value) is not None


def check_name(value: str, what: str) -> str:
    """`value` if it is a safe name, else a UsageError naming `what` (e.g. "sandbox name")."""
    if not is_safe_name(value):
        raise UsageError(f"bad {what} {shown(value)}", hint=NAME_HINT)
    return value


def shown(value: object) -> str:
    # Bounded: a hostile value is echoed, never in full.
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
