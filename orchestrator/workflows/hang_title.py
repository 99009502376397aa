"""Naming the guilty function of a cut report from the hang forensics.

A report printed while a spinlock is held can deadlock the kernel before its trace is out
(clang PGO: value profiling in the printk path re-takes the lock the reporting code holds):
the finding is then corrupted and its title has no function. If the guest was found hung,
the forensics (a ``HangReport``) hold the stack of every vCPU.

Which vCPU: the one whose stack holds the report's own printing chain (``dump_stack``,
``__warn``, and the class's reporter such as ``__might_resched`` for sleep-in-atomic), else
the one the report's header names ("CPU: N PID: ... Comm: ..."), else the first busy one.
Other vCPUs are usually just spinning behind the same lock (another reader in
``path_openat``) and would name the wrong function.

Which frames: those from the innermost frame of that chain downwards, i.e. the frames a
complete trace would have printed after "Call Trace:"; the printk, console, value-profiling
and lock frames above it are what deadlocked, not the bug. These frames are appended to the
cut report as a trace and the report titled again, with the same catalogue rules.

When the report deadlocked in its very first printk (the printk core is profiled too), no
line reached the console; a vCPU whose stack is inside the class's reporter then yields the
finding itself, rebuilt from the stack and marked corrupted.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from orchestrator.detect.detector import Finding, detect_text
from orchestrator.vm.forensics import CpuState, HangReport

_PREFIX = re.compile(r"^\[\s*\d+\.\d+\](\s?\[\s*[TC]\d+\])?")
#: "CPU: 1 PID: 201 Comm: cat ..." (dump_stack_print_info), or "CPU: 1 UID: ..." (newer)
_HEADER_CPU = re.compile(r"\bCPU: (\d+) (?:PID|UID): ")
#: functions that print a report's trace: the chain starts at the innermost of them
_REPORT_CHAIN = frozenset({
    "dump_stack", "dump_stack_lvl", "show_stack", "show_trace_log_lvl", "__warn",
    "report_bug", "__die", "die", "oops_begin", "panic", "nmi_cpu_backtrace",
})
#: the class's own reporter, below dump_stack (the chain if the header's printk deadlocked)
_CLASS_CHAIN = {
    "sleep-in-atomic": frozenset({"__might_resched", "__might_sleep", "___might_sleep"}),
    "scheduling-while-atomic": frozenset({"__schedule_bug"}),
    "blocking-ops": frozenset({"__might_sleep"}),
}
#: frames above the caller when no chain frame is on the stack: the deadlock, not the bug
_NOISE = re.compile(
    r"^(?:_?_?raw_spin_.*|do_raw_spin_.*|native_queued_spin_lock_slowpath|"
    r"__pv_queued_spin_lock_slowpath|queued_spin_lock_slowpath|__llvm_profile_.*|"
    r"_?printk.*|vprintk.*|__printk.*|console_.*|call_console_drivers?|serial8250_.*|"
    r"uart_.*|vsnprintf|vscnprintf|snprintf|sprintf|symbol_string|pointer|"
    r"sprint_.*|__sprint_.*|kallsyms_.*|dump_stack_print_info|prb_.*|_prb_.*)$")


def _func(symbol: str) -> str:
    return symbol.split("+", 1)[0]


def _chain_frames(cpu: CpuState) -> list[str]:
    return [f.symbol for f in cpu.frames
            if f.how in ("rip", "frame-pointer") and "+" in f.symbol]


def _busy(hang: HangReport) -> list[tuple[CpuState, list[str]]]:
    return [(c, fr) for c in hang.cpus if c.cpl == 0 and not c.halted
            if (fr := _chain_frames(c))]


def _pick(hang: HangReport, klass: str, report: str) -> tuple[int, list[str]] | None:
    """(vCPU index, frames from the report chain down) of the reporting vCPU."""
    chain = _REPORT_CHAIN | _CLASS_CHAIN.get(klass, frozenset())
    busy = _busy(hang)
    for cpu, frames in busy:
        funcs = [_func(s) for s in frames]
        hits = [i for i, fn in enumerate(funcs) if fn in chain]
        if hits:
            return cpu.index, frames[hits[0]:]
    named = {int(m.group(1)) for m in _HEADER_CPU.finditer(report)}
    ordered = [b for b in busy if b[0].index in named] + [b for b in busy
                                                          if b[0].index not in named]
    for cpu, frames in ordered:
        i = 0
        while i < len(frames) and _NOISE.match(_func(frames[i])):
            i += 1
        if i < len(frames):
            return cpu.index, frames[i:]
    return None


#: a report's first line, for classes whose reporter can deadlock before printing anything
_SYNTHETIC_HEADER = {
    "sleep-in-atomic": "BUG: sleeping function called from invalid context at (not printed)",
    "scheduling-while-atomic": "BUG: scheduling while atomic: (not printed)",
}


def _unprinted(hang: HangReport, findings: list[Finding]) -> list[Finding]:
    """Reports that deadlocked before any line reached the console, rebuilt from a vCPU whose
    stack is inside the class's reporter (e.g. ``_printk <- __might_resched <- ... <-
    prf_open``), for classes that have no finding yet."""
    have = {f.klass for f in findings}
    out: list[Finding] = []
    for cpu, frames in _busy(hang):
        funcs = [_func(s) for s in frames]
        for klass, chain in _CLASS_CHAIN.items():
            header = _SYNTHETIC_HEADER.get(klass)
            hits = [i for i, fn in enumerate(funcs) if fn in chain]
            if header is None or not hits or klass in have:
                continue
            trace = "".join(f" {sym}/0x1000\n" for sym in frames[hits[0]:])
            text = f"{header}\nCall Trace:\n <TASK>\n{trace} </TASK>\n"
            redo = [r for r in detect_text(text) if r.klass == klass and r.guilty]
            if not redo:
                continue
            have.add(klass)
            out.append(replace(redo[0], corrupted=True, report=(
                f"[pgo-orch: the kernel deadlocked while printing this report, before any of it "
                f"reached the console; rebuilt from the hang forensics of CPU#{cpu.index}]\n"
                f"{header}\nCall Trace (from the stack, innermost first):\n{trace}")))
    return out


def complete(findings: list[Finding], hang: HangReport | Path) -> list[Finding]:
    """Findings with cut traces re-titled from the reporting vCPU's stack (others unchanged),
    plus reports that never reached the console, rebuilt from a stack inside their reporter.

    ``hang`` is the forensics' value (a path to a hang.json is read; unreadable: no change).
    """
    if isinstance(hang, Path):
        try:
            hang = HangReport.load(hang)
        except (OSError, ValueError):
            return findings
    out = []
    for f in findings:
        if not (f.corrupted and f.guilty is None):
            out.append(f)
            continue
        picked = _pick(hang, f.klass, f.report)
        if picked is None:
            out.append(f)
            continue
        cpu, frames = picked
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
    return out + _unprinted(hang, out)
