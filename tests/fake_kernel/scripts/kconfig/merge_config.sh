#!/bin/sh
# Fake merge_config.sh: "-m -O DIR BASE FRAG..." appends the fragments to BASE's values,
# later values overriding earlier ones, and writes DIR/.config (no make step, like -m).
set -eu
[ "$1" = "-m" ] && shift
[ "$1" = "-O" ] || { echo "usage: merge_config.sh -m -O DIR BASE FRAG..." >&2; exit 2; }
dir=$2; shift 2
tmp=$(mktemp)
cat "$@" > "$tmp"
python3 "$(dirname "$0")/../fake_kconfig.py" merge "$tmp" "$dir/.config"
rm -f "$tmp"
