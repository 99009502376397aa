"""The build cache's file locks (``flock``) and the one order they are taken in.

Every lock is a file under the cache; a lock dies with its process (a SIGKILLed build never
leaves a stale lock). Order, outermost first, so no two processes can wait on each other:

1. **tree** (``<cache>/locks/tree-<digest>.lock``, per source tree or repository path):
   builders hold it *shared* from reading the tree's state until the artifacts are copied;
   resetting the default tree to re-apply patch series holds it *exclusive*.
2. **slot** (``builds/<slot>/lock``): exclusive for a build into the slot's ``out/``.
3. **worktree** (``worktrees/<name>.lock``): exclusive from the checkout of a ``--rev`` build
   until its artifacts are copied, so two revisions never share one checkout.
4. **lease** (``results/<key>/.lease``): *shared* while a result is looked up or in use
   (a run booting it); pruning takes it exclusive without waiting and skips what it cannot get.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from orchestrator import ui
from orchestrator.paths import cache_root


@contextlib.contextmanager
def hold(path: Path, *, shared: bool = False, what: str = "") -> Iterator[IO[str]]:
    """Hold the lock file ``path`` (created if needed) for the block; says so when waiting."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
    with open(path, "a") as f:
        try:
            fcntl.flock(f, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            if what:
                ui.say("build", f"waiting for {what} ({path})")
            fcntl.flock(f, mode)
        yield f


def try_exclusive(path: Path) -> IO[str] | None:
    """The open, exclusively locked file, or None when someone holds it (or it is gone)."""
    try:
        f = open(path, "a")  # noqa: SIM115 - returned to the caller, who closes it
    except OSError:
        return None
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    return f


def tree_lock(tree: Path, root: Path | None = None) -> Path:
    """The lock file of a source tree (keyed by its resolved path)."""
    digest = hashlib.sha256(str(tree.resolve()).encode()).hexdigest()[:16]
    return (root or cache_root()) / "locks" / f"tree-{tree.name}-{digest}.lock"
