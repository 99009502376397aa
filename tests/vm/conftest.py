"""Real kernels for the vm tests: the default kernel, built once (cache hit afterwards)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.kernel import build as kbuild
from orchestrator.kernel import defaults
from orchestrator.vm.guest import KernelImage


def _build(options: list[str]) -> kbuild.BuildResult:
    req = kbuild.BuildRequest(tree=defaults.default_tree(),
                              fragments=defaults.default_fragments(), options=options)
    return kbuild.build(req)


@pytest.fixture(scope="session")
def default_kernel() -> kbuild.BuildResult:
    return _build([])


@pytest.fixture(scope="session")
def lkdtm_kernel() -> kbuild.BuildResult:
    return _build(["CONFIG_RUNTIME_TESTING_MENU=y", "CONFIG_LKDTM=y"])


def image(res: kbuild.BuildResult) -> KernelImage:
    return KernelImage(res.vmlinux, res.bzimage, res.config, res.system_map)


def qemu_pids(under: Path | None = None) -> set[int]:
    """QEMU processes (of this test when ``under`` is given: its paths are in the argv)."""
    out = subprocess.run(["pgrep", "-af", "qemu-system-x86_64"], capture_output=True,
                         text=True, check=False).stdout
    pids = set()
    for line in out.splitlines():
        pid, _, argv = line.partition(" ")
        if argv.startswith("qemu-system") and (under is None or str(under) in argv):
            pids.add(int(pid))
    return pids


@pytest.fixture
def no_leaked_qemu(tmp_path: Path) -> Iterator[None]:
    yield None
    time.sleep(0.2)
    leaked = qemu_pids(tmp_path)
    assert not leaked, f"QEMU processes left behind: {leaked}"
