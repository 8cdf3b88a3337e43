#!/usr/bin/env bash
# The README's two commands. On a fresh Debian 12 machine, as root:
#   bash bootstrap.sh up     install what is needed, build (or reuse) Asterisk with callctl's
#                            patch series, start the sandbox Asterisk on loopback, then run
#                            the routing daemon (callctl run) against it
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
    # The embedded default: the sandbox Asterisk on loopback with the two carrier trunks the
    # example routing config names (point them at your carriers' SIP peers), then the
    # routing daemon in the foreground (Ctrl-C drains calls and stops it).
    if ! .venv/bin/callctl -q sandbox status >/dev/null 2>&1; then
      .venv/bin/callctl sandbox up --trunk carrier-a=127.0.0.3:5060 \
        --trunk carrier-b=127.0.0.4:5060 "$@"
    fi
    log "sandbox is up (stop it with: .venv/bin/callctl sandbox down)"
    log "starting callctl run: health at http://127.0.0.1:8095/health"
    exec .venv/bin/callctl run --config specs/routing.example.yaml
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
