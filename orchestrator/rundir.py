"""The run directory: created once, owned by one run, every file in it named here once.

Map of a run directory (``RunDir`` attribute -> file):

====================  ==========================================================
``console``           console.log: the serial console, written as it arrives
``scenario_toml``     scenario.toml: the scenario text the run used
``scenario_json``     scenario.resolved.json: the scenario with every default filled
``kernel_metadata``   kernel-metadata.json: copy of the build's metadata
``result_json``       result.json: the run as a value (CONTRACT.md), written last
``report_json``       report.json / ``findings_json`` findings.json: the full report
``junit``             junit.xml; ``html`` report.html; ``rerun_script`` reproducer.sh
``dmesg``             dmesg.txt; ``driver_log`` driver.log; ``driver_config`` driver-config.sh
``profiles``          profiles/: profile copies the readers kept
``hang_json``         hang.json / ``hang_txt`` hang.txt: hang forensics (vm layer)
(vm layer)            qemu.cmdline, qemu.stderr: how QEMU was started and what it said
(rootfs layer)        overlay.cpio.gz, initrd.json: the run's initramfs overlay and the
                      cached base it was joined with
====================  ==========================================================

A run directory is claimed with a lock file created exclusively (``O_EXCL``) and held with
``flock`` for the run's lifetime, so two runs can never share one, even when both were given
the same new ``--out``.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from pathlib import Path
from typing import IO, Any

from orchestrator.errors import InfraError, InvalidInput
from orchestrator.fsutil import write_atomic

LOCK_NAME = ".pgo-orch.lock"
#: Names of the files the vm and rootfs layers write into a run directory. They receive the
#: directory as a path (they are used by ``pgo-orch boot`` too), and take the names from here.
CONSOLE_LOG = "console.log"
QEMU_CMDLINE = "qemu.cmdline"
QEMU_STDERR = "qemu.stderr"
HANG_JSON = "hang.json"
HANG_TXT = "hang.txt"
OVERLAY_CPIO = "overlay.cpio.gz"
INITRD_REF = "initrd.json"


class RunDir:
    """A claimed run directory. Use :meth:`create` (a new run) or :meth:`claim_job` (a job)."""

    console_name = CONSOLE_LOG

    def __init__(self, path: Path, lock: IO[str] | None = None) -> None:
        """A view of ``path``; only :meth:`create` and :meth:`claim_job` claim it."""
        self.path = path
        self._lock: IO[str] | None = lock

    # -- the files ---------------------------------------------------------------------
    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @property
    def console(self) -> Path:
        return self.path / self.console_name

    @property
    def scenario_toml(self) -> Path:
        return self.path / "scenario.toml"

    @property
    def scenario_json(self) -> Path:
        return self.path / "scenario.resolved.json"

    @property
    def kernel_metadata(self) -> Path:
        return self.path / "kernel-metadata.json"

    @property
    def result_json(self) -> Path:
        return self.path / "result.json"

    @property
    def report_json(self) -> Path:
        return self.path / "report.json"

    @property
    def findings_json(self) -> Path:
        return self.path / "findings.json"

    @property
    def junit(self) -> Path:
        return self.path / "junit.xml"

    @property
    def html(self) -> Path:
        return self.path / "report.html"

    @property
    def rerun_script(self) -> Path:
        return self.path / "reproducer.sh"

    @property
    def dmesg(self) -> Path:
        return self.path / "dmesg.txt"

    @property
    def driver_log(self) -> Path:
        return self.path / "driver.log"

    @property
    def driver_config(self) -> Path:
        return self.path / "driver-config.sh"

    @property
    def profiles(self) -> Path:
        return self.path / "profiles"

    @property
    def hang_json(self) -> Path:
        return self.path / HANG_JSON

    @property
    def hang_txt(self) -> Path:
        return self.path / HANG_TXT

    # -- writing -----------------------------------------------------------------------
    def write_atomic(self, path: Path, text: str) -> None:
        """Write ``text`` to ``path`` (in this directory) via a unique temp file and rename."""
        write_atomic(path, text)

    def write_json(self, path: Path, data: Any) -> None:
        self.write_atomic(path, json.dumps(data, indent=2) + "\n")

    def release(self) -> None:
        """Give up the claim (the lock file stays: the directory is never reused by --out)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def __enter__(self) -> RunDir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # -- claiming ----------------------------------------------------------------------
    @classmethod
    def create(cls, out: Path | None, kind: str, *, base: Path = Path("runs")) -> RunDir:
        """A new run directory: ``out`` (must be new or empty) or ``base/<kind>-<stamp>``.

        Invalid ``--out`` (a file, a non-empty directory, one another run claimed): exit 3;
        one that cannot be created or written (permissions, dangling link, full disk): exit 2.
        """
        if out is not None:
            return cls._claim_new(out)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for n in range(1000):
            d = base / f"{kind}-{stamp}-{os.getpid()}{'' if n == 0 else f'-{n}'}"
            try:
                _mkdir(d.parent, parents=True)
                d.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                raise _unwritable(d, exc) from exc
            return cls._claim_new(d)
        raise InfraError(f"could not create a run directory under {base}/", reason="run-dir")

    @classmethod
    def _claim_new(cls, out: Path) -> RunDir:
        if out.is_symlink() and not out.exists():
            raise InfraError(f"--out {out} is a dangling symbolic link", reason="run-dir")
        if out.exists() and not out.is_dir():
            raise InvalidInput(f"--out {out} exists and is not a directory", field="--out")
        try:
            _mkdir(out, parents=True)
            entries = [p.name for p in out.iterdir()]
        except OSError as exc:
            raise _unwritable(out, exc) from exc
        if entries:
            raise InvalidInput(f"--out {out} exists and is not an empty directory"
                               + (" (another run uses it)" if LOCK_NAME in entries else ""),
                               field="--out")
        try:
            fd = os.open(out / LOCK_NAME, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError as exc:
            raise InvalidInput(f"--out {out} is already used by another run",
                               field="--out") from exc
        except OSError as exc:
            raise _unwritable(out, exc) from exc
        lock = os.fdopen(fd, "w")
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        return cls(out.resolve(), lock)

    @classmethod
    def claim_job(cls, path: Path) -> RunDir:
        """The run directory of a job: created if new, else waited for (flock) and reused.

        The caller checks ``result_json`` after claiming; a job directory without a usable
        result (an interrupted attempt) is emptied by :meth:`reset`."""
        try:
            _mkdir(path, parents=True)
            lock = open(path / LOCK_NAME, "a+")  # noqa: SIM115 - held for the run
        except OSError as exc:
            raise _unwritable(path, exc) from exc
        fcntl.flock(lock, fcntl.LOCK_EX)
        return cls(path.resolve(), lock)

    def reset(self) -> None:
        """Remove what an earlier attempt left (everything but the lock file)."""
        for p in self.path.iterdir():
            if p.name == LOCK_NAME:
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()


def _mkdir(path: Path, *, parents: bool) -> None:
    path.mkdir(parents=parents, exist_ok=True)


def _unwritable(path: Path, exc: OSError) -> InfraError:
    return InfraError(f"cannot create run directory {path}: {exc.strerror or exc}",
                      reason="run-dir")


def new_run_dir(out: Path | None, kind: str) -> Path:
    """Compatibility for commands that only need a path (``boot``): claim and return it.

    The claim is released when the process exits (the lock file stays)."""
    rd = RunDir.create(out, kind)
    _KEEP.append(rd)
    return rd.path


_KEEP: list[RunDir] = []
