"""The host side of the guest driver (rootfs/guest/driver.sh): its config and its results."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from orchestrator.paths import ROOTFS_DIR
from orchestrator.scenario.model import Scenario

DRIVER_SCRIPT = ROOTFS_DIR / "guest" / "driver.sh"
GUEST_DIR = "/tmp/pgo-orch"
_ERRNO_TEXT = re.compile(r"(Resource temporarily unavailable|No such file or directory|"
                         r"Cannot allocate memory|Invalid argument|Bad address|"
                         r"Operation not permitted|Permission denied|Input/output error|"
                         r"Device or resource busy|Interrupted system call|No space left)")


def config_text(sc: Scenario, *, profile: str, reset: str, out: str = GUEST_DIR) -> str:
    """config.sh for the driver: plain assignments, every value quoted with shlex.quote."""
    q = shlex.quote
    lines = [f"OUT={q(out)}", f"PROFILE={q(profile)}", f"RESET={q(reset)}",
             f"NREADERS={len(sc.readers)}", f"NLOADS={len(sc.loads)}"]
    for i, r in enumerate(sc.readers):
        dur = int(r.duration) + (1 if r.duration % 1 else 0)
        lines += [f"READER_{i}_NAME={q(r.name)}", f"READER_{i}_CMD={q(r.command)}",
                  f"READER_{i}_PAR={r.parallel}", f"READER_{i}_DUR={dur}",
                  f"READER_{i}_ITER={r.iterations}", f"READER_{i}_MIN={r.min_bytes}",
                  f"READER_{i}_KEEP={r.keep_every}", f"READER_{i}_KEEPMAX={r.keep_max}"]
    for i, ld in enumerate(sc.loads):
        interval = f"{ld.interval:g}"
        lines += [f"LOAD_{i}_NAME={q(ld.name)}", f"LOAD_{i}_CMD={q(ld.command)}",
                  f"LOAD_{i}_INT={q(interval)}"]
    return "\n".join(lines) + "\n"


@dataclass
class ReaderStats:
    name: str
    worker: int
    reads: int = 0
    failures: int = 0
    short: int = 0
    bytes: int = 0
    kept: int = 0
    events: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        """Distinct errno texts seen in failed reads (e.g. EAGAIN's text)."""
        seen: list[str] = []
        for ev in self.events:
            m = _ERRNO_TEXT.search(ev)
            if m and m.group(1) not in seen:
                seen.append(m.group(1))
        return seen

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "worker": self.worker, "reads": self.reads,
                "failures": self.failures, "short": self.short, "bytes": self.bytes,
                "kept": self.kept, "errors": self.errors, "events": self.events}


def parse_output(text: str) -> list[ReaderStats]:
    """The driver's ``reader``/``event`` lines as per-worker statistics."""
    stats: dict[str, ReaderStats] = {}

    def get(tag: str) -> ReaderStats:
        if tag not in stats:
            name, _, w = tag.rpartition(".")
            stats[tag] = ReaderStats(name, int(w) if w.isdigit() else 0)
        return stats[tag]

    for line in text.splitlines():
        parts = line.split(" ", 2)
        if len(parts) >= 3 and parts[0] == "reader":
            nums = parts[2].split()
            st = get(parts[1])
            if len(nums) >= 5 and all(n.isdigit() for n in nums[:5]):
                st.reads, st.failures, st.short, st.bytes, st.kept = map(int, nums[:5])
        elif len(parts) >= 3 and parts[0] == "event":
            get(parts[1]).events.append(parts[2])
    return sorted(stats.values(), key=lambda s: (s.name, s.worker))


def parse_progress(text: str) -> tuple[int, int, int]:
    """Sum of (reads, failures, short) over the ``progress.*`` files' contents."""
    reads = fails = short = 0
    for line in text.splitlines():
        nums = line.split()
        if len(nums) >= 3 and all(n.isdigit() for n in nums[:3]):
            reads += int(nums[0])
            fails += int(nums[1])
            short += int(nums[2])
    return reads, fails, short
