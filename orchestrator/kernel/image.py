"""``KernelImage``: what booting needs from a build (the one bridge from kernel/ to vm/).

A :class:`~orchestrator.kernel.result.BuildResult` gives one with ``image()``; tests and
benches that boot a kernel they did not build construct it directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class KernelImage:
    """The files of one kernel that QEMU and the forensics read."""

    vmlinux: Path
    bzimage: Path
    config: Path | None = None
    system_map: Path | None = None

    def pvh(self) -> bool:
        """True when the kernel's .config has CONFIG_PVH=y (QEMU can start vmlinux directly)."""
        if self.config is None or not self.config.exists():
            return False
        return "CONFIG_PVH=y" in self.config.read_text(errors="replace").splitlines()
