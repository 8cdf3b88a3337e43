"""Which client `callctl probe` uses: auto takes chromium only when everything it needs is
there, and says why; an explicit chromium that cannot run is an error naming what to run."""

from __future__ import annotations

import pytest
from callctl.errors import AsteriskUnavailable, ExitStatus, UsageError
from callctl.probe.choice import Choice, choose

WS = "ws://10.213.0.1:5280/xmpp-websocket"
GONE = ["/usr/bin/chromium", "node"]


def test_auto_takes_chromium_when_browser_node_and_packages_are_installed() -> None:
    c = choose("auto", [], WS, "auto")
    assert c == Choice("chromium", "auto: chromium, node and the npm packages are installed")
    assert c.to_json() == {"name": "chromium", "reason": c.reason}


def test_auto_falls_back_to_builtin_naming_what_is_missing() -> None:
    c = choose("auto", GONE, WS, "auto")
    assert c == Choice(
        "builtin", "auto: chromium cannot run here (missing /usr/bin/chromium, node)"
    )


def test_auto_takes_builtin_without_a_websocket_url_or_with_dtls_off() -> None:
    assert choose("auto", [], None, "auto").reason == (
        "auto: no WebSocket URL for the gateway (--websocket)"
    )
    assert choose("auto", [], WS, "off") == Choice(
        "builtin", "auto: --dtls off (a browser always offers DTLS)"
    )


def test_builtin_is_used_when_asked_for_whatever_is_installed() -> None:
    assert choose("builtin", [], WS, "auto") == Choice("builtin", "asked for (--client builtin)")


def test_chromium_asked_for_but_not_installed_is_unavailable_with_what_to_run() -> None:
    with pytest.raises(AsteriskUnavailable) as err:
        choose("chromium", GONE, WS, "auto")
    assert err.value.status == ExitStatus.UNAVAILABLE
    assert err.value.message == (
        "the chromium probe client cannot run here: missing /usr/bin/chromium, node"
    )
    assert err.value.hint is not None and "callctl probe --install-browser" in err.value.hint


@pytest.mark.parametrize(
    ("websocket", "dtls", "words"),
    [(None, "auto", "WebSocket URL"), (WS, "off", "--dtls off needs --client builtin")],
)
def test_chromium_asked_for_where_it_cannot_place_the_call_is_a_usage_error(
    websocket: str | None, dtls: str, words: str
) -> None:
    with pytest.raises(UsageError) as err:
        choose("chromium", [], websocket, dtls)
    assert words in err.value.message


def test_chromium_asked_for_and_installed() -> None:
    assert choose("chromium", [], WS, "on") == Choice("chromium", "asked for (--client chromium)")
