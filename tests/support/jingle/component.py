"""The gateway's XEP-0114 component host on a prepared (not yet started) rig prosody.

callctl's gateway (callctl.xmppgw) serves `gw.localhost` as a component of the rig's prosody:
a `Component` host with a random secret on a loopback component port. The session-wide rig
prosody (fixtures.py) has it, so the interop matrix's calls go through the gateway; the
gateway's own tests (support/xmppgw.py) add it to a prosody of their own.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from .prosody import Prosody, free_port

GATEWAY_DOMAIN = "gw.localhost"


@dataclass(frozen=True)
class ComponentConf:
    domain: str
    port: int
    secret: str


def add_component(server: Prosody, domain: str = GATEWAY_DOMAIN) -> ComponentConf:
    """Give a prepared prosody a component host for the gateway (before `start()`)."""
    conf = ComponentConf(domain, free_port(), secrets.token_hex(16))
    text = server.config_path.read_text()
    if "component_ports = { }" not in text or "\ninterfaces = {" not in text:
        raise AssertionError("the rig's prosody config changed: add_component needs updating")
    text = text.replace("component_ports = { }", f"component_ports = {{ {conf.port} }}")
    text = text.replace(
        "\ninterfaces = {", '\ncomponent_interfaces = { "127.0.0.1" }\ninterfaces = {', 1
    )
    text += f'Component "{domain}"\n    component_secret = "{conf.secret}"\n'
    server.config_path.write_text(text)
    return conf
