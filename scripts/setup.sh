#!/bin/sh
# Installs what pgo-orch needs on Debian 12, idempotently: system packages with apt (only the
# missing ones), then a virtualenv in .venv with pgo-orch and its test tools.
set -eu
cd "$(dirname "$0")/.."

PACKAGES="clang lld llvm make flex bison bc libelf-dev libssl-dev cpio xz-utils git
linux-source-6.1 qemu-system-x86 qemu-utils busybox-static dropbear-bin stress-ng python3-venv"

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
