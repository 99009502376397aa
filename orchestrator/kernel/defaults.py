"""What ``pgo-orch build`` uses when the user names no tree or no fragments."""

from __future__ import annotations

from pathlib import Path

from orchestrator.kernel.default_tree import ensure_default_tree, series_patches
from orchestrator.paths import KERNEL_CONFIGS

#: Patch series applied to Debian's linux-source-6.1 to make the default tree, in order.
PGO_SERIES = "pgo-clang"
#: Regression fixtures, on a branch of the default tree (tags pgo-fixtures/0001 ...).
FIXTURE_SERIES = "pgo-fixtures"
#: Side series, each on its own branch off the PGO tip (tags <series>/0001 ...).
#: pgo-deadlock: the prf_open() bug whose report deadlocks in value profiling (issue 9).
SIDE_SERIES: tuple[str, ...] = (FIXTURE_SERIES, "pgo-deadlock")


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
    side = tuple(s for s in SIDE_SERIES if series_patches(s)) if default_series() else ()
    return ensure_default_tree(default_series(), side_series=side)
