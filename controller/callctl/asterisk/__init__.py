"""The Asterisk I/O layer: every byte callctl sends to ARI or AMI goes through here.

ari.py        typed ARI client (REST + the events WebSocket of one app), its error tree
transport.py  how REST reaches Asterisk: aiohttp or a lean kept-alive pool, both bounded
ami.py        one AMI login: CLI commands, event filters, Ping; never re-sends an action
connect.py    which Asterisk and as whom: flags > environment > file > sandbox (provider
              passed in) > defaults; the one check of secret files
endpoints.py  the value a sandbox provider returns (AMI and ARI addresses and logins)
closing.py    the `async with` base of both clients: close on the way out
reconnect.py  the one reconnect loop (tenacity backoff with jitter, quick-drop backoff)

It imports no feature package (routing, daemon, debug, sandbox): they import it.
"""
