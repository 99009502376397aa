"""Real kernels for the vm tests: the default kernel, built once (cache hit afterwards)."""

from __future__ import annotations

import subprocess

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
    return _build(["CONFIG_LKDTM=y"])


def image(res: kbuild.BuildResult) -> KernelImage:
    return KernelImage(res.vmlinux, res.bzimage, res.config, res.system_map)


def qemu_pids() -> set[int]:
    out = subprocess.run(["pgrep", "-f", "qemu-system-x86_64"], capture_output=True, text=True,
                         check=False).stdout
    return {int(p) for p in out.split()}


@pytest.fixture
def no_leaked_qemu() -> object:
    before = qemu_pids()
    yield None
    leaked = qemu_pids() - before
    assert not leaked, f"QEMU processes left behind: {leaked}"
