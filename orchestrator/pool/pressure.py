"""Was the host starved while a guest ran? CPU pressure sampled in the background.

Linux PSI (``/proc/pressure/cpu``, "some avg10": the share of the last 10 s in which some
runnable task waited for a CPU) is the measure; without PSI, the 1-minute load average per
CPU. A guest whose vCPU threads wait for the host long enough sees soft lockups and RCU
stalls that are the host's doing, so the pool records the worst value of each run.
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType

PSI_CPU = Path("/proc/pressure/cpu")
LOADAVG = Path("/proc/loadavg")
#: "some avg10" at or above this (percent) counts as a starved host (two 1-vCPU TCG guests on
#: 2 cores, not overcommitted, measured 34-58%: bench/pool_bench.py)
STARVED_PSI = 80.0
#: without PSI: load1 per CPU at or above this counts as starved
STARVED_LOAD_PER_CPU = 1.5
SAMPLE_S = 2.0


def read_psi_some_avg10(path: Path | None = None) -> float | None:
    try:
        for line in (path or PSI_CPU).read_text().splitlines():
            if line.startswith("some "):
                for part in line.split()[1:]:
                    k, _, v = part.partition("=")
                    if k == "avg10":
                        return float(v)
    except (OSError, ValueError):
        return None
    return None


def read_load1(path: Path | None = None) -> float | None:
    try:
        return float((path or LOADAVG).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


class PressureWatch:
    """Samples CPU pressure every ``interval`` s between ``__enter__`` and ``__exit__``."""

    def __init__(self, cpus: int, interval: float = SAMPLE_S) -> None:
        self.cpus = max(1, cpus)
        self.interval = interval
        self.max_psi: float | None = None
        self.max_load1: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pool-pressure", daemon=True)

    def sample(self) -> None:
        psi = read_psi_some_avg10()
        if psi is not None:
            self.max_psi = psi if self.max_psi is None else max(self.max_psi, psi)
        load = read_load1()
        if load is not None:
            self.max_load1 = load if self.max_load1 is None else max(self.max_load1, load)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    @property
    def starved(self) -> bool:
        if self.max_psi is not None:
            return self.max_psi >= STARVED_PSI
        if self.max_load1 is not None:
            return self.max_load1 / self.cpus >= STARVED_LOAD_PER_CPU
        return False

    def __enter__(self) -> PressureWatch:
        self._thread.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(2 * self.interval)
        self.sample()
