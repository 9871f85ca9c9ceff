#!/usr/bin/env bash
# Installs the Debian packages the test suite runs against: real BitTorrent peers and trackers.
# mktorrent: reference torrent creator; opentracker: real HTTP/UDP tracker; python3-libtorrent,
# aria2, transmission-cli, transmission-daemon: real clients on the other side of interop tests;
# transmission-common: Transmission's own web UI (/usr/share/transmission/web), which the daemon
# serves with --web-home in a test; chromium: the browser the daemon's web UI tests drive (through
# playwright-core); tmux: the real terminal the CLI's screen tests run `mainline` in; iproute2: `ip`, with which the local peer
# discovery tests make network namespaces joined by a veth pair (as root).
set -euo pipefail
packages=(mktorrent opentracker python3-libtorrent aria2 transmission-cli transmission-daemon transmission-common chromium tmux iproute2)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
run() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
export DEBIAN_FRONTEND=noninteractive
run apt-get update -qq
run apt-get install -y -qq --no-install-recommends "${missing[@]}"
