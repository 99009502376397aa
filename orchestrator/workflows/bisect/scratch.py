"""git's own bisect machinery, driven in a scratch worktree that never has files checked out.

The worktree is created with ``git worktree add --no-checkout`` under the cache and the
bisection is started with ``git bisect start --no-checkout``: git keeps the candidate in
``BISECT_HEAD`` and its state (``BISECT_LOG``, ``refs/bisect/*``) per worktree, so the
user's checkout, its HEAD, its files and any bisection the user has going are never touched.
Kernel builds happen elsewhere (the build's own scratch worktree, by commit id).

All git calls go through :mod:`orchestrator.git`; revisions are full commit ids resolved
before they reach a command line.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.errors import InvalidInput
from orchestrator.git import GitError, git, git_try, resolve_commit
from orchestrator.paths import cache_root

_FIRST = re.compile(r"^([0-9a-f]{40}) is the first (\S+) commit", re.M)
_SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class Terms:
    """git's names for the older and the newer side of the bisection."""

    old: str = "good"
    new: str = "bad"


#: a fix bisection: the bug is present on the old side, gone on the new one
FIX_TERMS = Terms(old="broken", new="fixed")


@dataclass
class State:
    """Where the bisection stands: a commit to test, one answer, or a range of candidates."""

    next_commit: str | None = None
    first: str | None = None  # the first "new" commit (the culprit, or the fix)
    candidates: list[str] = field(default_factory=list)  # only skipped commits left
    remaining: str = ""  # git's "Bisecting: N revisions left ..." line

    @property
    def done(self) -> bool:
        return self.next_commit is None


def worktree_for(tree: Path, session: Path) -> Path:
    """The scratch worktree of one bisection (named after the tree and the output dir)."""
    digest = hashlib.sha256(f"{tree.resolve()}\0{session.resolve()}".encode()).hexdigest()
    return cache_root() / "bisect" / f"{tree.name}-{digest[:12]}"


class ScratchBisect:
    """One bisection of ``tree`` in its own worktree."""

    def __init__(self, tree: Path, wt: Path, terms: Terms = Terms()) -> None:
        self.tree = tree
        self.wt = wt
        self.terms = terms

    # -- lifecycle -------------------------------------------------------------------------
    def create(self, at: str) -> None:
        """(Re)create the empty worktree, detached at ``at``."""
        if self.wt.exists():
            self.remove()
        self.wt.parent.mkdir(parents=True, exist_ok=True)
        git(self.tree, "worktree", "add", "-f", "--no-checkout", "--detach", str(self.wt), at)

    def remove(self) -> None:
        """Drop the worktree and its bisect state (the user's repository keeps no trace)."""
        git_try(self.tree, "worktree", "remove", "--force", str(self.wt))
        if self.wt.exists():
            shutil.rmtree(self.wt, ignore_errors=True)
        git_try(self.tree, "worktree", "prune")

    def start(self, new: str, old: str) -> State:
        args = ["bisect", "start", "--no-checkout"]
        if self.terms != Terms():
            args += [f"--term-old={self.terms.old}", f"--term-new={self.terms.new}"]
        git(self.wt, *args, new, old)
        return self.state()

    def replay(self, log: Path) -> State:
        """Rebuild the state from a ``bisect.log`` written by :meth:`log`."""
        proc = git_try(self.wt, "bisect", "replay", str(log))
        if proc.returncode not in (0, 2):  # 2: "only skipped commits left"
            raise InvalidInput(f"git bisect replay failed: {(proc.stderr or proc.stdout)}",
                               path=str(log), reason="bad-bisect-log")
        return self.state()

    # -- steps -----------------------------------------------------------------------------
    def mark(self, commit: str, term: str) -> State:
        """Record ``term`` (old, new or "skip") for ``commit``; returns the new state."""
        if term not in (self.terms.old, self.terms.new, "skip") or not _SHA.match(commit):
            raise ValueError(f"bad mark {term} {commit}")
        proc = git_try(self.wt, "bisect", term, commit)
        if proc.returncode not in (0, 2):
            raise GitError(f"git bisect {term} {commit} failed: "
                           f"{(proc.stderr or proc.stdout).strip()}",
                           stderr=proc.stderr, returncode=proc.returncode)
        # git's answer to the mark says where the bisection stands ("git bisect next" would
        # log the first bad commit a second time)
        return self._parse(proc)

    def state(self) -> State:
        return self._parse(git_try(self.wt, "bisect", "next"))

    def _parse(self, proc: subprocess.CompletedProcess[str]) -> State:
        out = proc.stdout
        first = _FIRST.search(out)
        if first:
            return State(first=first.group(1))
        if "only 'skip'ped commits left" in out:
            cands = [ln.strip() for ln in out.splitlines() if _SHA.match(ln.strip())]
            return State(candidates=cands)
        if proc.returncode != 0:
            raise GitError(f"git bisect next failed in {self.wt}: "
                           f"{(proc.stderr or out).strip()}", stderr=proc.stderr,
                           returncode=proc.returncode)
        remaining = next((ln for ln in out.splitlines() if ln.startswith("Bisecting:")), "")
        head = git(self.wt, "rev-parse", "--verify", "BISECT_HEAD").strip()
        return State(next_commit=head, remaining=remaining)

    def log(self) -> str:
        """``git bisect log`` (a repeated conclusion line is kept once)."""
        lines: list[str] = []
        for ln in git(self.wt, "bisect", "log").splitlines():
            if not (lines and ln == lines[-1] and ln.startswith("# first ")):
                lines.append(ln)
        return "\n".join(lines) + "\n"

    def marked(self) -> set[str]:
        """Commits the log has a verdict for (including skips)."""
        out = git_try(self.wt, "bisect", "log").stdout
        return {m.group(1) for m in re.finditer(r"^git bisect \S+ ([0-9a-f]{40})$", out, re.M)}


def subject(tree: Path, commit: str) -> str:
    return git(tree, "log", "-1", "--format=%s", commit).strip()


def parent(tree: Path, commit: str) -> str | None:
    proc = git_try(tree, "rev-parse", "--verify", "-q", f"{commit}^")
    return proc.stdout.strip() if proc.returncode == 0 else None


def check_range(tree: Path, good: str, bad: str, *, fix: bool) -> tuple[str, str, int]:
    """Resolve both ends; the older one must be an ancestor of the newer. Returns (good,
    bad, number of commits in old..new)."""
    g = resolve_commit(tree, good, field="--good")
    b = resolve_commit(tree, bad, field="--bad")
    old, new = (b, g) if fix else (g, b)
    if old == new:
        raise InvalidInput("GOOD and BAD are the same commit", field="--good")
    if git_try(tree, "merge-base", "--is-ancestor", old, new).returncode != 0:
        if fix:
            raise InvalidInput(f"--bad {bad} must be an ancestor of --good {good} in a fix "
                               "bisection (the bug is present first, then fixed)",
                               field="--bad")
        raise InvalidInput(f"--good {good} is not an ancestor of --bad {bad} (use --fix to "
                           "find the commit that fixed a bug)", field="--good")
    count = int(git(tree, "rev-list", "--count", f"{old}..{new}").strip())
    return g, b, count


