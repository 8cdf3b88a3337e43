"""`callctl probe`: a synthetic Jingle call through the gateway, stage by stage."""
