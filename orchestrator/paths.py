"""Where pgo-orch keeps its data files and its cache."""

from __future__ import annotations

import os
from pathlib import Path

#: The project root: kernel-configs/, rootfs/, scenarios/ and kernel-patches/ live here.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

KERNEL_CONFIGS = PROJECT_ROOT / "kernel-configs"
ROOTFS_DIR = PROJECT_ROOT / "rootfs"
SCENARIOS_DIR = PROJECT_ROOT / "scenarios"
KERNEL_PATCHES = PROJECT_ROOT / "kernel-patches"


def cache_root() -> Path:
    """$PGO_ORCH_CACHE, else $XDG_CACHE_HOME/pgo-orch, else ~/.cache/pgo-orch."""
    env = os.environ.get("PGO_ORCH_CACHE")
    if env:
        return Path(env).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return (base / "pgo-orch").resolve()
