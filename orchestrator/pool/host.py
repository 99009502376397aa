"""This host's capacity and one guest's cost: vCPUs, memory, TCG translation cache.

Under TCG every vCPU is a host thread that is busy whenever the guest runs, so the budget is
counted in vCPUs against the host's CPUs. Memory is the guest's RAM plus QEMU's TCG
translation cache (``tb-size``, which QEMU would otherwise size at 1 GiB per guest) plus a
fixed allowance for QEMU itself, counted against a share of the host's RAM.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from orchestrator.vm.qemu import TCG_TB_SIZE_MB

#: QEMU's own memory beside guest RAM and the translation cache (devices, slirp, buffers)
QEMU_OVERHEAD_MB = 160
#: share of the host's RAM that guests may take together; the rest is for builds and the OS
MEMORY_SHARE = 0.75
#: the machine defaults of a scenario (orchestrator.scenario.model.GuestMachineSpec)
DEFAULT_GUEST_CPUS = 2
DEFAULT_GUEST_MEMORY_MB = 1024


@dataclass(frozen=True)
class Host:
    cpus: int
    memory_mb: int

    @property
    def guest_memory_budget_mb(self) -> int:
        return int(self.memory_mb * MEMORY_SHARE)


def host_cpus() -> int:
    """CPUs this process may run on (affinity aware)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def host_memory_mb(meminfo: Path = Path("/proc/meminfo")) -> int:
    """MemTotal in MiB (a generous 4 GiB when /proc/meminfo cannot be read)."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return 4096


def this_host() -> Host:
    return Host(cpus=host_cpus(), memory_mb=host_memory_mb())


@dataclass(frozen=True)
class Demand:
    """What one guest takes from the host while it runs."""

    vcpus: int
    memory_mb: int  # guest RAM + translation cache + QEMU overhead

    @classmethod
    def for_guest(cls, cpus: int, guest_memory_mb: int, *, tcg: bool = True) -> Demand:
        tb = TCG_TB_SIZE_MB if tcg else 0
        return cls(vcpus=cpus, memory_mb=guest_memory_mb + tb + QEMU_OVERHEAD_MB)


def demand_of_scenario(text: str, accel: str | None = None) -> Demand:
    """The guest a scenario's TOML asks for (``[machine] cpus``/``memory_mb``/``accel``).

    Only reads the numbers; the scenario loader validates the file when the job runs, so a
    malformed file here falls back to the defaults instead of failing twice.
    """
    try:
        machine = tomllib.loads(text).get("machine", {})
    except tomllib.TOMLDecodeError:
        machine = {}
    if not isinstance(machine, dict):
        machine = {}
    cpus = machine.get("cpus", DEFAULT_GUEST_CPUS)
    mem = machine.get("memory_mb", DEFAULT_GUEST_MEMORY_MB)
    cpus = cpus if isinstance(cpus, int) and cpus >= 1 else DEFAULT_GUEST_CPUS
    mem = mem if isinstance(mem, int) and mem >= 1 else DEFAULT_GUEST_MEMORY_MB
    acc = accel or machine.get("accel", "auto")
    return Demand.for_guest(cpus, mem, tcg=acc != "kvm")


def default_slots(guest_vcpus: int, host: Host | None = None) -> int:
    """max(1, CPUs // guest vCPUs): a 2-core machine with 2-vCPU guests keeps one slot."""
    h = host or this_host()
    return max(1, h.cpus // max(1, guest_vcpus))
