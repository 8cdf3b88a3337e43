"""Which candidate pair won a call, on each side, as candidate types (host/srflx/prflx/relay).

Pure: the client's side from its aioice pair, Asterisk's from `callctl ice analyze`'s report of
the call's log (the nominated pair's addresses, typed by what each side signalled).
"""

from __future__ import annotations

import re
from typing import Any

_PAIR = re.compile(r"^\[(\d+)\] (\S+?)-->(\S+)$")


def pair_text(local: str, remote: str) -> str:
    return f"{local}/{remote}"


def client_pair(nominated: dict[int, Any]) -> str | None:
    """`local/remote` types of the client's component-1 pair (aioice CandidatePair)."""
    pair = nominated.get(1)
    if pair is None:
        return None
    return pair_text(pair.local_candidate.type, pair.remote_candidate.type)


def _session_pair(session: dict[str, Any]) -> tuple[str, str] | None:
    """(local, remote) addresses of the session's last component-1 nomination."""
    for nomination in reversed(session.get("nominations", [])):
        m = _PAIR.match(str(nomination.get("pair", "")))
        if m and m.group(1) == "1":
            return m.group(2), m.group(3)
    return None


def asterisk_pair(report: dict[str, Any], client_candidates: dict[str, str]) -> str | None:
    """`local/remote` types of the pair Asterisk's pjnath nominated in its last successful ICE
    session of the call. `client_candidates`: "ip:port" -> type, as the client signalled them;
    an address the client never signalled is peer-reflexive (learnt from a check)."""
    for session in reversed(report.get("sessions", [])):
        if session.get("status") != "Success":
            continue
        addrs = _session_pair(session)
        if addrs is None:
            continue
        local_types = {c["addr"]: c["type"] for c in session["candidates"]["local_list"]}
        local = local_types.get(addrs[0], "host")
        return pair_text(local, client_candidates.get(addrs[1], "prflx"))
    return None
