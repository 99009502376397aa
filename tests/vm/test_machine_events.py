"""Machine state from QMP events: a pause we made and undid is not the end of the guest."""

from __future__ import annotations

from pathlib import Path

from orchestrator.vm.machine import Machine
from orchestrator.vm.qemu import QemuSpec
from orchestrator.vm.qmp import QmpEvent


def _machine(tmp_path: Path, *names: str) -> Machine:
    m = Machine(QemuSpec(kernel=Path("k"), initrd=Path("i")), tmp_path)
    m.events = [QmpEvent(n, {}, float(i)) for i, n in enumerate(names)]
    return m


def test_stop_then_resume_is_not_terminal(tmp_path: Path) -> None:
    assert _machine(tmp_path, "STOP", "RESUME").poll_events() is None


def test_stop_without_resume_and_panic_are_terminal(tmp_path: Path) -> None:
    ev = _machine(tmp_path, "STOP").poll_events()
    assert ev is not None and ev.name == "STOP"
    ev = _machine(tmp_path, "STOP", "RESUME", "GUEST_PANICKED", "STOP").poll_events()
    assert ev is not None and ev.name == "GUEST_PANICKED"
