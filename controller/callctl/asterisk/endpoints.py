"""Where an Asterisk's AMI and ARI listen and as whom to log in: what a sandbox provider
gives the connection resolution (callctl.sandbox.state.Connection is one). A plain value
with no imports, so the sandbox can build it without loading the AMI and ARI clients."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Endpoints:
    ami_host: str
    ami_port: int
    ami_user: str
    ami_secret: str = field(repr=False)
    ari_url: str
    ari_user: str
    ari_password: str = field(repr=False)
