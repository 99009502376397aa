"""A non-editable install works: the wheel carries kernel-configs/, scenarios/, rootfs/ and
kernel-patches/, and a clean venv outside the checkout runs a scenario on a real guest.

Cost: about 1 min to build and install (packages from the registry), plus one short run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.kernel import build as kbuild

pytestmark = [pytest.mark.vm, pytest.mark.slow, pytest.mark.usefixtures("no_leaked_qemu")]

ROOT = Path(__file__).resolve().parents[2]
DATA_DIRS = ("kernel-configs", "scenarios", "rootfs", "kernel-patches")


def _source_copy(dest: Path) -> Path:
    """The checkout's files (tracked and new, not ignored) without build leftovers."""
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], cwd=ROOT, capture_output=True, check=True
                           ).stdout.decode().split("\0")
    for name in filter(None, names):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def test_wheel_carries_the_data_and_runs_a_scenario_outside_the_checkout(
        default_kernel: kbuild.BuildResult, tmp_path: Path) -> None:
    src = _source_copy(tmp_path / "src")
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist),
                    str(src)], check=True, timeout=600)
    (wheel,) = dist.glob("pgo_orch-*.whl")
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    for d in DATA_DIRS:
        for f in (ROOT / d).rglob("*"):
            if f.is_file() and "__pycache__" not in f.parts:
                assert f"orchestrator/_data/{f.relative_to(ROOT)}" in names, f
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True,
                   timeout=900)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import orchestrator.paths as p; print(p.SCENARIOS_DIR)"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, check=True)
    assert where.stdout.strip().startswith(str(venv)), where.stdout
    proc = subprocess.run([str(venv / "bin" / "pgo-orch"), "run", "proc-version", "--json",
                           "--out", str(tmp_path / "run")], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["verdict"] == "pass"
