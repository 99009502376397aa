"""Shared fixtures: a private cache per test, and a copy of the fake kernel tree."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

FAKE_KERNEL = Path(__file__).parent / "fake_kernel"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty pgo-orch cache for this test (PGO_ORCH_CACHE)."""
    root = tmp_path / "cache"
    monkeypatch.setenv("PGO_ORCH_CACHE", str(root))
    return root


@pytest.fixture
def fake_tree(tmp_path: Path) -> Path:
    """A git-committed copy of tests/fake_kernel, a Kbuild imitation that builds in a second."""
    tree = tmp_path / "tree"
    shutil.copytree(FAKE_KERNEL, tree)
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "PATH": "/usr/bin:/bin",
    }
    for argv in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "base"]):
        subprocess.run(argv, cwd=tree, env=env, check=True)
    return tree
