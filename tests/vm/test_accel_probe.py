"""The KVM probe (issue 9 item 14): dies with its parent; its answer is cached carefully."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.vm import accel


def test_probe_qemu_dies_with_a_sigkilled_parent(tmp_path: Path) -> None:
    fake = tmp_path / "qemu"
    pidfile = tmp_path / "pid"
    fake.write_text(f"#!/bin/sh\necho $$ > {pidfile}\nexec sleep 60\n")
    fake.chmod(0o755)
    code = ("import sys\nfrom pathlib import Path\nfrom orchestrator.vm import accel, qemu\n"
            f"qemu.QEMU = {str(fake)!r}\naccel.probe_kvm(Path('k'), timeout=60)\n")
    parent = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 10
    while not (pidfile.exists() and pidfile.read_text().strip()):
        assert time.monotonic() < deadline, "the probe never started"
        time.sleep(0.05)
    pid = int(pidfile.read_text())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            pytest.fail("the probe's QEMU outlived its SIGKILLed parent")
        time.sleep(0.05)


@pytest.fixture
def probing(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bool, str, bool]]:
    """Answers the fake probe gives, in order; each call pops one."""
    answers: list[tuple[bool, str, bool]] = []
    monkeypatch.setattr(accel, "kvm_device_usable", lambda: True)
    monkeypatch.setattr(accel, "_host_id", lambda: "host")
    monkeypatch.setattr(accel, "probe_kvm", lambda kernel: answers.pop(0))
    return answers


def test_a_probe_that_timed_out_under_load_is_cached_briefly(
        tmp_path: Path, probing: list[tuple[bool, str, bool]]) -> None:
    probing += [(False, "no progress within 20s", False), (True, "reached root mount", True)]
    assert accel.choose("auto", Path("k"), root=tmp_path).accel == "tcg"
    soon = accel.choose("auto", Path("k"), root=tmp_path)  # no second 20 s probe right away
    assert soon.accel == "tcg" and soon.cached
    path = tmp_path / "accel" / "host.json"
    data = json.loads(path.read_text())
    data["probed_at"] -= accel.TIMEOUT_TTL + 1  # ten minutes later, not an hour
    path.write_text(json.dumps(data))
    again = accel.choose("auto", Path("k"), root=tmp_path)
    assert again.accel == "kvm" and not again.cached


def test_a_negative_answer_expires(tmp_path: Path,
                                   probing: list[tuple[bool, str, bool]]) -> None:
    probing += [(False, "KVM internal error", True), (True, "reached root mount", True)]
    assert accel.choose("auto", Path("k"), root=tmp_path).accel == "tcg"
    cached = accel.choose("auto", Path("k"), root=tmp_path)
    assert cached.cached and cached.accel == "tcg"
    path = tmp_path / "accel" / "host.json"
    data = json.loads(path.read_text())
    data["probed_at"] -= accel.NEGATIVE_TTL + 1
    path.write_text(json.dumps(data))
    fresh = accel.choose("auto", Path("k"), root=tmp_path)
    assert fresh.accel == "kvm" and not fresh.cached
    assert [p.name for p in path.parent.iterdir()] == ["host.json"], "written atomically"


def test_a_guest_started_from_a_worker_thread_outlives_the_thread(tmp_path: Path) -> None:
    """PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not the process:
    a pool starting guests from short-lived threads would lose them at once. QEMU is
    therefore forked from one long-lived spawner thread."""
    import threading

    from orchestrator.vm import qemu

    procs: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        procs.append(qemu.spawn(["sleep", "30"]))

    t = threading.Thread(target=start)
    t.start()
    t.join()
    time.sleep(0.5)
    try:
        assert procs[0].poll() is None, "killed when its starting thread ended"
    finally:
        procs[0].kill()
        procs[0].wait()
