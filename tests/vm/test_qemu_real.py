"""What only real QEMU can answer (issue 9 items 0a and 4): QMP's integer type, port binding.

Cost: a paused QEMU without a kernel for the QMP check, and four paused guests started at
once and killed as soon as their ports are known: about a second together.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from orchestrator.kernel import build as kbuild
from orchestrator.vm import qemu
from orchestrator.vm.forensics import qmp_int
from orchestrator.vm.machine import Machine
from orchestrator.vm.qmp import Qmp, QmpError
from tests.vm.conftest import image

pytestmark = [pytest.mark.vm, pytest.mark.usefixtures("no_leaked_qemu")]


def test_memsave_takes_kernel_addresses_as_signed_integers(tmp_path: Path) -> None:
    sock = tmp_path / "q.sock"
    proc = subprocess.Popen([qemu.QEMU, "-machine", "q35", "-accel", "tcg", "-nodefaults",
                             "-display", "none", "-S", "-chardev",
                             f"socket,id=q,path={sock},server=on,wait=off",
                             "-mon", "chardev=q,mode=control", "-name", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    qmp = Qmp()
    try:
        qmp.connect(sock, deadline=time.monotonic() + 15, alive=lambda: proc.poll() is None)
        addr = 0xFFFFFFFF81000000
        with pytest.raises(QmpError, match="Invalid parameter type for 'val'"):
            qmp.execute("memsave", {"val": addr, "size": 8, "filename": "/dev/null"})
        try:
            qmp.execute("memsave", {"val": qmp_int(addr), "size": 8, "filename": "/dev/null"})
        except QmpError as exc:  # no paging on a CPU that never ran: the address is refused,
            assert "Invalid addr 0xffffffff81000000" in str(exc)  # but as an address
    finally:
        qmp.close()
        proc.kill()
        proc.wait()


def test_parallel_guests_get_distinct_ports_bound_by_qemu(
        default_kernel: kbuild.BuildResult, tmp_path: Path) -> None:
    img = image(default_kernel)
    initrd = tmp_path / "initrd"  # never reached: the guests are killed while booting
    initrd.write_bytes(b"\0" * 512)
    machines = [Machine(qemu.QemuSpec(kernel=img.bzimage, initrd=initrd, memory_mb=256,
                                         cpus=1), tmp_path / f"m{i}") for i in range(4)]
    errors: list[BaseException] = []

    def start(m: Machine) -> None:
        try:
            m.start(run=False)  # the ports are QEMU's business, not the guest's
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(m,)) for m in machines]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
        ports = [m.ssh_port for m in machines]
        assert len(set(ports)) == 4 and all(ports), ports
        for m in machines:  # QEMU (slirp) itself listens there
            assert m.alive(), m.qemu_stderr()
            socket.create_connection(("127.0.0.1", m.ssh_port), timeout=2).close()
    finally:
        for m in machines:
            m.kill()
    assert not any(m.workdir is not None and m.workdir.exists() for m in machines)
