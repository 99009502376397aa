"""Where pgo-orch keeps its data files and its cache.

The data directories (kernel-configs/, rootfs/, scenarios/, kernel-patches/) are at the top
of a checkout (and of an editable install); a wheel carries copies inside the package, in
``orchestrator/_data/`` (see setup.py). The checkout wins when both exist.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _data_root() -> Path:
    checkout = _PACKAGE.parent
    if (checkout / "kernel-configs").is_dir() and (checkout / "scenarios").is_dir():
        return checkout
    return _PACKAGE / "_data"


#: Where kernel-configs/, rootfs/, scenarios/ and kernel-patches/ live.
PROJECT_ROOT = _data_root()

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
