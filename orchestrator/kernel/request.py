"""What to build and its checked form: ``BuildRequest`` -> :func:`prepare` -> ``Prepared``.

``prepare`` validates every input (exit 3 on bad input) and computes the two identities the
cache works with: the *slot* (tree path, base config name, fragment names, toolchain, make
arguments: one ``out/`` directory, so a changed file rebuilds incrementally) and the *key*
(the slot plus the tree state and every input's content: one finished result). Defaults for
a request (default tree, fragments, jobs) are applied by ``kernel.defaults.resolve_request``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator import __version__
from orchestrator.errors import InvalidInput
from orchestrator.git import resolve_commit
from orchestrator.kernel import fragments as fr
from orchestrator.kernel import toolchain, worktree
from orchestrator.kernel.tree import TreeState, check_tree, tree_state

ARCH = "x86_64"
BASE_CONFIGS = ("tinyconfig", "defconfig", "allnoconfig")
DEFAULT_TARGETS = ("vmlinux", "bzImage")
#: Fixed build identity: the same inputs give the same kernel image.
REPRO_ENV = {
    "KBUILD_BUILD_TIMESTAMP": "Thu Jan  1 00:00:00 UTC 2026",
    "KBUILD_BUILD_USER": "pgo-orch",
    "KBUILD_BUILD_HOST": "pgo-orch",
}


@dataclass
class BuildRequest:
    """What to build; every field takes user input and is checked by :func:`prepare`."""

    tree: Path
    base_config: str = "tinyconfig"
    fragments: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)
    jobs: int = os.cpu_count() or 1
    llvm: str = "1"
    targets: tuple[str, ...] = DEFAULT_TARGETS
    #: build this commit of ``tree`` (a git rev) in a scratch worktree, leaving ``tree`` alone
    rev: str | None = None


@dataclass
class Prepared:
    """A checked request: resolved tree, fragments, requests, toolchain, keys."""

    request: BuildRequest
    tree: Path
    state: TreeState
    tools: toolchain.Toolchain
    base_file: Path | None
    fragments: list[fr.Fragment]
    options: list[fr.Request]
    requests: dict[str, fr.Request]
    slot: str
    key: str
    #: (repository, commit) to check out into ``tree`` (a worktree) before building
    checkout: tuple[Path, str] | None = None

    def make_args(self) -> list[str]:
        return [f"LLVM={self.tools.llvm}", f"ARCH={ARCH}"]

    @property
    def source(self) -> Path:
        """The tree the user named: the repository for a ``--rev`` build, else the tree."""
        return self.checkout[0] if self.checkout else self.tree


def sha(*parts: str | bytes) -> str:
    """sha256 over ``parts`` with a separator (so ("ab", "c") != ("a", "bc"))."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else p.encode())
        h.update(b"\0")
    return h.hexdigest()


def prepare(req: BuildRequest) -> Prepared:
    """Check every input (exit 3 on bad input) and compute the slot and cache key."""
    tree = check_tree(req.tree)
    if req.jobs < 1:
        raise InvalidInput(f"jobs must be at least 1, got {req.jobs}", field="--jobs")
    base_file: Path | None = None
    if req.base_config not in BASE_CONFIGS:
        base_file = Path(req.base_config).expanduser()
        if not base_file.is_file():
            raise InvalidInput(
                f"base config {req.base_config!r} is neither one of "
                f"{', '.join(BASE_CONFIGS)} nor an existing file",
                field="--config",
                reason="bad-base-config",
            )
        base_file = base_file.resolve()
    frags = [fr.resolve_fragment(s) for s in req.fragments]
    options = [fr.parse_option(o) for o in req.options]
    tools = toolchain.detect(req.llvm)
    checkout: tuple[Path, str] | None = None
    if req.rev:
        commit = resolve_commit(tree, req.rev)
        repo, tree = tree, worktree.path_for(tree)
        checkout = (repo, commit)
        state = TreeState(tree, commit, False, hashlib.sha256(commit.encode()).hexdigest())
    else:
        state = tree_state(tree)
    requests = fr.merged_requests(frags, options)
    make_args = [f"LLVM={tools.llvm}", f"ARCH={ARCH}", *req.targets]
    slot = sha(
        str(tree),
        req.base_config,
        *(f.name for f in frags),
        json.dumps(tools.versions, sort_keys=True),
        *make_args,
    )[:16]
    key = sha(
        slot,
        __version__,
        state.digest,
        fr.read_text(base_file) if base_file else req.base_config,
        *(fr.read_text(f.path) for f in frags),
        *(o.line for o in options),
    )[:24]
    return Prepared(req, tree, state, tools, base_file, frags, options, requests, slot, key,
                    checkout)
