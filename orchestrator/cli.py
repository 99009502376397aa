"""The ``pgo-orch`` command: parsing and exit codes; each subcommand has its own module."""

from __future__ import annotations

import argparse
import atexit
import importlib
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from typing import NoReturn

from orchestrator.errors import ExitCode, PgoOrchError

#: Subcommand modules. Each exposes ``register(subparsers) -> None`` that adds its parser and
#: sets ``func`` (``Callable[[argparse.Namespace], int]``) as the parser default.
SUBCOMMAND_MODULES = [
    "orchestrator.commands.build",
    "orchestrator.commands.boot",
    "orchestrator.commands.doctor",
    "orchestrator.commands.run",
    "orchestrator.commands.detect",
    "orchestrator.commands.profile",
    "orchestrator.commands.series",
    "orchestrator.commands.bisect",
    "orchestrator.commands.reproduce",
]

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """Usage errors are invalid input: exit 3 (argparse's own default is 2)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(int(ExitCode.INVALID_INPUT), f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pgo-orch",
        description="Build, boot and test clang PGO kernels under QEMU.",
        epilog="Exit codes: 0 pass, 1 problem found in the kernel, 2 infrastructure error, "
        "3 invalid input.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    from orchestrator.vm.machine import kill_all

    atexit.register(kill_all)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _on_sigterm)
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.func
    try:
        return handler(args)
    except PgoOrchError as exc:
        print(f"pgo-orch: error: {exc.message}", file=sys.stderr)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        # the reports are written; further signals must not turn exit 2 into a kill. Block
        # them first: one arriving before SIG_IGN is in place would escape as a traceback
        # (a blocked signal stays pending and SIG_IGN then discards it)
        if threading.current_thread() is threading.main_thread():
            signal.pthread_sigmask(signal.SIG_BLOCK,
                                   {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
            for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_IGN)
        print("pgo-orch: interrupted", file=sys.stderr)
        return int(ExitCode.INFRA)
    except Exception:  # a bug in pgo-orch is an infrastructure error, never "kernel problem"
        traceback.print_exc()
        print("pgo-orch: internal error (a bug in pgo-orch); exit 2", file=sys.stderr)
        return int(ExitCode.INFRA)


if __name__ == "__main__":
    sys.exit(main())
