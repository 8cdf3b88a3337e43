"""Call routing: config, numbers, policy and dial strings. Pure: no I/O beyond reading config.

load_config(path) -> RoutingConfig           (raises ConfigError listing every issue)
outbound(config, caller_jid, dialled, active_calls_by_caller) -> OutboundDecision
inbound(config, did) -> InboundDecision
causes.should_failover(cause), causes.outcome(cause), causes.cause_from_sip(status)
"""

from callctl.routing.causes import Cause, Outcome, should_failover
from callctl.routing.config import ConfigError, load_config, parse_config
from callctl.routing.decide import InboundDecision, OutboundDecision, inbound, outbound
from callctl.routing.dialstring import DialTarget
from callctl.routing.model import RingMode, RoutingConfig
from callctl.routing.names import caller_key
from callctl.routing.policy import Reason

__all__ = [
    "Cause",
    "ConfigError",
    "DialTarget",
    "InboundDecision",
    "OutboundDecision",
    "Outcome",
    "Reason",
    "RingMode",
    "RoutingConfig",
    "caller_key",
    "inbound",
    "load_config",
    "outbound",
    "parse_config",
    "should_failover",
]
