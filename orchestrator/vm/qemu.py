"""The QEMU command line for a pgo-orch guest: q35, PVH or bzImage, pvpanic, user net."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.errors import InvalidInput

QEMU = "qemu-system-x86_64"
#: kernel command line every guest gets; the scenario may add to it
BASE_CMDLINE = "console=ttyS0,115200 panic=-1 printk.devkmsg=on random.trust_cpu=on"
#: TCG translation cache per guest in MiB (QEMU's default is 1 GiB per guest); the pool
#: counts it against the host's memory
TCG_TB_SIZE_MB = 256


@dataclass
class MachineSpec:
    """Everything QEMU needs to start one guest."""

    kernel: Path
    initrd: Path
    accel: str = "tcg"  # "kvm" or "tcg" (resolved, not "auto")
    cpus: int = 2
    memory_mb: int = 1024
    cmdline_extra: list[str] = field(default_factory=list)
    ssh_port: int = 0  # host port forwarded to guest port 22 (0: pick a free one)
    pvpanic: bool = True
    extra_args: list[str] = field(default_factory=list)
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


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (QEMU binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def is_pvh_capable(config: Path | None) -> bool:
    """True when the kernel's .config has CONFIG_PVH=y (QEMU can start vmlinux directly)."""
    if config is None or not config.exists():
        return False
    return "CONFIG_PVH=y" in config.read_text(errors="replace").splitlines()


def command_line(spec: MachineSpec, qmp_socket: Path) -> list[str]:
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
    if spec.pvpanic:
        argv += ["-device", "pvpanic-pci"]
    return argv + spec.extra_args
