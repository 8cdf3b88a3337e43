#!/usr/bin/env bash
# Install what callctl needs on Debian 12, idempotently, as root.
#  - build dependencies of Asterisk 22 + its bundled pjproject
#  - the real test peers (SIPp, prosody) and tools the tests use
#  - unstable as deb-src ONLY, so `apt-get source asterisk` works; never a `deb` line
#    for sid/trixie (apt would upgrade libc and gcc under us).
set -euo pipefail

PKGS=(
  # Asterisk + bundled pjproject build
  build-essential pkg-config bzip2 xz-utils patch ccache dpkg-dev
  libjansson-dev libxml2-dev libsqlite3-dev uuid-dev libedit-dev libssl-dev
  libsrtp2-dev libiksemel-dev libcurl4-openssl-dev libxslt1-dev
  # test peers and helpers
  sip-tester prosody iproute2 python3-venv python3-dev ansible debootstrap
  # packet captures of the rig's cells (`ice analyze --pcap` tests)
  tcpdump
  # real WebRTC clients of the Jingle rig (tests/support/webrtc): headless browsers driven
  # by puppeteer-core; tshark reads the rig's captures (STUN attributes)
  chromium firefox-esr tshark
  # NAT between the rig's client and Asterisk (tests/support/nat): nftables in the router
  # namespace; coturn as the rig's STUN/TURN server, run by the tests in the foreground
  nftables coturn
)
# Node.js + npm for the browser client (controller/callctl/probe/browser: StanzaJS,
# puppeteer-core, esbuild) of `callctl probe` and the WebRTC rigs. A machine that already has
# node with npm (another packaging of Node.js) keeps it.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  PKGS+=(nodejs npm)
fi
REPO="$(cd "$(dirname "$0")/.." && pwd)"

SRC_LIST=/etc/apt/sources.list.d/callctl-sid-src.sources

log() { printf 'install-deps: %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  log "must run as root (apt-get)"; exit 1
fi

# The Debian mirror URI this machine already uses; we never write a host of our own.
mirror_uri() {
  local f
  for f in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '/^URIs:/ {for (i=2;i<=NF;i++) if ($i ~ /debian\/?$/) {print $i; exit}}' "$f"
  done | head -n1
  # Classic one-line format as a fallback.
  if [ -f /etc/apt/sources.list ]; then
    awk '$1=="deb" && $2 !~ /security/ {for (i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' \
      /etc/apt/sources.list | head -n1
  fi
}

need_update=0
if [ ! -f "$SRC_LIST" ]; then
  uri=$(mirror_uri | head -n1)
  if [ -z "$uri" ]; then
    log "no Debian mirror URI found in /etc/apt/sources.list.d/*.sources or sources.list"; exit 1
  fi
  log "adding unstable as deb-src only ($SRC_LIST)"
  cat >"$SRC_LIST" <<SRC
# Written by callctl scripts/install-deps.sh: SOURCE packages only (apt-get source asterisk).
# Never add a 'deb' line for sid here: binary upgrades from unstable break Debian 12.
Types: deb-src
URIs: $uri
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  need_update=1
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# deb-src lists must exist for apt-get source, even when every package is installed.
if ! ls /var/lib/apt/lists/*sid*Sources* >/dev/null 2>&1; then need_update=1; fi

if [ "${#missing[@]}" -gt 0 ] || [ "$need_update" = 1 ]; then
  log "apt-get update"
  apt-get update -qq
fi
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The tests run their own prosody in the foreground on loopback ports; the packaged service
# that installing prosody may have started is not wanted. Stop that service only (never a
# prosody a test started), and only when this run installed the package.
if [[ " ${missing[*]:-} " == *" prosody "* ]]; then
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prosody 2>/dev/null; then
    systemctl disable --now prosody >/dev/null 2>&1 || true
  elif command -v invoke-rc.d >/dev/null 2>&1; then
    invoke-rc.d prosody stop >/dev/null 2>&1 || true
    update-rc.d prosody disable >/dev/null 2>&1 || true
  fi
fi
# Same for coturn: the NAT tests run their own turnserver inside the rig; the packaged service
# (Debian leaves it disabled in /etc/default/coturn, systemd may still start it) is stopped.
if [[ " ${missing[*]:-} " == *" coturn "* ]]; then
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet coturn 2>/dev/null; then
    systemctl disable --now coturn >/dev/null 2>&1 || true
  fi
fi
# The page's npm packages, exactly as package-lock.json pins them, installed by `npm ci`
# into <cache>/browser/<lock hash>/node_modules, never into the source tree: the package's
# own installer (callctl.probe.browser.modules, standard library only, so it runs before the
# venv exists; `callctl probe --install-browser` is the same). Re-runs need no network.
browser_modules=$(PYTHONPATH="$REPO/controller" python3 -m callctl.probe.browser.modules)
log "browser client's npm packages: $browser_modules"
log "ok"
