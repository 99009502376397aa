"""Scratch space of guests (issue 9 item 21): nothing of ours left in /tmp, even after SIGKILL."""

from __future__ import annotations

import glob
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.errors import InfraError
from orchestrator.rootfs.assemble import combine_initrd
from orchestrator.vm import scratch
from orchestrator.vm.machine import Machine
from orchestrator.vm.qemu import QemuSpec


@pytest.fixture
def scratch_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    base = tmp_path / "scratch"
    monkeypatch.setenv("PGO_ORCH_SCRATCH", str(base))
    monkeypatch.setattr(scratch, "_mine", None)
    return base


def test_a_machine_leaves_no_directory_behind(tmp_path: Path, scratch_base: Path) -> None:
    before = set(glob.glob("/tmp/pgo-qmp-*"))
    Machine(QemuSpec(kernel=Path("k"), initrd=Path("i")), tmp_path / "run0")  # never started
    m = Machine(QemuSpec(kernel=Path("k"), initrd=Path("i")), tmp_path / "run")
    m.kill()
    assert set(glob.glob("/tmp/pgo-qmp-*")) == before
    assert not [p for p in scratch_base.rglob("*") if p.is_dir() and p.name.startswith("vm-")]


def test_scratch_of_a_sigkilled_process_is_swept(scratch_base: Path) -> None:
    code = ("import os, signal\nfrom orchestrator.vm import scratch\n"
            "d = scratch.new_dir()\n(d / 'qmp.sock').write_text('x')\nprint(d, flush=True)\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == -9, proc.stderr
    left = Path(proc.stdout.strip())
    assert left.is_dir(), "the killed process had scratch space"
    mine = scratch.process_dir()
    assert not left.exists() and not left.parent.exists()
    assert mine.is_dir()
    scratch.release()
    assert not mine.exists()


def test_a_live_process_keeps_its_scratch(scratch_base: Path) -> None:
    code = ("import sys\nfrom orchestrator.vm import scratch\nd = scratch.new_dir()\n"
            "print(d, flush=True)\nsys.stdin.read()\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdin is not None
    theirs = Path(proc.stdout.readline().strip())
    scratch.process_dir()  # sweeps
    assert theirs.is_dir()
    proc.stdin.close()
    proc.wait(10)
    assert not theirs.exists(), "released at exit"
    scratch.release()


def test_failed_initrd_join_leaves_no_temp_file(tmp_path: Path) -> None:
    part = tmp_path / "base.cpio.gz"
    part.write_bytes(b"x" * 1000)
    with pytest.raises(InfraError):
        combine_initrd([part, tmp_path / "missing.cpio.gz"], tmp_path / "out" / "initrd.cpio.gz")
    assert list((tmp_path / "out").iterdir()) == []


def test_qemu_exiting_at_start_fails_fast(tmp_path: Path, scratch_base: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Item 5: QMP connect notices that QEMU is gone instead of waiting its 15 s."""
    import time

    from orchestrator.vm import qemu
    from orchestrator.vm.machine import BootFailure

    fake = tmp_path / "qemu"
    fake.write_text("#!/bin/sh\necho 'qemu: could not load kernel' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(qemu, "QEMU", str(fake))
    m = Machine(QemuSpec(kernel=Path("k"), initrd=Path("i")), tmp_path / "run")
    start = time.monotonic()
    with pytest.raises(BootFailure) as info:
        m.start()
    assert time.monotonic() - start < 3.0
    assert info.value.reason == "qemu-failed"
    assert "could not load kernel" in info.value.message
    assert not [p for p in scratch_base.rglob("vm-*")]
