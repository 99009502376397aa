"""The build API on the real default tree (slow: reuses the cached kernels the vm tests build;
about 10 s when they are cached, one default-kernel build and one fixture build otherwise)."""

from __future__ import annotations

import fcntl

import pytest

from orchestrator.git import git, resolve_commit
from orchestrator.kernel import build as kbuild
from orchestrator.kernel import defaults, locks, worktree
from orchestrator.kernel.metadata import file_sha256

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def default_kernel() -> kbuild.BuildResult:
    return kbuild.build(defaults.resolve_request())


def test_default_kernel_is_a_checked_cache_hit(default_kernel: kbuild.BuildResult) -> None:
    again = kbuild.build(defaults.resolve_request())
    assert again.cached and again.result_dir == default_kernel.result_dir
    meta = again.metadata_json()
    tree = defaults.default_tree()
    assert meta["commit"] == git(tree, "rev-parse", "HEAD").strip() and not meta["dirty"]
    assert again.vmlinux_sha256 == file_sha256(again.vmlinux) == meta["vmlinux_sha256"]
    img = again.image()
    assert img.vmlinux == again.vmlinux and img.bzimage.stat().st_size > 100_000
    with again.lease() as leased:
        assert leased.vmlinux.is_file()


def test_fixture_rev_builds_its_own_commit() -> None:
    if not defaults.default_series():
        pytest.skip("the PGO series is not in kernel-patches/")
    tree = defaults.default_tree()
    req = defaults.resolve_request(rev="pgo-fixtures/0003")
    res = kbuild.build(req)
    meta = res.metadata_json()
    assert meta["commit"] == resolve_commit(tree, "pgo-fixtures/0003")
    # rev is spelled as whoever built this commit first asked for it (a tag, or a series'
    # or bisection's commit id): the cache key is the tree state, not the spelling
    rev = meta["rev"]
    assert meta["repo"] == str(tree) and rev is not None
    assert resolve_commit(tree, rev) == meta["commit"]
    wt = worktree.path_for(tree)
    for lock in (worktree.lock_path(wt), locks.tree_lock(tree)):
        with open(lock, "a") as f:  # released once the build returned
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
