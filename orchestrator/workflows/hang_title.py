"""Naming the guilty function of a cut report from the hang forensics.

A report printed while a spinlock is held can deadlock the kernel before its trace is out:
the finding is then corrupted and its title has no function. If the guest was found hung,
the forensics hold the stack of every vCPU; the stack of the CPU that is spinning in the
kernel is appended to the cut report as a trace and the report titled again, with the same
catalogue rules, so the title names the function the trace would have named.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

from orchestrator.detect.detector import Finding, detect_text

_PREFIX = re.compile(r"^\[\s*\d+\.\d+\](\s?\[\s*[TC]\d+\])?")


def _busy_cpu_frames(hang: dict[str, object]) -> tuple[int, list[str]] | None:
    cpus = hang.get("cpus")
    if not isinstance(cpus, list):
        return None
    for cpu in cpus:
        if not isinstance(cpu, dict) or cpu.get("cpl") != 0 or cpu.get("halted"):
            continue
        frames = [str(f["symbol"]) for f in cpu.get("frames", [])
                  if isinstance(f, dict) and f.get("how") in ("rip", "frame-pointer")
                  and "+" in str(f.get("symbol", ""))]
        if frames:
            return int(cpu.get("index", 0)), frames
    return None


def complete(findings: list[Finding], hang_json: Path) -> list[Finding]:
    """Findings with cut traces re-titled from the hung CPU's stack (others unchanged)."""
    try:
        hang = json.loads(hang_json.read_text())
    except (OSError, ValueError):
        return findings
    busy = _busy_cpu_frames(hang)
    if busy is None:
        return findings
    cpu, frames = busy
    out = []
    for f in findings:
        if not (f.corrupted and f.guilty is None):
            out.append(f)
            continue
        # the synthetic lines carry the report's own console prefix (timestamp, caller id)
        last = f.report.rstrip().splitlines()[-1] if f.report.strip() else ""
        m = _PREFIX.match(last)
        pre = m.group(0) if m else ""
        trace = "".join(f"{pre} {sym}/0x1000\n" for sym in frames)
        text = f"{f.report.rstrip()}\n{pre}Call Trace:\n{pre} <TASK>\n{trace}{pre} </TASK>\n"
        redo = [r for r in detect_text(text) if r.klass == f.klass and r.guilty]
        if not redo:
            out.append(f)
            continue
        r = redo[0]
        out.append(replace(f, title=r.title, guilty=r.guilty, frames=r.frames,
                           report=f.report + f"\n[pgo-orch: trace cut; guilty function from "
                           f"the hang forensics of CPU#{cpu}]\n{trace}"))
    return out
