"""The typed scenario model (what a scenario TOML file, text or dict turns into).

``Scenario.to_json()`` gives the scenario in the shape of its TOML file (every default filled,
nothing null), so ``loader.from_dict(sc.to_json(), origin=...)`` gives the same scenario back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_PROFILE_PATHS = [
    "/sys/kernel/debug/pgo/vmlinux.profraw",
    "/sys/kernel/debug/pgo/profraw",
    "/proc/pgo/vmlinux.profraw",
]
DEFAULT_RESET_PATHS = [
    "/sys/kernel/debug/pgo/reset",
    "/proc/pgo/reset",
]


@dataclass
class KernelSpec:
    fragments: list[str] | None = None  # None: the default fragments
    options: list[str] = field(default_factory=list)
    require: list[str] = field(default_factory=list)  # must be in the final .config
    base_config: str = "tinyconfig"


@dataclass
class GuestMachineSpec:
    cpus: int = 2
    memory_mb: int = 1024
    accel: str = "auto"
    boot_timeout: float = 60.0
    ssh_timeout: float = 30.0
    setup_timeout: float = 60.0
    cmdline: list[str] = field(default_factory=list)


@dataclass
class ProfileSpec:
    paths: list[str] = field(default_factory=lambda: list(DEFAULT_PROFILE_PATHS))
    reset_paths: list[str] = field(default_factory=lambda: list(DEFAULT_RESET_PATHS))
    required: bool = True  # False: a scenario that does not need the PGO interface
    check: bool = True  # validate kept copies as LLVM raw profiles


@dataclass
class Reader:
    """A command run in a loop by ``parallel`` workers; $PROFILE and $RESET are set."""

    name: str
    command: str
    parallel: int = 1
    duration: float = 0.0  # seconds; 0 with iterations > 0 means "iterations only"
    iterations: int = 0
    min_bytes: int = 1  # a read with less output is a failed ("short") read
    keep_every: int = 0  # keep every Nth output (0: none)
    keep_max: int = 20


@dataclass
class Load:
    """A concurrent command: runs for the readers' whole duration, or every ``interval`` s."""

    name: str
    command: str
    interval: float = 0.0  # 0: start once and keep running; >0: rerun every interval s


@dataclass
class AllowEntry:
    reason: str
    title: str | None = None
    pattern: str | None = None
    klass: str | None = None


@dataclass
class VerdictSpec:
    fail_on: list[str] = field(default_factory=lambda: ["*"])  # finding classes that fail
    allow: list[AllowEntry] = field(default_factory=list)
    fail_on_read_errors: bool = True
    settle: float = 5.0  # seconds to keep watching the console after the readers end


@dataclass
class ExpectSpec:
    """``[expect]``: the run *reproduces* when a finding with one of these titles appears."""

    titles: list[str] = field(default_factory=list)


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


@dataclass
class Scenario:
    name: str
    description: str
    path: Path
    kernel: KernelSpec = field(default_factory=KernelSpec)
    machine: GuestMachineSpec = field(default_factory=GuestMachineSpec)
    profile: ProfileSpec = field(default_factory=ProfileSpec)
    setup: list[str] = field(default_factory=list)
    readers: list[Reader] = field(default_factory=list)
    loads: list[Load] = field(default_factory=list)
    verdict: VerdictSpec = field(default_factory=VerdictSpec)
    #: None: the scenario has no [expect] table (a run's ``reproduced`` is then null)
    expect: ExpectSpec | None = None
    #: the TOML text the scenario came from ("" when built from a dict)
    source_text: str = field(default="", repr=False, compare=False)

    @property
    def origin(self) -> str:
        """The name used in messages: the file path, or the label given to ``loads``."""
        return str(self.path)

    def to_json(self) -> dict[str, Any]:
        """The scenario as a TOML-shaped dict (defaults filled, no nulls, no path)."""
        data = asdict(self)
        for key in ("path", "source_text"):
            data.pop(key)
        out: dict[str, Any] = _drop_none(data)
        return out

    def reproduced_by(self, titles: list[str]) -> bool | None:
        """Whether findings with ``titles`` reproduce this scenario (None without [expect])."""
        if self.expect is None:
            return None
        return any(t in self.expect.titles for t in titles)

    @property
    def run_seconds(self) -> float:
        """How long the readers are meant to run (the scenario's own duration)."""
        return max((r.duration for r in self.readers), default=0.0)
