"""``pgo-orch boot``: boot a built kernel, then run one command over SSH or open a shell."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator import ui
from orchestrator.commands.build import add_build_options, request_from_args
from orchestrator.errors import ExitCode
from orchestrator.kernel import build as kbuild
from orchestrator.rundir import CONSOLE_LOG, new_run_dir

if TYPE_CHECKING:  # the VM stack (paramiko, qemu.qmp) is imported when a boot starts
    from orchestrator.vm import guest as vmguest


def add_machine_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("machine")
    g.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto",
                   help="accelerator; auto probes KVM once per host and falls back to TCG")
    g.add_argument("--cpus", type=int, default=2)
    g.add_argument("--memory", type=int, default=1024, metavar="MIB")
    g.add_argument("--boot", dest="boot_method", choices=("auto", "pvh", "bzimage"),
                   default="auto", help="PVH (vmlinux) when CONFIG_PVH=y, else bzImage")
    g.add_argument("--boot-timeout", type=float, default=60.0, metavar="S",
                   help="deadline from QEMU start to userspace (default 60)")
    g.add_argument("--ssh-timeout", type=float, default=30.0, metavar="S",
                   help="deadline from userspace to SSH ready (default 30)")
    g.add_argument("--cmdline", action="append", default=[], metavar="ARG",
                   help="extra kernel command line argument; repeatable")


def boot_options(args: argparse.Namespace) -> vmguest.BootOptions:
    from orchestrator.vm import guest as vmguest

    return vmguest.BootOptions(accel=args.accel, cpus=args.cpus, memory_mb=args.memory,
                               boot_timeout=args.boot_timeout, ssh_timeout=args.ssh_timeout,
                               cmdline_extra=list(args.cmdline), boot_method=args.boot_method)


def register(sub: Any) -> None:
    p = sub.add_parser("boot", help="boot a kernel under QEMU q35 and run a command over SSH",
                       description="Boot a built kernel (default: the default kernel) and run "
                       "the command after -- over SSH, exiting with its status; without a "
                       "command, open an interactive shell.")
    add_build_options(p)
    add_machine_options(p)
    p.add_argument("--out", type=Path, help="run directory (default: runs/boot-<id>/)")
    p.add_argument("--timeout", type=float, default=600.0, metavar="S",
                   help="deadline for the command (default 600)")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARG...]")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    result = kbuild.build(request_from_args(args))
    with result.lease():  # the cache does not prune this kernel while the guest runs it
        return _boot(args, result, command)


def _boot(args: argparse.Namespace, result: kbuild.BuildResult, command: list[str]) -> int:
    from orchestrator.vm import guest as vmguest
    from orchestrator.vm.machine import BootFailure

    run_dir = new_run_dir(args.out, "boot")
    report: dict[str, object] = {"run_dir": str(run_dir), "kernel": result.to_json()}
    ui.say("vm", f"run directory: {run_dir}")
    try:
        g = vmguest.boot(result.image(), run_dir, boot_options(args))
    except BootFailure as exc:
        report.update(outcome=exc.reason, reason=exc.reason, error=exc.message,
                      console=str(run_dir / CONSOLE_LOG))
        _emit(args, report)
        raise
    with g:
        t = g.machine.timings
        report.update(outcome="booted", accel=g.accel.accel, boot_method=g.boot_method,
                      timings=t.to_json(), console=str(g.machine.console.log_path))
        ui.say("vm", f"booted ({g.accel.accel}, {g.boot_method}): first console "
                     f"{t.first_console or 0:.2f}s, userspace {t.userspace_up or 0:.2f}s, "
                     f"SSH ready {t.ssh_ready or 0:.2f}s")
        if not command:
            code = g.ssh.interactive_shell()
            report["exit_status"] = code
            _emit(args, report)
            return int(code or 0)
        out = sys.stdout.buffer if not args.json else None

        def to_stdout(b: bytes) -> None:
            if out is not None:
                out.write(b)
                out.flush()

        def to_stderr(b: bytes) -> None:
            sys.stderr.buffer.write(b)
            sys.stderr.buffer.flush()

        res = g.ssh.run(command, timeout=args.timeout, on_stdout=to_stdout,
                        on_stderr=to_stderr)
        report.update(exit_status=res.exit_status, timed_out=res.timed_out,
                      command_s=round(res.duration, 3))
        if args.json:
            report["stdout"] = res.stdout.decode(errors="replace")
        if res.timed_out:
            hang = None if g.responsive() else g.hang_summary()
            report["outcome"] = "guest-hung" if hang else "command-timeout"
            report["reason"] = report["outcome"]
            if hang:
                report["hang"] = hang
            _emit(args, report)
            ui.say("vm", f"command did not finish within {args.timeout:.0f}s"
                         + (f"; {hang}" if hang else ""))
            return int(ExitCode.INFRA)
        _emit(args, report)
        return int(res.exit_status if res.exit_status is not None else ExitCode.INFRA)


def _emit(args: argparse.Namespace, report: dict[str, object]) -> None:
    if args.json:
        print(json.dumps(report))
