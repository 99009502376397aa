"""A kernel source tree: validation and the state that identifies a build input."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import InfraError, InvalidInput
from orchestrator.git import git_bytes


@dataclass(frozen=True)
class TreeState:
    """What the build cache keys on: the commit plus a digest of any uncommitted change."""

    path: Path
    commit: str | None  # None for a tree that is not a git repository
    dirty: bool
    digest: str  # covers commit and uncommitted changes (or file stats for non-git trees)


def check_tree(path: Path) -> Path:
    """The resolved tree path, or InvalidInput if it is not a kernel source tree."""
    p = path.expanduser()
    if not p.exists():
        raise InvalidInput(
            f"kernel tree {path} does not exist", field="--tree", reason="no-such-tree"
        )
    p = p.resolve()
    missing = [
        f
        for f in ("Makefile", "Kconfig", "scripts/kconfig/merge_config.sh")
        if not (p / f).is_file()
    ]
    if missing or "VERSION =" not in (p / "Makefile").read_text(errors="replace")[:400]:
        what = ", ".join(missing) if missing else "a kernel top-level Makefile"
        raise InvalidInput(
            f"{p} is not a kernel source tree (missing {what})",
            field="--tree",
            reason="not-a-kernel-tree",
        )
    if (p / ".config").exists() or (p / "include" / "config").is_dir():
        raise InvalidInput(
            f"{p} has been configured in place (.config present); pgo-orch builds "
            "out of tree: run 'make mrproper' in it first",
            field="--tree",
            reason="tree-not-clean",
        )
    return p


def _git(tree: Path, *args: str) -> bytes | None:
    try:
        return git_bytes(tree, *args, timeout=300)
    except InfraError:  # git missing or too slow: treat the tree as not a repository
        return None


def tree_state(tree: Path) -> TreeState:
    """Identify the tree's content cheaply: git commit + diff, or a stat walk without git."""
    top = _git(tree, "rev-parse", "--show-toplevel")
    if top is not None and Path(top.decode().strip()).resolve() == tree.resolve():
        commit = (_git(tree, "rev-parse", "HEAD") or b"").decode().strip() or None
        h = hashlib.sha256()
        h.update((commit or "").encode())
        status = _git(tree, "status", "--porcelain=v1", "-z", "--untracked-files=all") or b""
        dirty = bool(status)
        if dirty:
            h.update(status)
            h.update(_git(tree, "diff", "HEAD", "--binary") or b"")
            for entry in status.split(b"\0"):
                if entry.startswith(b"?? "):
                    f = tree / entry[3:].decode(errors="surrogateescape")
                    if f.is_file():
                        h.update(entry)
                        h.update(f.read_bytes())
        return TreeState(tree, commit, dirty, h.hexdigest())
    h = hashlib.sha256()
    for f in sorted(tree.rglob("*")):
        if f.is_file() and ".git" not in f.parts:
            st = f.stat()
            h.update(f"{f.relative_to(tree)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return TreeState(tree, None, True, h.hexdigest())
