"""The QEMU command line for a pgo-orch guest: q35, PVH or bzImage, pvpanic, user net."""

from __future__ import annotations

import concurrent.futures
import contextlib
import ctypes
import queue
import re
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from orchestrator.errors import InvalidInput

QEMU = "qemu-system-x86_64"
#: kernel command line every guest gets; the scenario may add to it
BASE_CMDLINE = "console=ttyS0,115200 panic=-1 printk.devkmsg=on random.trust_cpu=on"
#: TCG translation cache per guest in MiB (QEMU's default is 1 GiB per guest); the pool
#: counts it against the host's memory
TCG_TB_SIZE_MB = 256


@dataclass
class QemuSpec:
    """Everything QEMU needs to start one guest."""

    kernel: Path
    initrd: Path
    accel: str = "tcg"  # "kvm" or "tcg" (resolved, not "auto")
    cpus: int = 2
    memory_mb: int = 1024
    cmdline_extra: list[str] = field(default_factory=list)
    ssh_port: int = 0  # host port forwarded to guest port 22 (0: QEMU binds a free one)
    pvpanic: bool = True
    extra_args: list[str] = field(default_factory=list)
    #: shown by ``ps`` and in QMP (``-name``): the machine sets it to its run directory
    name: str = ""
    tb_size_mb: int = TCG_TB_SIZE_MB  # TCG only

    def validate(self) -> None:
        if self.accel not in ("kvm", "tcg"):
            raise InvalidInput(f"accelerator must be kvm or tcg here, got {self.accel!r}",
                               field="accel")
        if not 1 <= self.cpus <= 64:
            raise InvalidInput(f"cpus must be 1..64, got {self.cpus}", field="cpus")
        if not 128 <= self.memory_mb <= 65536:
            raise InvalidInput(f"memory must be 128..65536 MiB, got {self.memory_mb}",
                               field="memory")
        for arg in self.cmdline_extra:
            if any(c in arg for c in "\n\r\0"):
                raise InvalidInput(f"bad kernel command line argument {arg!r}", field="cmdline")

    @property
    def cmdline(self) -> str:
        return " ".join([BASE_CMDLINE, *self.cmdline_extra])


#: "TCP[HOST_FORWARD]  8  127.0.0.1 38799  10.0.2.15  22 ..." in HMP ``info usernet``
_USERNET_FWD = re.compile(r"TCP\[HOST_FORWARD\]\s+\d+\s+(\S+)\s+(\d+)\s+\S+\s+22\b")


def parse_usernet_port(text: str) -> int | None:
    """The host port QEMU bound for the guest's port 22, from HMP ``info usernet``.

    With ``hostfwd=tcp:127.0.0.1:0-:22`` QEMU (libslirp) binds a port the kernel picks, so
    no other process can take it between choosing and binding (the old free-port probe
    raced exactly there); this reads back which port it got."""
    for m in _USERNET_FWD.finditer(text):
        port = int(m.group(2))
        if port:
            return port
    return None


def die_with_parent() -> None:
    """``preexec_fn`` for every QEMU we start: SIGKILL it when its parent dies
    (PR_SET_PDEATHSIG), so even a SIGKILLed pgo-orch leaves no guest or probe behind."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class _Spawner:
    """Forks every QEMU from one long-lived thread.

    PR_SET_PDEATHSIG is tied to the thread that forked the child: a guest started from a
    short-lived worker thread (a pool) would be SIGKILLed the moment that thread ended. This
    thread lives as long as the process, so the signal fires only when pgo-orch dies."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: queue.Queue[tuple[Callable[[], Any], concurrent.futures.Future[Any]]] = \
            queue.Queue()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        while True:
            fn, fut = self._jobs.get()
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                fut.set_exception(exc)

    def run(self, fn: Callable[[], Any]) -> Any:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="qemu-spawner",
                                                 daemon=True)
                self._thread.start()
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._jobs.put((fn, fut))
        return fut.result()


_SPAWNER = _Spawner()


def spawn(argv: list[str], **popen_kw: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(argv, **popen_kw)`` with ``die_with_parent``, forked from the
    long-lived spawner thread (see ``_Spawner``); safe to call from any thread."""
    return cast("subprocess.Popen[bytes]", _SPAWNER.run(
        lambda: subprocess.Popen(argv, preexec_fn=die_with_parent, **popen_kw)))


def is_pvh_capable(config: Path | None) -> bool:
    """True when the kernel's .config has CONFIG_PVH=y (QEMU can start vmlinux directly)."""
    if config is None or not config.exists():
        return False
    return "CONFIG_PVH=y" in config.read_text(errors="replace").splitlines()


def command_line(spec: QemuSpec, qmp_socket: Path) -> list[str]:
    """argv for QEMU: starts paused (-S) so no event is lost before QMP is connected.

    The serial console is QEMU's stdout (read by the console pump); the SSH port is forwarded
    on 127.0.0.1 only; a guest reboot ends QEMU (-no-reboot) and a panic pauses the guest so
    its state can still be read (-action panic=pause).
    """
    spec.validate()
    acc = spec.accel if spec.accel == "kvm" else f"tcg,tb-size={spec.tb_size_mb}"
    argv = [QEMU, "-machine", "q35", "-accel", acc]
    argv += ["-cpu", "host"] if spec.accel == "kvm" else ["-cpu", "max"]
    argv += [
        "-smp", str(spec.cpus), "-m", str(spec.memory_mb),
        "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-S",
        "-chardev", "stdio,id=con0,signal=off", "-serial", "chardev:con0",
        "-chardev", f"socket,id=qmp0,path={qmp_socket},server=on,wait=off",
        "-mon", "chardev=qmp0,mode=control",
        "-kernel", str(spec.kernel), "-initrd", str(spec.initrd), "-append", spec.cmdline,
        "-netdev", f"user,id=net0,hostfwd=tcp:127.0.0.1:{spec.ssh_port}-:22",
        "-device", "virtio-net-pci,netdev=net0",
        "-action", "panic=pause",
    ]
    if spec.name:
        # QEMU's option parser takes ",," for a literal comma
        argv += ["-name", "pgo-orch:" + spec.name.replace(",", ",,")]
    if spec.pvpanic:
        argv += ["-device", "pvpanic-pci"]
    return argv + spec.extra_args
