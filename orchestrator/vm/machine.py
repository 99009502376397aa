"""One QEMU guest under QMP control: start, watch, stop; never outlives pgo-orch.

QEMU starts paused, QMP connects, then the guest runs, so no event is lost. QMP events, not
console text, decide the machine's state (SHUTDOWN, GUEST_PANICKED, RESET, STOP). Teardown
is power down with a deadline, then QMP quit, then SIGKILL. QEMU also gets PR_SET_PDEATHSIG,
so even a SIGKILLed pgo-orch takes its guests with it.
"""

from __future__ import annotations

import contextlib
import shlex
import shutil
import subprocess
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from orchestrator.errors import InfraError
from orchestrator.rundir import CONSOLE_LOG, QEMU_CMDLINE, QEMU_STDERR
from orchestrator.vm import qemu, scratch
from orchestrator.vm.qmp import Qmp, QmpError, QmpEvent
from orchestrator.vm.serial_console import SerialConsole

TERMINAL_EVENTS = {"SHUTDOWN", "GUEST_PANICKED", "RESET", "STOP"}
_LIVE: weakref.WeakSet[Machine] = weakref.WeakSet()


class BootFailure(InfraError):
    """A guest that did not come up or went away; ``reason`` names the outcome."""

    def __init__(self, message: str, *, reason: str, console: Path | None = None,
                 detail: str = "") -> None:
        text = message + (f"\n{detail}" if detail else "")
        if console is not None:
            text += f"\nconsole log: {console}"
        super().__init__(text, reason=reason)
        self.console = console
        self.detail = detail


@dataclass
class Timings:
    """Seconds since QEMU was started (time.monotonic based)."""

    qemu_started: float = 0.0
    first_console: float | None = None
    userspace_up: float | None = None
    ssh_ready: float | None = None

    def to_json(self) -> dict[str, float | None]:
        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 3)
        return {"first_console_s": r(self.first_console), "userspace_up_s": r(self.userspace_up),
                "ssh_ready_s": r(self.ssh_ready)}


@dataclass(eq=False)
class Machine:
    spec: qemu.QemuSpec
    run_dir: Path
    console: SerialConsole = field(init=False)
    qmp: Qmp | None = field(default=None, init=False)
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)
    events: list[QmpEvent] = field(default_factory=list, init=False)
    timings: Timings = field(default_factory=Timings, init=False)
    argv: list[str] = field(default_factory=list, init=False)

    #: per-machine scratch directory (QMP socket, joined initrd): removed at teardown
    workdir: Path | None = None
    #: the host port forwarded to the guest's SSH port (read back from QEMU after start)
    ssh_port: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.console = SerialConsole(self.run_dir / CONSOLE_LOG)
        self._t0 = 0.0

    # -- lifecycle -------------------------------------------------------------------------

    def start(self, *, qmp_timeout: float = 15.0, run: bool = True) -> None:
        """Start QEMU paused, connect QMP, start the console pump, then let the guest run
        (``run=False``: leave it paused; QMP ``cont`` starts it).

        The SSH port: QEMU binds it itself (``hostfwd`` port 0, unless the spec names one)
        and the bound port is read back over QMP, so concurrent guests never race for one."""
        if self.workdir is None:
            self.workdir = scratch.new_dir("vm-")
        self._launch(qmp_timeout, run)

    def _launch(self, qmp_timeout: float, run: bool = True) -> None:
        assert self.workdir is not None
        self.workdir.mkdir(parents=True, exist_ok=True)  # also when relaunched
        if not self.spec.name:
            self.spec.name = str(self.run_dir)
        sock = self.workdir / "qmp.sock"
        sock.unlink(missing_ok=True)
        self.argv = qemu.command_line(self.spec, sock)
        (self.run_dir / QEMU_CMDLINE).write_text(shlex.join(self.argv) + "\n")
        stderr = open(self.run_dir / QEMU_STDERR, "wb")  # noqa: SIM115
        self._t0 = time.monotonic()
        try:
            self.proc = qemu.spawn(self.argv, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=stderr,
                                   start_new_session=True)
        except FileNotFoundError as exc:
            raise BootFailure(f"{qemu.QEMU} not found (apt-get install -y qemu-system-x86)",
                              reason="qemu-failed") from exc
        finally:
            stderr.close()
        _LIVE.add(self)
        assert self.proc.stdout is not None
        self.console.start(self.proc.stdout)
        self.qmp = Qmp()
        try:
            self.qmp.connect(sock, deadline=time.monotonic() + qmp_timeout, alive=self.alive)
            self.ssh_port = self.spec.ssh_port or self._bound_ssh_port()
            if run:
                self.qmp.execute("cont")
        except QmpError as exc:
            self.kill()
            err = self.qemu_stderr()
            raise BootFailure("QEMU failed to start", reason="qemu-failed",
                              console=self.console.log_path, detail=err or str(exc)) from exc
        self.timings.qemu_started = 0.0

    def _bound_ssh_port(self) -> int:
        assert self.qmp is not None
        text = self.qmp.hmp("info usernet", timeout=5.0)
        port = qemu.parse_usernet_port(text)
        if port is None:
            raise QmpError(f"no SSH port forwarding in 'info usernet': {text.strip()!r}",
                           reason="qemu-no-ssh-port")
        return port

    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    def qemu_stderr(self) -> str:
        with contextlib.suppress(OSError):
            return (self.run_dir / QEMU_STDERR).read_text(errors="replace").strip()
        return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def poll_events(self) -> QmpEvent | None:
        """Drain QMP events; the first terminal one (panic, shutdown, reset, stop) or None."""
        if self.qmp is not None:
            while not self.qmp.events.empty():
                self.events.append(self.qmp.events.get_nowait())
        terminal: QmpEvent | None = None
        for ev in self.events:
            if ev.name == "RESUME" and terminal is not None and terminal.name == "STOP":
                terminal = None  # paused by us (hang forensics) and running again
            elif ev.name in TERMINAL_EVENTS and terminal is None:
                terminal = ev
        return terminal

    def gone(self) -> bool:
        """True once the guest can make no more progress (terminal event or QEMU exited)."""
        return self.poll_events() is not None or not self.alive()

    def status(self) -> str:
        """QMP query-status: running, paused, guest-panicked, shutdown, ..."""
        if self.qmp is None or not self.alive():
            return "dead"
        try:
            return str(self.qmp.execute("query-status", timeout=3.0)["status"])
        except QmpError:
            return "unknown"

    def wait_console(self, marker: str, timeout: float) -> bool:
        return self.console.wait_for(marker, timeout, stop=self.gone)

    def note_first_console(self) -> None:
        if self.console.first_output is not None and self.timings.first_console is None:
            self.timings.first_console = self.console.first_output - self._t0

    # -- teardown --------------------------------------------------------------------------

    def stop(self, *, powerdown_timeout: float = 2.0, quit_timeout: float = 3.0) -> str:
        """Power down with a deadline, then quit, then kill. Returns how it ended."""
        how = "already-exited"
        if self.alive() and self.qmp is not None:
            how = "powerdown"
            try:
                if self.status() == "running":
                    self.qmp.execute("system_powerdown", timeout=2.0)
                    if self.qmp.wait_event({"SHUTDOWN"}, powerdown_timeout) is None:
                        raise QmpError("no SHUTDOWN after system_powerdown")
                else:
                    raise QmpError("not running")
                self.proc.wait(quit_timeout)  # type: ignore[union-attr]
            except (QmpError, subprocess.TimeoutExpired):
                how = "quit"
                with contextlib.suppress(QmpError):
                    self.qmp.execute("quit", timeout=2.0)
                try:
                    self.proc.wait(quit_timeout)  # type: ignore[union-attr]
                except subprocess.TimeoutExpired:
                    how = "kill"
        if self.alive():
            how = "kill"
        self.kill()
        return how

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)
        if self.qmp is not None:
            self.qmp.close()
        self.console.close()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        _LIVE.discard(self)

    def __enter__(self) -> Machine:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        if et is not None and not issubclass(et, Exception):
            self.kill()  # Ctrl-C and friends: no time for a graceful power down
        else:
            self.stop()


def kill_all() -> None:
    """Kill every guest this process started (used at exit and on signals)."""
    for m in list(_LIVE):
        m.kill()
