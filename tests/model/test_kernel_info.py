"""kernel_info on build metadata that has only the required fields (older or sparse builds)."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.workflows.run import kernel_info
from tests.model import fakes


def test_kernel_info_tolerates_sparse_metadata(tmp_path: Path) -> None:
    build = fakes.fake_build_result(tmp_path / "k")
    build.metadata.write_text(json.dumps({
        "tree": "/src/linux", "commit": "c0ffee", "toolchain": {"clang": "18"},
        "vmlinux_sha256": "5" * 64}))
    info = kernel_info(build)
    assert (info.tree, info.commit, info.rev, info.warnings) == ("/src/linux", "c0ffee",
                                                                 None, None)
    assert info.toolchain == {"clang": "18"} and info.ok
