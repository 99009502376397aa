"""tools.toml is the one table of host tools and packages; every reader agrees with it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from orchestrator import proc, tools
from orchestrator.commands import doctor
from orchestrator.errors import ToolMissing
from orchestrator.kernel import default_tree

ROOT = Path(__file__).resolve().parent.parent


def test_install_hints_come_from_the_table() -> None:
    assert tools.install_hint("ld.lld") == "apt-get install -y lld"
    assert tools.install_hint("llvm-symbolizer-14") == "apt-get install -y llvm"
    assert tools.install_hint("clang", "ld.lld", "llvm-ar") == "apt-get install -y clang lld llvm"
    assert tools.install_hint("tar") == "apt-get install -y tar xz-utils"
    with pytest.raises(ToolMissing, match="install it with: apt-get install -y qemu-system-x86"):
        proc.run(["/nonexistent/qemu-system-x86_64", "--version"])
    assert tools.table().files["linux-source-6.1"].path == default_tree.DEFAULT_TARBALL


def test_doctor_checks_what_the_table_lists(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.setenv("PGO_ORCH_CACHE", str(tmp_path))
    names = {c.name for c in doctor.checks()}
    table = tools.table()
    assert {t.name for t in table.tools.values() if t.doctor} <= names
    assert set(table.files) <= names
    assert "llvm-nm" not in names  # doctor = false


@pytest.mark.parametrize("with_python", [True, False])
def test_setup_sh_installs_the_tables_packages(tmp_path: Path, with_python: bool) -> None:
    path = "/usr/bin:/bin"
    if not with_python:  # setup.sh runs before any virtualenv, maybe before python3
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        for t in ("sed", "tr", "awk", "dirname", "sh"):
            exe = shutil.which(t)
            assert exe
            (bin_dir / t).symlink_to(exe)
        path = str(bin_dir)
    out = subprocess.run(["/bin/sh", str(ROOT / "scripts" / "setup.sh"), "--list-packages"],
                         env={"PATH": path}, capture_output=True, text=True, check=True).stdout
    assert out.split() == tools.table().packages()
    assert {"clang", "lld", "llvm", "libelf-dev", "python3-venv", "qemu-system-x86"} <= set(
        out.split())
