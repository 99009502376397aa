"""Tree lookups: from a function to the file it serves, and PGO_PROFILE := n."""

from __future__ import annotations

import shutil
from pathlib import Path

from orchestrator.workflows.reproduce.lookup import Tree, file_of, find_file, instrumentation
from tests.reproduce.conftest import git


def test_debugfs_file_at_a_revision(fake_tree: Path) -> None:
    commit = git(fake_tree, "rev-parse", "HEAD").strip()
    # the checkout changes after the commit: the lookup reads the revision, not the files
    (fake_tree / "kernel" / "pgo" / "fs.c").write_text("gone\n")
    tree = Tree(fake_tree, commit)
    found = find_file(tree, ["prf_open", "full_proxy_open"])
    assert found is not None
    assert found.path == "/sys/kernel/debug/pgo/vmlinux.profraw"
    assert found.member == "open" and found.function == "prf_open"
    ops, reg = found.facts
    assert ops.value == "prf_fops.open = prf_open" and ops.how == "tree"
    assert ops.where.endswith("kernel/pgo/fs.c:13")
    assert reg.where.endswith("kernel/pgo/fs.c:30")  # the call spans two lines
    rel = file_of(found.facts)
    assert rel == "kernel/pgo/fs.c"
    instr = instrumentation(tree, rel)
    assert instr is not None and instr.where.endswith("kernel/pgo/Makefile:1")


def test_write_operation_and_callers(fake_tree: Path) -> None:
    tree = Tree(fake_tree, "HEAD")
    found = find_file(tree, ["vzalloc", "reset_write", "full_proxy_write"])
    assert found is not None
    assert (found.path, found.member, found.function) == (
        "/sys/kernel/debug/pgo/reset", "write", "reset_write")


def test_proc_file_in_nested_directories_without_git(fake_tree: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    shutil.copytree(fake_tree, plain, ignore=shutil.ignore_patterns(".git"))
    tree = Tree(plain, None)
    found = find_file(tree, ["foo_stats_open"])
    assert found is not None
    assert found.path == "/proc/driver/foo/stats"
    assert instrumentation(tree, "drivers/foo/stats.c") is None


def test_unknown_or_unsafe_function_names_find_nothing(fake_tree: Path) -> None:
    tree = Tree(fake_tree, "HEAD")
    assert find_file(tree, ["no_such_function"]) is None
    assert find_file(tree, ["prf_open; rm -rf /", "-e"]) is None
