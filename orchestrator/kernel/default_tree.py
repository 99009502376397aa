"""The embedded default kernel tree: Debian's linux-source-6.1 made into a git repository.

The tarball is unpacked once into the cache and committed with a fixed author and date, so
the base commit has the same hash on every machine.  Patch series from ``kernel-patches/``
are applied on top as commits (``git am``), so series and bisect work on the result.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from orchestrator import proc, tools
from orchestrator.errors import InfraError, ToolMissing
from orchestrator.git import FIXED_IDENTITY, git_try
from orchestrator.git import git as run_git
from orchestrator.kernel import locks
from orchestrator.paths import KERNEL_PATCHES, cache_root

#: from tools.toml [files.linux-source-6.1] (Debian's package puts it there)
DEFAULT_TARBALL = tools.table().files["linux-source-6.1"].path
DEFAULT_NAME = "linux-source-6.1"
#: Series applied to the default tree, in order (directories under kernel-patches/).
DEFAULT_SERIES: tuple[str, ...] = ()

def _log(msg: str) -> None:
    print(f"[tree] {msg}", file=sys.stderr, flush=True)


def git(tree: Path, *args: str, timeout: float = 600.0, check: bool = True) -> str:
    """Run git in ``tree`` with pgo-orch's fixed identity; returns stdout."""
    if check:
        return run_git(tree, *args, env=FIXED_IDENTITY, timeout=timeout)
    return git_try(tree, *args, env=FIXED_IDENTITY, timeout=timeout).stdout


def series_patches(series: str, patches_root: Path = KERNEL_PATCHES) -> list[Path]:
    """The patch files of one series under kernel-patches/, in order."""
    return sorted((patches_root / series).glob("*.patch"))


def series_digest(series: Sequence[str], patches_root: Path = KERNEL_PATCHES) -> str:
    """A digest over the series names and their patch files' bytes."""
    h = hashlib.sha256()
    for name in series:
        h.update(name.encode() + b"\0")
        for patch in series_patches(name, patches_root):
            h.update(patch.name.encode() + b"\0" + patch.read_bytes())
    return h.hexdigest()[:16]


def ensure_default_tree(
    series: Sequence[str] = DEFAULT_SERIES,
    *,
    tarball: Path = DEFAULT_TARBALL,
    root: Path | None = None,
    patches_root: Path = KERNEL_PATCHES,
    side_series: Sequence[str] = (),
) -> Path:
    """Return the default tree, unpacking and committing it (and applying ``series``) if needed.

    Every applied patch is a commit tagged ``<series>/<NNNN>`` (its file's number), so any
    step can be built with ``--rev``. ``side_series`` (e.g. the regression fixtures) are
    applied on a branch of that name on top of ``series``; the checkout stays on the main
    branch.

    The directory name encodes the series names, so the plain and patched trees live side by
    side. When the series' patches change, the same directory is reset to the base commit
    (tag ``pgo-orch-base``) and the new series applied, so the build's out directory stays
    valid and only the files the patches touch are rebuilt.
    """
    base = (root or cache_root()) / "trees"
    base.mkdir(parents=True, exist_ok=True)
    name = DEFAULT_NAME + "".join(f"+{s}" for s in series)
    tree = base / name
    stamp = tree / ".git" / "pgo-orch-ready"
    want = series_digest([*series, *side_series], patches_root)
    if _stamp(stamp) == want:
        return tree
    if not tarball.exists() and not tree.exists():
        raise ToolMissing(str(tarball), tools.file_hint("linux-source-6.1"))
    with open(base / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _stamp(stamp) == want:
            return tree
        if tree.exists():
            # builders hold the tree's lock shared from reading its state to copying their
            # artifacts: the reset waits for them, and new builds wait for the reset
            with locks.hold(locks.tree_lock(tree, root), what="builds using the tree to "
                            "finish before it is reset"):
                _reset(tree, series, side_series, patches_root)
        else:
            tmp = base / f".{name}.partial"
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir()
            _log(f"unpacking {tarball} into {tree} (once)")
            proc.run(["tar", "-xf", str(tarball), "-C", str(tmp), "--strip-components=1"],
                     timeout=1800)
            if not (tmp / "Makefile").exists():
                raise InfraError(f"{tarball} did not unpack to a kernel tree",
                                 reason="bad-tarball")
            git(tmp, "init", "-q")
            git(tmp, "config", "core.autocrlf", "false")
            git(tmp, "config", "gc.auto", "0")
            # -f: Debian's .gitignore ignores everything at the top level of the tarball
            git(tmp, "add", "-A", "-f", timeout=1800)
            git(tmp, "commit", "-q", "-m",
                f"Linux {_kernel_version(tmp)} (Debian {tarball.name})")
            git(tmp, "tag", "pgo-orch-base")
            _apply(tmp, series, patches_root)
            _apply_side(tmp, side_series, patches_root)
            tmp.rename(tree)
        stamp.write_text(want + "\n")
    return tree


def _reset(tree: Path, series: Sequence[str], side_series: Sequence[str],
           patches_root: Path) -> None:
    _log(f"patch series changed: resetting {tree} to the base and re-applying")
    git(tree, "am", "--abort", check=False)
    main = _main_branch(tree)
    git(tree, "checkout", "-q", "-f", main)
    git(tree, "reset", "-q", "--hard", "pgo-orch-base")
    for tag in git(tree, "tag", "-l").split():
        if "/" in tag:
            git(tree, "tag", "-d", tag)
    for side in side_series:
        git(tree, "branch", "-D", side, check=False)
    _apply(tree, series, patches_root)
    _apply_side(tree, side_series, patches_root)


def _stamp(stamp: Path) -> str | None:
    try:
        return stamp.read_text().strip()
    except OSError:
        return None


def _apply(tree: Path, series: Sequence[str], patches_root: Path) -> None:
    for s in series:
        patches = series_patches(s, patches_root)
        if not patches:
            raise InfraError(f"patch series {s} has no patches in {patches_root / s}",
                             reason="missing-series")
        _log(f"applying series {s} ({len(patches)} patches)")
        for patch in patches:
            git(tree, "am", "-q", "--committer-date-is-author-date", str(patch))
            number = patch.name.split("-", 1)[0]
            git(tree, "tag", "-f", f"{s}/{number}")


def _main_branch(tree: Path) -> str:
    for name in ("master", "main"):
        if git(tree, "rev-parse", "--verify", "-q", f"refs/heads/{name}", check=False).strip():
            return name
    return "master"


def _apply_side(tree: Path, side_series: Sequence[str], patches_root: Path) -> None:
    """Apply each side series on its own branch off the main branch's tip."""
    if not side_series:
        return
    main = git(tree, "rev-parse", "--abbrev-ref", "HEAD").strip()
    for side in side_series:
        git(tree, "checkout", "-q", "-b", side, main)
        _apply(tree, [side], patches_root)
    git(tree, "checkout", "-q", main)


def _kernel_version(tree: Path) -> str:
    fields: dict[str, str] = {}
    for line in (tree / "Makefile").read_text(errors="replace").splitlines()[:40]:
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    return ".".join(
        x for x in (fields.get("VERSION"), fields.get("PATCHLEVEL"), fields.get("SUBLEVEL")) if x
    )
