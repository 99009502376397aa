"""Fixtures for the reproduce tests: mail paths, the seed report, a small git kernel tree."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from orchestrator.git import FIXED_IDENTITY
from orchestrator.paths import PROJECT_ROOT

MAILS = PROJECT_ROOT / "tests" / "data" / "mails"
SEED_NAME = "pgo-prf_open-sleep-in-atomic.lore.txt"

FS_C = """// a small imitation of kernel/pgo/fs.c
#include <linux/debugfs.h>

static struct dentry *pgo_dir;

static int prf_open(struct inode *inode, struct file *file)
{
	return 0;
}

static const struct file_operations prf_fops = {
	.owner		= THIS_MODULE,
	.open		= prf_open,
	.llseek		= default_llseek,
};

static ssize_t reset_write(struct file *file, const char __user *buf,
			size_t count, loff_t *ppos)
{
	return count;
}

static const struct file_operations reset_fops = {
	.write		= reset_write,
};

static int __init pgo_fs_init(void)
{
	pgo_dir = debugfs_create_dir("pgo", NULL);
	debugfs_create_file("vmlinux.profraw", 0600, pgo_dir, NULL,
			&prf_fops);
	debugfs_create_file("reset", 0200, pgo_dir, NULL, &reset_fops);
	return 0;
}
"""

PROC_C = """// a proc file two directories deep
static struct proc_dir_entry *drv_dir, *foo_dir;

static int foo_stats_open(struct inode *inode, struct file *file)
{
	return single_open(file, foo_show, NULL);
}

static const struct proc_ops foo_stats_ops = {
	.proc_open	= foo_stats_open,
	.proc_read	= seq_read,
};

static int __init foo_init(void)
{
	drv_dir = proc_mkdir("driver", NULL);
	foo_dir = proc_mkdir("foo", drv_dir);
	proc_create("stats", 0444, foo_dir, &foo_stats_ops);
	return 0;
}
"""


def seed_report() -> Path | None:
    """The seed mail: <project root>/../shared/reports, else /work/shared/reports."""
    for base in (PROJECT_ROOT.parent / "shared" / "reports", Path("/work/shared/reports")):
        if (base / SEED_NAME).is_file():
            return base / SEED_NAME
    return None


@pytest.fixture
def seed() -> Path:
    path = seed_report()
    if path is None:
        pytest.skip(f"the seed report {SEED_NAME} is in neither ../shared/reports beside the "
                    "project nor /work/shared/reports")
    return path


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env={**FIXED_IDENTITY, "PATH": "/usr/bin:/bin",
                                          "HOME": str(repo)}).stdout


@pytest.fixture
def fake_tree(tmp_path: Path) -> Path:
    """A git tree with a debugfs file (kernel/pgo, not instrumented) and a proc file."""
    root = tmp_path / "linux"
    (root / "kernel" / "pgo").mkdir(parents=True)
    (root / "drivers" / "foo").mkdir(parents=True)
    (root / "kernel" / "pgo" / "fs.c").write_text(FS_C)
    (root / "kernel" / "pgo" / "Makefile").write_text("PGO_PROFILE\t:= n\nobj-y := fs.o\n")
    (root / "drivers" / "foo" / "stats.c").write_text(PROC_C)
    (root / "drivers" / "foo" / "Makefile").write_text("obj-y := stats.o\n")
    git(root, "init", "-q", "-b", "master")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "base")
    git(root, "tag", "base")
    return root
