"""Building any commit of a tree without touching it: one scratch git worktree per tree.

All revisions of a tree share that worktree (and so the build's out directory), so moving
from one commit to the next rebuilds only what changed, which series and bisect rely on.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from orchestrator.errors import InfraError, InvalidInput
from orchestrator.paths import cache_root


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          timeout=600, check=False)


def resolve_rev(repo: Path, rev: str) -> str:
    """The full commit id of ``rev`` in ``repo``; InvalidInput if it is not a commit there."""
    if not rev or rev.startswith("-") or any(c in rev for c in "\0\n "):
        raise InvalidInput(f"bad revision {rev!r}", field="--rev")
    proc = _git(repo, "rev-parse", "--verify", "-q", f"{rev}^{{commit}}")
    if proc.returncode != 0:
        raise InvalidInput(f"{rev!r} is not a commit in {repo} (is it a git repository?)",
                           field="--rev", reason="unknown-rev")
    return proc.stdout.strip()


def path_for(repo: Path) -> Path:
    """The scratch worktree of ``repo`` (in the cache, named after the repository path)."""
    digest = hashlib.sha256(str(repo.resolve()).encode()).hexdigest()[:12]
    return cache_root() / "worktrees" / f"{repo.name}-{digest}"


def checkout(repo: Path, wt: Path, commit: str) -> None:
    """Put ``wt`` at ``commit`` (detached); files that do not change keep their mtimes."""
    if not (wt / ".git").exists():
        wt.parent.mkdir(parents=True, exist_ok=True)
        _git(repo, "worktree", "prune")
        proc = _git(repo, "worktree", "add", "-f", "--detach", str(wt), commit)
    else:
        proc = _git(wt, "checkout", "-q", "-f", "--detach", commit)
    if proc.returncode != 0:
        raise InfraError(f"git could not check out {commit} into {wt}: {proc.stderr.strip()}",
                         reason="checkout-failed")
