"""The default tree: a tarball unpacked once into git, series applied, followed on change."""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path

from orchestrator.kernel import default_tree as dt
from tests.conftest import FAKE_KERNEL

PATCH = """From 1111111111111111111111111111111111111111 Mon Sep 17 00:00:00 2001
From: Test <t@t>
Date: Sun, 1 Jan 2023 00:00:00 +0000
Subject: [PATCH] drivers: return {value}

---
 drivers/fake.c | 2 +-
 1 file changed, 1 insertion(+), 1 deletion(-)

diff --git a/drivers/fake.c b/drivers/fake.c
--- a/drivers/fake.c
+++ b/drivers/fake.c
@@ -1 +1 @@
-int driver(void) {{ return 1; }}
+int driver(void) {{ return {value}; }}
--
2.39.5
"""


def _tarball(tmp_path: Path) -> Path:
    tb = tmp_path / "linux-source-6.1.tar.xz"
    with tarfile.open(tb, "w:xz") as tar:
        tar.add(FAKE_KERNEL, arcname="linux-source-6.1")
    return tb


def _head(tree: Path) -> str:
    return subprocess.run(["git", "-C", str(tree), "log", "--format=%H %s"], capture_output=True,
                          text=True, check=True).stdout


def test_unpack_commit_is_deterministic(tmp_path: Path) -> None:
    tb = _tarball(tmp_path)
    a = dt.ensure_default_tree((), tarball=tb, root=tmp_path / "a")
    b = dt.ensure_default_tree((), tarball=tb, root=tmp_path / "b")
    assert (a / "Makefile").exists()
    assert _head(a) == _head(b)
    assert "Linux 6.1.0" in _head(a)
    assert dt.ensure_default_tree((), tarball=tb, root=tmp_path / "a") == a  # cached


def test_series_applied_as_commits_and_followed(tmp_path: Path) -> None:
    tb = _tarball(tmp_path)
    patches = tmp_path / "patches" / "demo"
    patches.mkdir(parents=True)
    (patches / "0001-demo.patch").write_text(PATCH.format(value=5))
    tree = dt.ensure_default_tree(("demo",), tarball=tb, root=tmp_path / "c",
                                  patches_root=tmp_path / "patches")
    assert tree.name == "linux-source-6.1+demo"
    assert "return 5" in (tree / "drivers" / "fake.c").read_text()
    log = _head(tree).splitlines()
    assert len(log) == 2 and "drivers: return 5" in log[0]
    main_c = tree / "init" / "main.c"
    before = main_c.stat().st_mtime_ns
    (patches / "0001-demo.patch").write_text(PATCH.format(value=7))
    again = dt.ensure_default_tree(("demo",), tarball=tb, root=tmp_path / "c",
                                   patches_root=tmp_path / "patches")
    assert again == tree
    assert "return 7" in (tree / "drivers" / "fake.c").read_text()
    assert len(_head(tree).splitlines()) == 2
    assert main_c.stat().st_mtime_ns == before, "untouched files keep their mtime"


def test_side_series_on_a_branch_with_tags(tmp_path: Path) -> None:
    tb = _tarball(tmp_path)
    root = tmp_path / "patches"
    (root / "main").mkdir(parents=True)
    (root / "side").mkdir()
    (root / "main" / "0001-a.patch").write_text(PATCH.format(value=5))
    side = PATCH.format(value=9).replace("-int driver(void) { return 1; }",
                                         "-int driver(void) { return 5; }")
    (root / "side" / "0001-b.patch").write_text(side)
    tree = dt.ensure_default_tree(("main",), tarball=tb, root=tmp_path / "d",
                                  patches_root=root, side_series=("side",))
    assert "return 5" in (tree / "drivers" / "fake.c").read_text(), "checkout stays on main"
    tags = subprocess.run(["git", "-C", str(tree), "tag", "-l"], capture_output=True,
                          text=True, check=True).stdout.split()
    assert {"main/0001", "side/0001", "pgo-orch-base"} <= set(tags)
    show = subprocess.run(["git", "-C", str(tree), "show", "side/0001:drivers/fake.c"],
                          capture_output=True, text=True, check=True).stdout
    assert "return 9" in show
