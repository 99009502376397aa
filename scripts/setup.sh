#!/bin/sh
# Installs what pgo-orch needs on Debian 12, idempotently: system packages with apt (only the
# missing ones), then a virtualenv in .venv with pgo-orch and its test tools.
set -eu
cd "$(dirname "$0")/.."

# The package list lives in orchestrator/tools.toml (one place for what provides what). This
# runs before the virtualenv exists: python3's tomllib when there is one, else the file's
# `package = "..."` lines and its [setup] packages line.
TOOLS=orchestrator/tools.toml
list_packages() {
    python3 -c '
import sys, tomllib
d = tomllib.load(open(sys.argv[1], "rb"))
names = [t["package"] for t in d.get("tools", {}).values()]
names += [f["package"] for f in d.get("files", {}).values()]
names += d.get("setup", {}).get("packages", [])
seen = []
for n in names:
    for p in n.split():
        if p not in seen:
            seen.append(p)
print(" ".join(seen))' "$TOOLS" 2>/dev/null && return
    { sed -n 's/^package = "\(.*\)"$/\1/p' "$TOOLS"
      sed -n 's/^packages = \[\(.*\)\]$/\1/p' "$TOOLS" | tr -d '",'
    } | tr ' ' '\n' | awk 'NF && !seen[$0]++' | tr '\n' ' ' | sed 's/ $/\n/'
}
PACKAGES=$(list_packages)
if [ "${1:-}" = "--list-packages" ]; then
    echo "$PACKAGES"
    exit 0
fi

missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "setup: installing:$missing" >&2
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
    # shellcheck disable=SC2086
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -c 'import sys; assert sys.version_info >= (3, 11), "pgo-orch needs Python >= 3.11"'
    "$PY" -m venv .venv
fi
stamp=.venv/.pgo-orch-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[dev]'
    touch "$stamp"
fi
