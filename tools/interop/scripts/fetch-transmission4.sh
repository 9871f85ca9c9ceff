#!/usr/bin/env bash
# Unpacks Transmission 4.x (transmission-remote, transmission-daemon) from Debian trixie into a
# private root, for the tests that compare both remote generations. This machine's Debian ships
# 3.00; trixie's 4.x binaries need trixie's libc and libstdc++, so nothing is installed
# system-wide: the .debs of the two programs and of their libraries' dependency closure are
# unpacked into one root, and the binaries run through that root's own dynamic loader
# (tools/interop/src/transmission4.ts). Idempotent: a finished root is kept and reused.
#
#   tools/interop/scripts/fetch-transmission4.sh [ROOT]
#   default ROOT: $MAINLINE_TRANSMISSION4_ROOT, else tools/interop/.cache/transmission4 (gitignored)
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
root="${1:-${MAINLINE_TRANSMISSION4_ROOT:-$here/.cache/transmission4}}"
stamp="$root/.complete"
loader="$root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
libs="$root/usr/lib/x86_64-linux-gnu"

mkdir -p "$(dirname "$root")"
exec 9>"$root.lock" # one build at a time; a second caller waits, then finds it done
flock 9
works() { [ -f "$stamp" ] && "$loader" --library-path "$libs" "$root/usr/bin/transmission-remote" --version >/dev/null 2>&1; }
if works; then
  echo "transmission 4: $(cat "$stamp") in $root"
  exit 0
fi

began=$(date +%s)
work="$root.work"
rm -rf "$work"
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$work/root"
cat >"$work/trixie.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
: >"$work/status" # nothing counts as installed: every dependency is resolved from trixie
apt_opts=(
  -o "Dir::Etc::sourcelist=$work/trixie.sources" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$work/lists"
  -o "Dir::Cache=$work/cache" -o "Dir::State::status=$work/status" -o APT::Architecture=amd64 -o APT::Architectures=amd64
)
# As root apt downloads as _apt, who cannot write into a root-owned tree: download as root.
[ "$(id -u)" -eq 0 ] && apt_opts+=(-o APT::Sandbox::User=root)
apt-get "${apt_opts[@]}" -qq update

programs=(transmission-cli transmission-daemon)
no=(--no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces --no-enhances)
# The programs' own Depends (their shared libraries; transmission-common is the web UI and
# docs, and the daemon's maintainer scripts' adduser/debconf are not needed to run it) ...
direct=$(apt-cache "${apt_opts[@]}" depends "${no[@]}" --no-pre-depends "${programs[@]}" |
  awk '$1 == "Depends:" { print $2 }' | grep -v '^transmission-common$' | grep -v '^<' | sort -u)
# ... and everything those libraries depend on.
closure=$(apt-cache "${apt_opts[@]}" depends --recurse "${no[@]}" $direct | grep -v '^[ <]' | sort -u)
(cd "$work/debs" && apt-get "${apt_opts[@]}" -qq download "${programs[@]}" $closure)
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$work/root"; done

version=$(apt-cache "${apt_opts[@]}" show --no-all-versions transmission-cli | awk '$1 == "Version:" { print $2 }')
wloader="$work/root/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
wlibs="$work/root/usr/lib/x86_64-linux-gnu"
for p in transmission-remote transmission-daemon; do
  if ! out=$("$wloader" --library-path "$wlibs" "$work/root/usr/bin/$p" --version 2>&1); then
    echo "fetch-transmission4: $p does not run from the unpacked root:" >&2
    echo "$out" >&2
    "$wloader" --library-path "$wlibs" --list "$work/root/usr/bin/$p" >&2 || true
    exit 1
  fi
done
echo "$version" >"$work/root/.complete"
rm -rf "$root"
mv "$work/root" "$root"
rm -rf "$work"
echo "transmission 4: $version in $root ($(($(date +%s) - began)) s)"
