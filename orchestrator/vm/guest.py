"""Boot a built kernel to an SSH session, with a distinct outcome for every way it can fail.

Outcomes (``BootFailure.reason``): ``qemu-failed`` (QEMU did not start; its stderr shown),
``boot-timeout`` (no userspace before the deadline), ``kernel-panic`` (GUEST_PANICKED from
pvpanic, or a reset after "Kernel panic"), ``qemu-exited`` (QEMU went away),
``ssh-not-ready`` (userspace up but no SSH before the deadline), ``guest-hung`` (the guest
stopped answering; hang forensics saved). Every wait has a deadline; the console is on disk
throughout.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from orchestrator import ui
from orchestrator.kernel.image import KernelImage as KernelImage  # re-exported
from orchestrator.rootfs.assemble import (
    SSHD_READY_MARKER,
    USERSPACE_UP_MARKER,
    build_run_initrd,
)
from orchestrator.rootfs.keys import RunKey, generate_run_key
from orchestrator.vm import accel, forensics, qemu
from orchestrator.vm.machine import BootFailure, Machine
from orchestrator.vm.qmp import QmpError
from orchestrator.vm.ssh import CommandResult, SshError, SshSession


@dataclass
class BootOptions:
    accel: str = "auto"
    cpus: int = 2
    memory_mb: int = 1024
    boot_timeout: float = 60.0  # QEMU start -> userspace marker
    ssh_timeout: float = 30.0  # userspace marker -> authenticated SSH session
    cmdline_extra: list[str] = field(default_factory=list)
    boot_method: str = "auto"  # auto (PVH when possible), pvh, bzimage
    init_env: dict[str, str] = field(default_factory=dict)


@dataclass
class Guest:
    machine: Machine
    ssh: SshSession
    key: RunKey
    accel: accel.AccelChoice
    kernel: KernelImage
    boot_method: str
    hung: bool = False  # set once the guest stopped answering

    def run(self, argv: list[str], *, timeout: float, **kw: object) -> CommandResult:
        return self.ssh.run(argv, timeout=timeout, **kw)  # type: ignore[arg-type]

    def hang_report(self) -> forensics.HangReport | None:
        """Read where every vCPU is (paused meanwhile); None if QMP cannot answer."""
        self.hung = True
        if self.machine.qmp is None or self.kernel.system_map is None or not self.machine.alive():
            return None
        try:
            return forensics.collect(self.machine.qmp, self.kernel.system_map,
                                     self.kernel.vmlinux, self.machine.run_dir)
        except (QmpError, OSError) as exc:
            ui.say("vm", f"hang forensics failed: {exc}")
            return None

    def responsive(self, timeout: float = 5.0) -> bool:
        """True if the guest still runs a trivial command over SSH within ``timeout``."""
        try:
            return self.ssh.run(["true"], timeout=timeout).ok
        except Exception:  # noqa: BLE001 - any failure here means "not answering"
            return False

    def hang_summary(self) -> str:
        """Collect hang forensics (hang.json/hang.txt) and return their one-line summary."""
        rep = self.hang_report()
        return rep.summary if rep else "guest stopped answering (no forensics available)"

    def poweroff(self) -> None:
        """Ask the guest to power off (ACPI S5) over SSH; the machine sees SHUTDOWN quickly.

        Our initramfs runs no acpid, so QMP system_powerdown alone would wait for nothing.
        """
        if self.machine.alive() and self.ssh.is_active():
            with contextlib.suppress(Exception):
                self.ssh.run(["poweroff", "-f"], timeout=1.0)
        self.ssh.close()

    def __enter__(self) -> Guest:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        if et is None or issubclass(et, Exception):
            self.poweroff()
        else:
            self.ssh.close()
        self.machine.__exit__(et, ev, tb)


def _panic_text(console: str) -> str:
    i = console.rfind("Kernel panic")
    if i < 0:
        return ""
    start = console.rfind("\n", 0, max(0, i - 2000))
    return console[start + 1 if start >= 0 else 0:].strip()[-4000:]


def _fail_from_machine(m: Machine, waiting_for: str) -> BootFailure:
    """Turn a guest that went away into its outcome."""
    ev = m.poll_events()
    console = m.console.tail()
    if (ev is not None and ev.name == "GUEST_PANICKED") or "Kernel panic" in console:
        return BootFailure(f"kernel panic while waiting for {waiting_for}",
                           reason="kernel-panic", console=m.console.log_path,
                           detail=_panic_text(console))
    if ev is not None:
        return BootFailure(f"guest {ev.name.lower()} ({ev.data}) while waiting for "
                           f"{waiting_for}", reason="qemu-exited", console=m.console.log_path)
    err = m.qemu_stderr()
    return BootFailure(f"QEMU exited while waiting for {waiting_for}", reason="qemu-exited",
                       console=m.console.log_path, detail=err)


def boot(kernel: KernelImage, run_dir: Path, opts: BootOptions,
         console_listeners: Sequence[Callable[[bytes], None]] = ()) -> Guest:
    """Start a guest and return it with an authenticated SSH session; BootFailure otherwise.

    ``console_listeners`` get every console chunk from the first byte on (e.g. a detector).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    method = opts.boot_method
    if method == "auto":
        method = "pvh" if kernel.pvh() else "bzimage"
    image = kernel.vmlinux if method == "pvh" else kernel.bzimage
    choice = accel.choose(opts.accel, kernel.bzimage)
    ui.say("vm", f"accelerator: {choice.accel} ({choice.why}{', cached' if choice.cached else ''})"
                 f"; boot: {method}")
    key = generate_run_key(run_dir)
    initrd = build_run_initrd(run_dir, authorized_key=key.public_line, init_env=opts.init_env)
    spec = qemu.MachineSpec(kernel=image, initrd=initrd, accel=choice.accel, cpus=opts.cpus,
                            memory_mb=opts.memory_mb, cmdline_extra=list(opts.cmdline_extra))
    machine = Machine(spec, run_dir)
    for fn in console_listeners:
        machine.console.add_listener(fn)
    try:
        machine.start()
        if not machine.wait_console(USERSPACE_UP_MARKER, opts.boot_timeout):
            machine.note_first_console()
            if machine.gone():
                raise _fail_from_machine(machine, "userspace")
            raise BootFailure(f"no userspace within {opts.boot_timeout:.0f}s",
                              reason="boot-timeout", console=machine.console.log_path,
                              detail=machine.console.tail(1500))
        machine.note_first_console()
        machine.timings.userspace_up = machine.elapsed()
        ssh_deadline = time.time() + opts.ssh_timeout
        machine.wait_console(SSHD_READY_MARKER, opts.ssh_timeout)
        if machine.gone():
            raise _fail_from_machine(machine, "SSH")
        try:
            session = SshSession.connect("127.0.0.1", spec.ssh_port, key.key,
                                         connect_timeout=3.0, banner_timeout=10.0,
                                         auth_timeout=10.0, retry_until=ssh_deadline,
                                         retry_interval=0.2)
        except SshError as exc:
            if machine.gone():
                raise _fail_from_machine(machine, "SSH") from exc
            raise BootFailure(f"SSH never ready within {opts.ssh_timeout:.0f}s after "
                              f"userspace: {exc.message}", reason="ssh-not-ready",
                              console=machine.console.log_path) from exc
        machine.timings.ssh_ready = machine.elapsed()
        return Guest(machine, session, key, choice, kernel, method)
    except BaseException as exc:
        if isinstance(exc, Exception):
            machine.stop(powerdown_timeout=0.5)
        else:
            machine.kill()
        raise
