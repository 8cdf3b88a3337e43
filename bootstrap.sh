#!/usr/bin/env bash
# The README's two commands. On a fresh Debian 12 machine, as root:
#   bash bootstrap.sh up     install what is needed, build (or reuse) Asterisk with callctl's
#                            patch series, start the whole gateway on loopback (sandbox
#                            Asterisk, prosody, a demo echo number), then run the routing
#                            daemon with the gateway's XMPP component (callctl run)
#   bash bootstrap.sh test   the same set-up, then the whole test suite (CI runs this)
set -euo pipefail
cd "$(dirname "$0")"

log() { printf 'bootstrap: %s\n' "$*" >&2; }

setup() {
  bash scripts/install-deps.sh
  local py=python3
  command -v python3.11 >/dev/null 2>&1 && py=python3.11
  if [ ! -x .venv/bin/python ]; then
    log "creating .venv with $($py --version)"
    "$py" -m venv .venv
  fi
  # Reinstall only when the project's dependencies changed.
  local stamp=.venv/.callctl-deps
  local want
  want=$(sha256sum pyproject.toml | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing callctl and its dependencies into .venv"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[test,probe]'
    echo "$want" >"$stamp"
  fi
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  up)
    setup
    # The embedded default is the whole gateway on loopback: prosody (c2s, WebSocket, the
    # gateway's component gw.localhost), Asterisk with res_xmpp + chan_motif and a demo phone
    # side (an echo number), media over the sandbox's own network namespace; then the routing
    # daemon serving the gateway's component, in the foreground (Ctrl-C drains calls and
    # stops it; `callctl sandbox down` stops the rest). A running sandbox is reused.
    # $CALLCTL_SANDBOX names another sandbox than `default` (tests run their own).
    name=${CALLCTL_SANDBOX:-default}
    if ! .venv/bin/callctl -q sandbox status --name "$name" >/dev/null 2>&1; then
      .venv/bin/callctl sandbox up --jingle --name "$name" "$@"
    fi
    gw=$(.venv/bin/callctl sandbox status --name "$name" --json | .venv/bin/python -c '
import json, sys
x = json.load(sys.stdin).get("xmpp")
if x:
    print(x["routing_config"], x["component"], x["component_secret_file"])
')
    if [ -z "$gw" ]; then
      log "sandbox $name has no Jingle side: stop it (.venv/bin/callctl sandbox down --name $name) and run this again"
      exit 7
    fi
    read -r routing component secret_file <<<"$gw"
    log "sandbox $name is up (stop it with: .venv/bin/callctl sandbox down --name $name)"
    log "starting callctl run with the gateway's component; then try: .venv/bin/callctl probe"
    CALLCTL_XMPP_SECRET=$(cat "$secret_file")
    export CALLCTL_XMPP_SECRET
    exec .venv/bin/callctl run --sandbox "$name" --config "$routing" --xmpp-component "$component"
    ;;
  test)
    setup
    # Gates first (seconds): types, lint, format; then the suite.
    log "mypy --strict, ruff check, ruff format --check"
    .venv/bin/mypy
    .venv/bin/ruff check .
    .venv/bin/ruff format --check .
    exec .venv/bin/python -m pytest "$@"
    ;;
  *)
    echo "usage: bash bootstrap.sh up|test [args...]" >&2
    exit 2
    ;;
esac
