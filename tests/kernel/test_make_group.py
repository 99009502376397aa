"""A stopped build leaves nothing running (issue 9 item 9): make runs in its own process
group, and on SIGTERM the whole group is killed and waited for before the locks go."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

FAKE_MAKE = r"""#!/bin/sh
# Config targets go to the real make; the build forks a "sub-make" that keeps writing into
# the out directory after this parent is gone.
case " $* " in
*" vmlinux "*) ;;
*) exec /usr/bin/make "$@" ;;
esac
for a in "$@"; do case "$a" in O=*) out=${a#O=} ;; esac; done
sh -c 'i=0; while [ $i -lt 15 ]; do sleep 0.1; i=$((i+1)); done; echo late > "$1/late-write"' \
    sub-make "$out" &
echo $! > "$MARKER.sub"
echo $$ > "$MARKER"
echo "  CC      init/main.o"
sleep 60
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose
    try:
        return "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return False


def test_sigterm_kills_sub_makes_before_unlocking(
    cache: Path, fake_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    make = bin_dir / "make"
    make.write_text(FAKE_MAKE)
    make.chmod(0o755)
    frag = tmp_path / "f.config"
    frag.write_text("CONFIG_DEBUG_KERNEL=y\n")
    marker = tmp_path / "make.pid"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "MARKER": str(marker)}
    argv = ["build", "--tree", str(fake_tree), "-j", "1", "-f", str(frag)]
    proc = subprocess.Popen(
        [sys.executable, "-c", f"import sys; from orchestrator import cli; "
         f"sys.exit(cli.main({argv!r}))"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (marker.exists() and (tmp_path / "make.pid.sub").exists()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "fake make never started"
        time.sleep(0.05)
    time.sleep(0.2)
    make_pid = int(marker.read_text())
    sub_pid = int((tmp_path / "make.pid.sub").read_text())
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "interrupted" in err
    # by the time pgo-orch has exited, make and the sub-make are gone ...
    assert not _alive(make_pid) and not _alive(sub_pid)
    # ... the slot lock is free ...
    (lock,) = cache.glob("builds/*/lock")
    with open(lock) as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    # ... and nothing writes into the out directory afterwards
    time.sleep(2.0)
    (out,) = cache.glob("builds/*/out")
    assert not (out / "late-write").exists()
