"""The gateway's XMPP side: callctl as an XEP-0114 component in front of Asterisk.

    client --Jingle/JMI--> NUMBER@gw-domain --(component: relay, rewrite JIDs)--> Asterisk
    client <--JMI propose-- +CALLER@gw-domain <--(component)-- Asterisk (Motif to t-<token>)

- `jids.py`: number JIDs, token JIDs, caller JIDs (pure; hostile localparts stop here)
- `relay.py`: the rewrite rules for relayed Jingle IQs (pure)
- `jmi.py`: XEP-0353 offer to a user's devices, an effect-list state machine (pure)
- `disco.py`: disco#info and presence replies (pure)
- `gateway.py`: `Gateway`, stanzas in, stanzas out; `resolve_token`, `expect_inbound`
- `xml.py`: namespaces, stanza writer, sans-IO stream parser
- `component.py`: the XEP-0114 connection (the only I/O)
"""

from callctl.xmppgw.component import Component, ComponentTarget
from callctl.xmppgw.gateway import Gateway, GatewayConfig, OutboundCall

__all__ = ["Component", "ComponentTarget", "Gateway", "GatewayConfig", "OutboundCall"]
