"""Building any commit of a tree without touching it: one scratch git worktree per tree.

All revisions of a tree share that worktree (and so the build's out directory), so moving
from one commit to the next rebuilds only what changed, which series and bisect rely on.
A build holds the worktree's lock (:func:`lock_path`) from its checkout until its artifacts
are copied, so two builds of different revisions never mix sources.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from orchestrator.errors import InfraError
from orchestrator.git import git_try
from orchestrator.paths import cache_root


def path_for(repo: Path) -> Path:
    """The scratch worktree of ``repo`` (in the cache, named after the repository path)."""
    digest = hashlib.sha256(str(repo.resolve()).encode()).hexdigest()[:12]
    return cache_root() / "worktrees" / f"{repo.name}-{digest}"


def lock_path(wt: Path) -> Path:
    """The lock file a build holds while it uses the worktree ``wt``."""
    return wt.with_name(wt.name + ".lock")


def checkout(repo: Path, wt: Path, commit: str) -> None:
    """Put ``wt`` at ``commit`` (detached); files that do not change keep their mtimes.

    The caller holds :func:`lock_path` of ``wt``.
    """
    if not (wt / ".git").exists():
        wt.parent.mkdir(parents=True, exist_ok=True)
        git_try(repo, "worktree", "prune")
        proc = git_try(repo, "worktree", "add", "-f", "--detach", str(wt), commit)
    else:
        proc = git_try(wt, "checkout", "-q", "-f", "--detach", commit)
    if proc.returncode != 0:
        raise InfraError(f"git could not check out {commit} into {wt}: {proc.stderr.strip()}",
                         reason="checkout-failed")
