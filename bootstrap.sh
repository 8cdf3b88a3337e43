#!/usr/bin/env bash
# The README's two commands. On a fresh Debian 12 machine, as root:
#   bash bootstrap.sh up     install what is needed, build (or reuse) Asterisk with callctl's
#                            patch series, start the sandbox Asterisk on loopback, run callctl
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
    .venv/bin/python -m pip install -q -e '.[test]'
    echo "$want" >"$stamp"
  fi
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  up)
    setup
    .venv/bin/callctl sandbox up "$@"
    log "sandbox is up; stop it with: .venv/bin/callctl sandbox down"
    ;;
  test)
    setup
    exec .venv/bin/python -m pytest "$@"
    ;;
  *)
    echo "usage: bash bootstrap.sh up|test [args...]" >&2
    exit 2
    ;;
esac
