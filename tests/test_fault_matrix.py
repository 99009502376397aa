"""Fault matrix (issue 9): each fault end to end through ``pgo-orch run``, checked the same way.

For every fault: the documented verdict, reason code and exit code; report.json, result.json
and junit.xml that parse; the console log kept; and nothing of ours left behind (no QEMU, no
make, no scratch directory, no temporary file in the run directory). Faults of ours are made
with fakes (``tests/vm/fault_run.py``: fake build, real boot code up to the fault); faults of
QEMU and the guest use real QEMU on the cached default kernel (``-m vm``).

Cost of the real rows (cached kernel, TCG, 2 cores): the panic and the boot timeout a few
seconds each, the missing sshd one boot plus its 5 s SSH deadline, the SIGKILL a boot's first
seconds: well under a minute together.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestrator.paths import SCENARIOS_DIR
from tests.vm.conftest import default_kernel, qemu_pids  # noqa: F401 - a fixture

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Fault:
    name: str
    verdict: str
    exit_code: int
    reason_code: str


def _scenario(tmp: Path, name: str, machine: str = "") -> Path:
    text = (SCENARIOS_DIR / "proc-version.toml").read_text()
    text = text.replace('name = "proc-version"', f'name = "{name}"')
    if machine:
        text += f"\n[machine]\n{machine}\n"
    path = tmp / f"{name}.toml"
    path.write_text(text)
    return path


def _ours(tmp: Path) -> list[str]:
    """Processes left from our run: every child inherits PGO_ORCH_SCRATCH=<tmp>/scratch, so
    a make, QEMU or helper of ours is found by its environment, not confused with another
    helper's build on the same machine."""
    marker = f"PGO_ORCH_SCRATCH={tmp / 'scratch'}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker in (proc / "environ").read_bytes().split(b"\0"):
                found.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return found


def _run(argv: list[str], tmp: Path, timeout: float = 900) -> tuple[int, str]:
    env = dict(os.environ, PGO_ORCH_SCRATCH=str(tmp / "scratch"))
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                          cwd=REPO, env=env)
    return proc.returncode, proc.stderr


def _check(fault: Fault, out: Path, code: int, err: str, tmp: Path) -> None:
    assert code == fault.exit_code, err[-3000:]
    result = json.loads((out / "result.json").read_text())
    assert result["verdict"] == fault.verdict, result
    assert result["exit_code"] == fault.exit_code
    assert result["reason_code"] == fault.reason_code, result
    json.loads((out / "report.json").read_text())
    ET.parse(out / "junit.xml")
    assert (out / "console.log").is_file(), "the console log is kept"
    time.sleep(0.3)
    assert not qemu_pids(out), "QEMU left behind"
    assert not _ours(tmp), f"processes of ours left behind (make, QEMU, ...): {_ours(tmp)}"
    scratch = tmp / "scratch"
    left = [p for p in scratch.rglob("*")] if scratch.exists() else []
    assert not left, f"scratch left behind: {left}"
    assert not [p for p in out.rglob("*.tmp")], "temporary files in the run directory"
    assert not (out / "initrd.cpio.gz").exists(), "no initrd copy in the run directory"


# --- faults of ours, with fakes (fast) -------------------------------------------------------

OURS = [
    Fault("qemu-fails", "error", 2, "qemu-failed"),
    Fault("qemu-missing", "error", 2, "qemu-failed"),
]


@pytest.mark.parametrize("fault", OURS, ids=lambda f: f.name)
def test_fault_of_ours(fault: Fault, tmp_path: Path) -> None:
    sc = _scenario(tmp_path, f"fault-{fault.name}", 'accel = "tcg"')
    out = tmp_path / "run"
    code, err = _run([sys.executable, "-m", "tests.vm.fault_run", fault.name, str(tmp_path),
                      "--", "run", str(sc), "--out", str(out)], tmp_path, timeout=120)
    _check(fault, out, code, err, tmp_path)
    assert "qemu" in err.lower()


# --- faults of QEMU and the guest, on real QEMU ----------------------------------------------

REAL = [
    # PID 1 exits on purpose: "Attempted to kill init!" panic while booting
    (Fault("init-dies", "fail", 1, "kernel-finding"),
     'accel = "tcg"\ncmdline = ["pgo_orch.init_fail=1"]'),
    # userspace comes up, sshd never starts: SSH is never ready
    (Fault("no-sshd", "error", 2, "ssh-not-ready"),
     'accel = "tcg"\nssh_timeout = 5\ncmdline = ["pgo_orch.no_sshd=1"]'),
    # the guest cannot reach userspace in time
    (Fault("boot-timeout", "error", 2, "boot-timeout"), 'accel = "tcg"\nboot_timeout = 1'),
]


@pytest.mark.vm
@pytest.mark.usefixtures("default_kernel")  # built once, cached: the runs find it
@pytest.mark.parametrize("fault,machine", REAL, ids=lambda x: getattr(x, "name", ""))
def test_fault_of_qemu_or_guest(fault: Fault, machine: str, tmp_path: Path) -> None:
    sc = _scenario(tmp_path, f"fault-{fault.name}", machine)
    out = tmp_path / "run"
    code, err = _run([sys.executable, "-m", "orchestrator.cli", "run", str(sc), "--out",
                      str(out)], tmp_path)
    _check(fault, out, code, err, tmp_path)


@pytest.mark.vm
@pytest.mark.usefixtures("default_kernel")
def test_sigkill_during_boot_leaves_nothing(tmp_path: Path) -> None:
    """SIGKILL cannot be caught: no report, but no QEMU either (PR_SET_PDEATHSIG), and the
    next pgo-orch sweeps the scratch space the killed one left."""
    sc = _scenario(tmp_path, "fault-sigkill", 'accel = "tcg"')
    sc.write_text('setup = ["sleep 600"]\n' + sc.read_text())  # alive until we kill it
    out = tmp_path / "run"
    env = dict(os.environ, PGO_ORCH_SCRATCH=str(tmp_path / "scratch"))
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "run", str(sc),
                             "--out", str(out)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not qemu_pids(out):
        assert proc.poll() is None and time.monotonic() < deadline, "QEMU never started"
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 5
    while qemu_pids(out):
        assert time.monotonic() < deadline, "QEMU outlived its SIGKILLed parent"
        time.sleep(0.1)
    assert not _ours(tmp_path), _ours(tmp_path)
    assert (out / "console.log").is_file()
    leftovers = list((tmp_path / "scratch").glob("*"))
    assert leftovers, "the killed run had scratch space"
    subprocess.run([sys.executable, "-c", "from orchestrator.vm import scratch\n"
                    "scratch.process_dir()"], cwd=REPO, env=env, check=True)
    assert not list((tmp_path / "scratch").glob("*")), "swept by the next pgo-orch"
