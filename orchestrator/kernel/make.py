"""Running make for a build: its own process group, streamed log, progress, clean stops.

Every make (the config steps and the build) runs as the leader of a new process group. If
pgo-orch stops for any reason (SIGTERM, Ctrl-C, an error), the whole group (make and every
sub-make and compiler under it) is terminated, then killed, and waited for *before* the
caller's locks are released: nothing keeps writing into an ``out/`` directory that another
build may be using next.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from orchestrator import ui
from orchestrator.errors import BuildFailed, InfraError, ToolMissing
from orchestrator.kernel.request import REPRO_ENV, Prepared
from orchestrator.tools import install_hint

_OBJ_LINE = re.compile(r"^\s+(CC|AS|LD|AR|HOSTCC|CPP|OBJCOPY|GEN|LDS|CALL|VDSO\S*)\s+(\S+)")
_ERROR_LINE = re.compile(r"(\berror:|\*\*\* |Error \d+|undefined (symbol|reference))")
_WARNING_LINE = re.compile(r"\bwarning:")
#: how long the group gets to exit after SIGTERM before SIGKILL
TERM_GRACE_S = 5.0


@dataclass
class MakeStats:
    objects: int = 0
    warnings: int = 0
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)


def _group_alive(pgid: int) -> bool:
    """True while a live (not zombie) process is in the group.

    Orphaned sub-makes are re-parented to PID 1, which in a container may never reap them,
    so a group of zombies counts as gone (they write nothing).
    """
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True
    for name in entries:
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()  # after "pid (comm)": state ppid pgrp
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


def stop_group(proc: subprocess.Popen[str], grace_s: float = TERM_GRACE_S) -> None:
    """Terminate the process group ``proc`` leads, kill what is left, and wait for it all."""
    # a second Ctrl-C, SIGTERM or SIGHUP (cli turns each into an interrupt) must not cut the
    # cleanup short: hold them until it is done
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK,
                                     {signal.SIGINT, signal.SIGTERM, signal.SIGHUP})
    try:
        _stop(proc, grace_s)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _stop(proc: subprocess.Popen[str], grace_s: float) -> None:
    pgid = proc.pid
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.05)
            if proc.returncode is not None and not _group_alive(pgid):
                return
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=1.0)


@contextlib.contextmanager
def group(argv: list[str], *, env: dict[str, str], cwd: Path | None = None,
          capture: bool = True) -> Iterator[subprocess.Popen[str]]:
    """Start ``argv`` as a new process group; on any exit from the block, stop the group."""
    try:
        proc = subprocess.Popen(
            argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.STDOUT if capture else None,
            text=True, errors="replace", bufsize=1, process_group=0,
        )
    except FileNotFoundError as exc:
        raise ToolMissing(argv[0], install_hint(argv[0])) from exc
    try:
        yield proc
    finally:
        if proc.returncode is None or _group_alive(proc.pid):
            stop_group(proc)
        if proc.stdout is not None:
            proc.stdout.close()


def run_logged(argv: list[str], env: dict[str, str], log: Callable[[str], object],
               cwd: Path | None = None, timeout: float = 900.0) -> None:
    """Run one config step, its output into the build log; InfraError when it fails."""
    log("$ " + " ".join(argv) + "\n")
    with group(argv, env=env, cwd=cwd) as proc:
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise InfraError(f"config step did not finish within {timeout:.0f}s: "
                             f"{' '.join(argv)}", reason="config-failed") from exc
    log(output)
    if proc.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-12:])
        raise InfraError(
            f"config step failed (exit {proc.returncode}): {' '.join(argv)}\n{tail}",
            reason="config-failed",
        )


def run_make(p: Prepared, out: Path, logf: IO[str], previous: int | None) -> MakeStats:
    """``make O=out`` of the request's targets; BuildFailed with the first errors."""
    argv = ["make", "-C", str(p.tree), f"O={out}", *p.make_args(), f"-j{p.request.jobs}",
            *p.request.targets]
    env = {**os.environ, **REPRO_ENV}
    write = logf.write
    write("$ " + " ".join(argv) + "\n")
    stats = MakeStats()
    ticker = ui.Ticker("build")
    start = time.monotonic()
    with group(argv, env=env) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            write(line)
            m = _OBJ_LINE.match(line)
            if m:
                stats.objects += 1
                total = f"/~{previous}" if previous else ""
                ticker.update(f"{stats.objects}{total} steps, {time.monotonic() - start:.0f}s: "
                              f"{m.group(1)} {m.group(2)}")
            elif _WARNING_LINE.search(line):
                stats.warnings += 1
            elif _ERROR_LINE.search(line):
                stats.errors += 1
                if len(stats.first_errors) < 12:
                    stats.first_errors.append(line.rstrip())
        rc = proc.wait()
    if rc != 0:
        ticker.done(f"make failed (exit {rc})")
        errs = "\n".join("  " + e for e in stats.first_errors) or "  (no error lines found)"
        raise BuildFailed(
            f"kernel build failed (make exit {rc}); first errors:\n{errs}\nfull log: {logf.name}",
            first_errors="\n".join(stats.first_errors), log=str(logf.name),
        )
    ticker.done(f"make finished: {stats.objects} steps in {time.monotonic() - start:.0f}s")
    return stats
