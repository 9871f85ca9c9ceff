#!/usr/bin/env bash
# An offline tour of `mainline` (npm install -g @mainline/cli): make a file and a torrent of it,
# inspect it, verify the data against it, then run the whole client on one machine.
set -euo pipefail
dir=$(mktemp -d) && trap 'rm -rf "$dir"' EXIT && cd "$dir"
head -c 3000000 /dev/urandom > photo.raw
mainline create photo.raw -o photo.torrent -t http://tracker.example/announce
mainline info photo.torrent
mainline verify photo.torrent -d .   # exit 0: every piece matches
mainline demo --size 8               # local tracker, one session seeds, another downloads
