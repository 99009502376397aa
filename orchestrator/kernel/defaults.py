"""What a build uses when the user names no tree, fragments or jobs: the one place request
defaults are applied (:func:`resolve_request`, for build, boot, run and the workflows)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from orchestrator.kernel.default_tree import ensure_default_tree, series_patches
from orchestrator.kernel.request import DEFAULT_TARGETS, BuildRequest
from orchestrator.paths import KERNEL_CONFIGS

#: Patch series applied to Debian's linux-source-6.1 to make the default tree, in order.
PGO_SERIES = "pgo-clang"
#: Regression fixtures, on a branch of the default tree (tags pgo-fixtures/0001 ...).
FIXTURE_SERIES = "pgo-fixtures"
#: Bisect fixtures, each on its own branch of the default tree (tags pgo-bisect/0001 ...):
#: 16 commits with the prf_open() bug brought in by 0009 (always, or on one open in three).
BISECT_SERIES = ("pgo-bisect", "pgo-bisect-flaky")


def default_series() -> tuple[str, ...]:
    """The PGO series when kernel-patches/ carries it, else none (plain 6.1)."""
    return (PGO_SERIES,) if series_patches(PGO_SERIES) else ()


def default_fragments() -> list[str]:
    """base + debug-atomic-sleep, and pgo-clang when the PGO series is available."""
    frags = ["base", "debug-atomic-sleep"]
    if default_series() and (KERNEL_CONFIGS / "pgo-clang").is_file():
        frags.append("pgo-clang")
    return frags


def default_tree() -> Path:
    side = tuple(s for s in (FIXTURE_SERIES, *BISECT_SERIES)
                 if default_series() and series_patches(s))
    return ensure_default_tree(default_series(), side_series=side)


def default_jobs() -> int:
    return os.cpu_count() or 1


def resolve_request(
    tree: Path | str | None = None,
    rev: str | None = None,
    base_config: str | None = "tinyconfig",
    fragments: Sequence[str] | None = None,
    options: Sequence[str] = (),
    jobs: int | None = None,
    llvm: str | None = "1",
    targets: Sequence[str] | None = None,
) -> BuildRequest:
    """A complete request from what the user gave; ``None`` means "the default".

    Default tree: the embedded linux-source-6.1 with the PGO series (unpacked and patched on
    first use); fragments: :func:`default_fragments`; jobs: the number of CPUs; base config:
    tinyconfig. Nothing is checked here: :func:`orchestrator.kernel.request.prepare` does.
    """
    return BuildRequest(
        tree=Path(tree) if tree is not None else default_tree(),
        base_config=base_config or "tinyconfig",
        fragments=list(fragments) if fragments is not None else default_fragments(),
        options=list(options),
        jobs=jobs if jobs is not None else default_jobs(),
        llvm=llvm or "1",
        targets=tuple(targets) if targets else DEFAULT_TARGETS,
        rev=rev or None,
    )
