"""Apply a mail's patch on top of a revision, as a new commit, without any checkout.

The patch is applied 3-way (``git apply --cached --3way``) into a temporary index file read
from the base commit, written as a tree and committed with pgo-orch's fixed identity.  Nobody's
working tree or index is touched (not the user's checkout, not the shared build worktree);
the commit gets a ref under ``refs/pgo-orch/reproduce/`` so it survives ``git gc``, and is then
built like any ``--rev``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from orchestrator.git import FIXED_IDENTITY, git, git_try


@dataclass(frozen=True)
class Applied:
    ok: bool
    commit: str | None
    message: str  # git's words when it did not apply

    def to_json(self) -> dict[str, object]:
        return {"applied": self.ok, "commit": self.commit, "message": self.message}


def apply_patch(repo: Path, base: str, patch_text: str, subject: str) -> Applied:
    """Commit ``patch_text`` on ``base`` (a full commit id) in ``repo``; see the docstring."""
    with tempfile.TemporaryDirectory(prefix="pgo-reproduce-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index"), **FIXED_IDENTITY}
        patch_file = Path(tmp) / "mail.patch"
        patch_file.write_text(patch_text)
        git(repo, "read-tree", base, env=env)
        proc = git_try(repo, "apply", "--cached", "--3way", "--whitespace=nowarn",
                       str(patch_file), env=env)
        if proc.returncode != 0:
            words = "\n".join(ln for ln in (proc.stderr + proc.stdout).splitlines()
                              if ln.strip())
            return Applied(False, None, words or f"git apply exited {proc.returncode}")
        wtree = git_try(repo, "write-tree", env=env)
        if wtree.returncode != 0:  # 3-way merge left conflicts in the index
            return Applied(False, None, "the patch applied only with conflicts: "
                           + (wtree.stderr or wtree.stdout).strip())
        message = f"pgo-orch reproduce: {subject or 'patch from a mail'}\n"
        commit = git(repo, "commit-tree", wtree.stdout.strip(), "-p", base, "-F", "-",
                     env=env, input_text=message).strip()
    git(repo, "update-ref", f"refs/pgo-orch/reproduce/{commit[:16]}", commit)
    return Applied(True, commit, "")
