"""The call-routing daemon (`callctl run`): ARI Stasis app `callctl` between Jingle and trunk.

server.py     lifecycle: tasks, signals (first SIGTERM drains, second forces), shutdown
calls.py      one call's state machine: events in, effects out (pure, no I/O)
stasis.py     ARI events -> routing decision -> call machine -> the mode's requests
dialplan.py   the fast path's home (--dispatch dialplan): hand-off to Dial(), AMI reports
bridge.py     bridge mode's home (--dispatch bridge): every leg and the bridge over ARI
reconcile.py  after a (re)connect: compare calls with what Asterisk has, clean orphans
handoff.py    the fast path, pure: Dial()'s arguments, the AMI events that follow a call
amilink.py    a kept-alive AMI login: health, and the fast path's filtered events
http.py       loopback HTTP: /health, /metrics, /calls, DELETE /calls/{id}
metrics.py    Prometheus text exposition, by hand
logfmt.py     structured (logfmt) log lines
cli.py        `callctl run`, `callctl calls`, `callctl hangup`
"""
