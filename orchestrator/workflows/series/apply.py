"""Applying a series one patch at a time, away from the user's checkout.

The patches are applied with ``git am -3`` on a detached HEAD in a scratch worktree of the
user's repository (``<cache>/series-worktrees/<tree>-<digest>``, one per repository, held
with a lock while in use). The user's checkout, branches, index and stash are never touched;
the applied commits are kept from garbage collection by one ref outside ``refs/heads``
(``refs/pgo-orch/series/<patchset hash>``), so ``git branch`` shows nothing new. Commits get
pgo-orch's fixed committer and the author's date as commit date, so the same series on the
same base gives the same commit ids on every run (and the build cache finds them again).
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from orchestrator.git import FIXED_IDENTITY, git, git_try
from orchestrator.kernel import locks
from orchestrator.paths import cache_root
from orchestrator.workflows.series.inputs import Patch

_COMMITTER = {k: v for k, v in FIXED_IDENTITY.items() if k.startswith("GIT_COMMITTER_")
              and k != "GIT_COMMITTER_DATE"}


@dataclass
class ApplyFailure:
    """The patch that did not apply, with git's own words."""

    number: int
    subject: str
    message: str

    def to_json(self) -> dict[str, object]:
        return {"number": self.number, "subject": self.subject, "message": self.message}


def scratch_path(repo: Path) -> Path:
    digest = hashlib.sha256(str(repo.resolve()).encode()).hexdigest()[:12]
    return cache_root() / "series-worktrees" / f"{repo.name}-{digest}"


@contextmanager
def scratch_worktree(repo: Path, base: str) -> Iterator[Path]:
    """The repository's scratch worktree, locked and detached at ``base``, clean.

    Holds the tree's lock shared (the kernel build's lock order: tree first), so a reset
    of the default tree never happens under a running ``git am``."""
    wt = scratch_path(repo)
    wt.parent.mkdir(parents=True, exist_ok=True)
    # the tree shared (a default-tree reset waits), then this worktree exclusive
    with locks.hold(locks.tree_lock(repo), shared=True, what="the tree"), \
            open(wt.parent / f".{wt.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            _reset(repo, wt, base)
            yield wt
        finally:
            _abort(wt)


def _reset(repo: Path, wt: Path, base: str) -> None:
    if not (wt / ".git").exists():
        git(repo, "worktree", "prune")
        git(repo, "worktree", "add", "-f", "--detach", str(wt), base)
        return
    _abort(wt)
    git(wt, "checkout", "-q", "-f", "--detach", base)
    git(wt, "clean", "-q", "-f", "-d", "-x")


def _abort(wt: Path) -> None:
    if (wt / ".git").exists():
        git_try(wt, "am", "--abort")


def apply_patches(repo: Path, wt: Path, patches: list[Patch], ref: str,
                  log: IO[str]) -> ApplyFailure | None:
    """``git am -3`` each patch in order; sets ``patch.commit``; the first failure stops.

    ``ref`` (outside refs/heads) is moved to the newest applied commit after each patch."""
    for patch in patches:
        log.write(f"=== [{patch.number}/{len(patches)}] {patch.subject}\n")
        log.write(f"$ git am -3 {patch.file.name}\n")
        log.flush()
        proc = git_try(wt, "am", "-3", "--committer-date-is-author-date", "--keep-cr",
                       str(patch.file), env=_COMMITTER)
        log.write(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            message = (proc.stderr.strip() or proc.stdout.strip())
            git_try(wt, "am", "--abort")
            log.write(f"--- patch {patch.number} does not apply; series stopped\n")
            log.flush()
            return ApplyFailure(patch.number, patch.subject, message)
        patch.commit = git(wt, "rev-parse", "HEAD").strip()
        git(repo, "update-ref", "-m", "pgo-orch series", ref, patch.commit)
        log.write(f"--- applied as {patch.commit}\n")
        log.flush()
    return None
