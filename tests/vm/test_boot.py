"""Real boots under QEMU (TCG here): the happy path and every distinct failure outcome."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.kernel import build as kbuild
from orchestrator.vm import guest as vmguest
from orchestrator.vm.machine import BootFailure
from tests.vm.conftest import image, qemu_pids

pytestmark = [pytest.mark.vm, pytest.mark.slow, pytest.mark.usefixtures("no_leaked_qemu")]


def _opts(**kw: object) -> vmguest.BootOptions:
    o = vmguest.BootOptions(accel="auto", boot_timeout=90, ssh_timeout=30)
    for k, v in kw.items():
        setattr(o, k, v)
    return o


def test_cli_boot_uname(default_kernel: kbuild.BuildResult, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "orchestrator.cli", "boot", "--json",
                           "--out", str(out), "--", "uname", "-a"], capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    rep = json.loads(proc.stdout)
    assert rep["outcome"] == "booted" and rep["exit_status"] == 0
    assert rep["stdout"].startswith("Linux pgo-guest 6.1")
    assert rep["timings"]["ssh_ready_s"] < 60
    console = (out / "console.log").read_text(errors="replace")
    assert "QEMU Standard PC (Q35 + ICH9, 2009)" in console
    assert "SSH ready" in proc.stderr


def test_command_exit_status_and_pvh_vs_bzimage(default_kernel: kbuild.BuildResult,
                                                tmp_path: Path) -> None:
    for method in ("pvh", "bzimage"):
        with vmguest.boot(image(default_kernel), tmp_path / method,
                          _opts(boot_method=method)) as g:
            assert g.boot_method == method
            res = g.run(["sh", "-c", "exit 7"], timeout=30)
            assert res.exit_status == 7


def test_init_failure_is_kernel_panic(default_kernel: kbuild.BuildResult, tmp_path: Path) -> None:
    t0 = time.monotonic()
    with pytest.raises(BootFailure) as exc:
        vmguest.boot(image(default_kernel), tmp_path, _opts(cmdline_extra=["pgo_orch.init_fail=1"]))
    assert exc.value.reason == "kernel-panic"
    assert "Attempted to kill init" in exc.value.detail
    assert time.monotonic() - t0 < 90
    assert "Kernel panic" in (tmp_path / "console.log").read_text(errors="replace")


def test_no_sshd_is_ssh_not_ready(default_kernel: kbuild.BuildResult, tmp_path: Path) -> None:
    t0 = time.monotonic()
    with pytest.raises(BootFailure) as exc:
        vmguest.boot(image(default_kernel), tmp_path,
                     _opts(cmdline_extra=["pgo_orch.no_sshd=1"], ssh_timeout=8))
    assert exc.value.reason == "ssh-not-ready"
    assert time.monotonic() - t0 < 90
    assert "userspace up" in (tmp_path / "console.log").read_text(errors="replace")


def test_deadline_shorter_than_boot(default_kernel: kbuild.BuildResult, tmp_path: Path) -> None:
    t0 = time.monotonic()
    with pytest.raises(BootFailure) as exc:
        vmguest.boot(image(default_kernel), tmp_path, _opts(boot_timeout=0.3))
    assert exc.value.reason == "boot-timeout"
    assert time.monotonic() - t0 < 20
    assert (tmp_path / "console.log").exists()


def test_qemu_killed_mid_command(default_kernel: kbuild.BuildResult, tmp_path: Path) -> None:
    g = vmguest.boot(image(default_kernel), tmp_path, _opts())
    with g:
        assert g.machine.proc is not None
        pid = g.machine.proc.pid
        t0 = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(Exception) as exc:
            res = g.run(["sleep", "60"], timeout=30)
            assert res.exit_status is None  # a dead channel may also just close
            raise RuntimeError("channel closed")
        assert time.monotonic() - t0 < 35
        g.machine.proc.wait(5)
        assert not g.machine.alive()
        assert exc.value is not None


def test_ctrl_c_leaves_no_qemu(default_kernel: kbuild.BuildResult, tmp_path: Path) -> None:
    before = qemu_pids(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "boot", "--out",
                             str(tmp_path / "r"), "--", "sleep", "120"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (qemu_pids(tmp_path) - before):
        time.sleep(0.2)
    assert qemu_pids(tmp_path) - before, "QEMU did not start"
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    proc.wait(30)
    time.sleep(0.5)
    assert not (qemu_pids(tmp_path) - before)
    assert proc.returncode == 2


def test_hardlockup_hang_forensics(lkdtm_kernel: kbuild.BuildResult, tmp_path: Path) -> None:
    with vmguest.boot(image(lkdtm_kernel), tmp_path, _opts(cpus=1)) as g:
        g.run(["sh", "-c", "grep -q debugfs /proc/mounts || mount -t debugfs none "
               "/sys/kernel/debug"], timeout=20)
        t0 = time.monotonic()
        res = g.run(["sh", "-c", "echo HARDLOCKUP > /sys/kernel/debug/provoke-crash/DIRECT"],
                    timeout=10)
        assert res.timed_out
        rep = g.hang_report()
        assert rep is not None
        assert time.monotonic() - t0 < 60
    assert "lkdtm_HARDLOCKUP" in rep.summary, rep.text()
    data = json.loads((tmp_path / "hang.json").read_text())
    assert data["cpus"][0]["frames"][0]["how"] == "rip"
    assert "lkdtm_HARDLOCKUP" in (tmp_path / "hang.txt").read_text()
