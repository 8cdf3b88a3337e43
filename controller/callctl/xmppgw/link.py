"""How `callctl run` puts the gateway in front of its router (`--xmpp-component HOST:PORT`).

The component's shared secret comes from the environment (`CALLCTL_XMPP_SECRET`), never from
the command line, where `ps` would show it, nor from the routing config, which is not secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from callctl.errors import UsageError
from callctl.routing.model import GatewaySettings, RoutingConfig
from callctl.xmppgw.component import Component, ComponentTarget
from callctl.xmppgw.gateway import Gateway, GatewayConfig

SECRET_ENV = "CALLCTL_XMPP_SECRET"


def component_target(
    value: str | None, routing: RoutingConfig, env: Mapping[str, str] = os.environ
) -> ComponentTarget | None:
    """The server to connect to as the gateway's component, or None when not asked for."""
    if value is None:
        return None
    if routing.gateway is None:
        raise UsageError(
            "--xmpp-component needs a `gateway:` section in the routing config",
            hint="see specs/routing.example.yaml and docs/xmpp-gateway.md",
        )
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
        raise UsageError(f"--xmpp-component wants HOST:PORT, got {value!r}")
    secret = env.get(SECRET_ENV, "")
    if not secret:
        raise UsageError(
            f"--xmpp-component needs the component's secret in ${SECRET_ENV}",
            hint="the `component_secret` of the server's Component entry for the domain",
        )
    return ComponentTarget(host.strip("[]"), int(port), secret)


def component_for(
    settings: GatewaySettings,
    target: ComponentTarget,
    *,
    backoff_base: float = 0.5,
    backoff_cap: float = 10.0,
) -> Component:
    """A Gateway for `settings` and its (not yet running) connection; the daemon gives the
    Gateway (`.gateway`) to its router."""
    gateway = Gateway(GatewayConfig(settings.asterisk_jid, settings.domain, settings.dtls))
    return Component(gateway, target, backoff_base=backoff_base, backoff_cap=backoff_cap)
