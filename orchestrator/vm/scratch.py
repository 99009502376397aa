"""Per-process scratch space for guests: QMP sockets and the joined initrd, never leaked.

Layout: ``<tmp>/pgo-orch-<uid>/<pid>-<random>/`` holds one directory per machine
(``vm-XXXX/qmp.sock``, ``vm-XXXX/initrd.cpio.gz``). The process holds an exclusive
``flock`` on ``<pid>-<random>.lock`` for as long as it lives; the kernel drops the lock when
the process dies, however it dies (SIGKILL included). Whoever opens scratch space next removes
every sibling whose lock is free, so a killed pgo-orch leaves nothing behind for long.
A machine's directory is removed when the machine is torn down.

``PGO_ORCH_SCRATCH`` overrides the base directory (tests). Unix socket paths must stay under
108 bytes, so the base is short and outside the run directory.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import shutil
import tempfile
import threading
from pathlib import Path

_lock = threading.Lock()
_mine: tuple[int, Path, int] | None = None  # (pid, directory, lock fd)


def base_dir() -> Path:
    env = os.environ.get("PGO_ORCH_SCRATCH")
    if env:
        return Path(env)
    return Path(tempfile.gettempdir()) / f"pgo-orch-{os.getuid()}"


def _sweep(base: Path, keep: Path | None) -> None:
    """Remove the scratch directories of processes that are gone (their lock is free)."""
    for lockfile in base.glob("*.lock"):
        owner = lockfile.with_suffix("")
        if keep is not None and owner == keep:
            continue
        try:
            fd = os.open(lockfile, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # alive
        try:
            shutil.rmtree(owner, ignore_errors=True)
            lockfile.unlink(missing_ok=True)
        finally:
            os.close(fd)


def process_dir() -> Path:
    """This process's scratch directory (created, and stale ones swept, on first use)."""
    global _mine
    with _lock:
        pid = os.getpid()
        if _mine is not None and _mine[0] == pid and _mine[1].is_dir():
            return _mine[1]
        base = base_dir()
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        # lock first, then the directory: a sweeper never sees a directory without its lock
        while True:
            name = f"{pid}-{os.urandom(4).hex()}"
            try:
                fd = os.open(base / f"{name}.lock", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
                break
            except FileExistsError:
                continue
        fcntl.flock(fd, fcntl.LOCK_EX)
        mine = base / name
        mine.mkdir(mode=0o700)
        if _mine is None:
            atexit.register(release)
        _mine = (pid, mine, fd)
        _sweep(base, keep=mine)
        return mine


def new_dir(prefix: str = "vm-") -> Path:
    """A fresh directory under this process's scratch space."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir=process_dir()))


def release() -> None:
    """Remove this process's scratch space now (at exit; the sweep covers a hard death)."""
    global _mine
    with _lock:
        if _mine is None or _mine[0] != os.getpid():
            return
        _, mine, fd = _mine
        _mine = None
        shutil.rmtree(mine, ignore_errors=True)
        with contextlib.suppress(OSError):
            mine.with_suffix(".lock").unlink()
        os.close(fd)
