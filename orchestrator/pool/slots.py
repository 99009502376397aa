"""Guest slots leased with file locks under ``<cache>/pool/<host>/``, shared by processes.

Layout::

    <cache>/pool/<hostname>/admit.lock     admission: taken briefly to look and to lease
    <cache>/pool/<hostname>/slot-<k>.lease held (flock, exclusive) while guest k runs;
                                           holds JSON: pid, job, vcpus, memory_mb, ...

A lease is a lock the kernel releases when its holder dies, so a killed pgo-orch never leaks
a slot. Admission is serialized: under ``admit.lock`` a process sums the vCPUs and memory of
every lease currently held (a lease file it cannot lock shared is held) and takes the lowest
free slot only if its own guest fits: vCPUs within the host's CPUs (unless ``overcommit``)
and memory within the guests' share of RAM. A guest that could never fit (more vCPUs than
the host has) runs alone and is marked overcommitted. The directory is per host name so a
cache shared between hosts (NFS) keeps one budget per host.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from orchestrator.errors import InfraError
from orchestrator.paths import cache_root
from orchestrator.pool.host import Demand, Host, this_host

POLL_S = 0.5


@dataclass(frozen=True)
class SlotInfo:
    """What a held lease file says about its guest."""

    slot: int
    pid: int
    label: str
    vcpus: int
    memory_mb: int
    overcommitted: bool

    @classmethod
    def parse(cls, slot: int, text: str) -> SlotInfo | None:
        try:
            d = json.loads(text)
            return cls(slot, int(d["pid"]), str(d["label"]), int(d["vcpus"]),
                       int(d["memory_mb"]), bool(d["overcommitted"]))
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(eq=False)
class SlotLease:
    """A held slot; release it (or leave the ``with`` block) when the guest has stopped."""

    slot: int
    demand: Demand
    overcommitted: bool
    host: Host
    running_vcpus: int  # including this guest, when it was admitted
    waited_s: float
    _fh: IO[str] | None = field(default=None, repr=False)

    def release(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def __enter__(self) -> SlotLease:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


class SlotBook:
    """The slot leases of one host, in ``root`` (default ``<cache>/pool/<hostname>``)."""

    def __init__(self, root: Path | None = None, host: Host | None = None) -> None:
        self.root = root or cache_root() / "pool" / _host_dir_name()
        self.host = host or this_host()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InfraError(f"cannot create the pool directory {self.root}: {exc}",
                             reason="pool-dir") from exc

    # -- looking ---------------------------------------------------------------------------

    def held(self) -> list[SlotInfo]:
        """Leases held right now by any process (this one included)."""
        out = []
        for path in sorted(self.root.glob("slot-*.lease")):
            slot = _slot_of(path)
            if slot is None:
                continue
            try:
                fh = open(path)  # noqa: SIM115 - closed below
            except FileNotFoundError:
                continue
            with fh:
                try:
                    fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:
                    info = SlotInfo.parse(slot, fh.read())
                    if info is not None:
                        out.append(info)
                    continue
                fcntl.flock(fh, fcntl.LOCK_UN)
        return out

    # -- leasing ---------------------------------------------------------------------------

    def try_acquire(self, demand: Demand, *, overcommit: bool = False,
                    label: str = "") -> SlotLease | None:
        """SlotLease a slot now if the guest fits, else None."""
        with self._admission():
            held = self.held()
            used_v = sum(i.vcpus for i in held)
            used_m = sum(i.memory_mb for i in held)
            alone = not held
            fits_cpu = used_v + demand.vcpus <= self.host.cpus
            fits_mem = used_m + demand.memory_mb <= self.host.guest_memory_budget_mb
            if not ((fits_cpu or overcommit or alone) and (fits_mem or alone)):
                return None
            taken = {i.slot for i in held}
            slot = next(k for k in range(len(taken) + 1) if k not in taken)
            over = not fits_cpu
            fh = open(self.root / f"slot-{slot}.lease", "a+")  # noqa: SIM115 - kept open
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fh.seek(0)
                fh.truncate()
                fh.write(json.dumps({"pid": os.getpid(), "label": label,
                                     "vcpus": demand.vcpus, "memory_mb": demand.memory_mb,
                                     "overcommitted": over, "since": time.time()}))
                fh.flush()
            except OSError:
                fh.close()
                raise
            return SlotLease(slot, demand, over, self.host, used_v + demand.vcpus, 0.0, fh)

    def acquire(self, demand: Demand, *, overcommit: bool = False, label: str = "",
                cancel: threading.Event | None = None) -> SlotLease:
        """Wait until the guest fits and lease a slot (InfraError if ``cancel`` is set)."""
        t0 = time.monotonic()
        while True:
            if cancel is not None and cancel.is_set():
                raise InfraError("cancelled while waiting for a pool slot", reason="interrupted")
            lease = self.try_acquire(demand, overcommit=overcommit, label=label)
            if lease is not None:
                lease.waited_s = round(time.monotonic() - t0, 3)
                return lease
            if cancel is not None:
                cancel.wait(POLL_S)
            else:
                time.sleep(POLL_S)

    @contextlib.contextmanager
    def _admission(self) -> Any:
        fh = open(self.root / "admit.lock", "a")  # noqa: SIM115 - closed below
        try:
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX)
                    break
                except OSError as exc:  # EINTR
                    if exc.errno != errno.EINTR:
                        raise
            yield
        finally:
            fh.close()  # closing releases the lock


def _slot_of(path: Path) -> int | None:
    stem = path.name[len("slot-"):-len(".lease")]
    return int(stem) if stem.isdigit() else None


def _host_dir_name() -> str:
    name = socket.gethostname() or "localhost"
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:64]
