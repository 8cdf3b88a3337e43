"""The rig's WebSocket relay is the probe's (callctl.probe.relay); imported from here by the
rig's fixtures and bench scripts."""

from callctl.probe.relay import tcp_relay

__all__ = ["tcp_relay"]
