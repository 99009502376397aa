"""Hang forensics from outside the guest: where each vCPU is spinning, and called from what.

A kernel deadlocked with interrupts off answers nothing, so nothing is asked of it. Through
QMP the guest is paused, each vCPU's registers are read (HMP ``info registers -a``) and the
memory of its kernel stack is saved (``memsave``, virtual addresses as that vCPU sees them).
RIP, the frame-pointer chain from RBP, and every other kernel text address found on the stack
are symbolized against System.map and vmlinux (file:line). The result goes to hang.json and
hang.txt in the run directory.
"""

from __future__ import annotations

import contextlib
import json
import re
import struct
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.kernel.symbols import Symbolizer, SystemMap
from orchestrator.rundir import HANG_JSON, HANG_TXT
from orchestrator.vm.qmp import Qmp, QmpError

THREAD_SIZE = 16 * 1024  # x86_64 without KASAN
_CPU_HEADER = re.compile(r"^CPU#(\d+)")
_REG = re.compile(r"\b(R[A-Z0-9]{1,2}|RIP|RFL|CPL|CR[0234])\s*=\s*([0-9a-fA-F]+)")


@dataclass
class StackFrame:
    address: str
    symbol: str
    location: str | None
    how: str  # "rip", "frame-pointer" or "stack-scan"


@dataclass
class CpuState:
    index: int
    rip: str
    rsp: str
    rbp: str
    cpl: int
    halted: bool
    frames: list[StackFrame] = field(default_factory=list)
    note: str = ""


@dataclass
class HangReport:
    cpus: list[CpuState]
    summary: str

    def to_json(self) -> dict[str, object]:
        return {"summary": self.summary, "cpus": [asdict(c) for c in self.cpus]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HangReport:
        """The inverse of ``to_json`` (hang.json); ValueError on a malformed document."""
        try:
            cpus = []
            for c in data["cpus"]:
                frames = [StackFrame(str(f["address"]), str(f["symbol"]),
                                None if f.get("location") is None else str(f["location"]),
                                str(f["how"])) for f in c.get("frames", [])]
                cpus.append(CpuState(int(c["index"]), str(c.get("rip", "")),
                                     str(c.get("rsp", "")), str(c.get("rbp", "")),
                                     int(c.get("cpl", 0)), bool(c.get("halted", False)),
                                     frames, str(c.get("note", ""))))
            return cls(cpus, str(data.get("summary", "")))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a hang report: {exc!r}") from exc

    @classmethod
    def load(cls, path: Path) -> HangReport:
        """Read hang.json; OSError or ValueError."""
        return cls.from_json(json.loads(path.read_text()))

    def text(self) -> str:
        out = [self.summary, ""]
        for c in self.cpus:
            out.append(f"CPU#{c.index}: RIP {c.rip} RSP {c.rsp} CPL {c.cpl}"
                       f"{' (halted)' if c.halted else ''} {c.note}".rstrip())
            for f in c.frames:
                loc = f"  {f.location}" if f.location else ""
                out.append(f"  [{f.how:13}] {f.address} {f.symbol}{loc}")
            out.append("")
        return "\n".join(out)


def parse_registers(text: str) -> list[dict[str, str]]:
    """Split ``info registers -a`` output into one {REG: hex} dict per CPU."""
    cpus: list[dict[str, str]] = []
    cur: dict[str, str] | None = None
    for line in text.splitlines():
        m = _CPU_HEADER.match(line.strip())
        if m:
            cur = {"CPU": m.group(1)}
            cpus.append(cur)
            continue
        if cur is None:
            cur = {"CPU": "0"}
            cpus.append(cur)
        for reg, val in _REG.findall(line):
            cur.setdefault(reg, val)
        if "HLT=1" in line:
            cur["HLT"] = "1"
    return [c for c in cpus if "RIP" in c]


def qmp_int(addr: int) -> int:
    """An unsigned 64-bit address as QMP takes it: QAPI ``int`` is signed 64-bit, and every
    x86_64 kernel address is >= 2^63 (QEMU reinterprets the value as its 64-bit address)."""
    addr &= 2**64 - 1
    return addr - 2**64 if addr >= 2**63 else addr


def _read_stack(qmp: Qmp, cpu: int, rsp: int) -> tuple[int, bytes]:
    base = rsp & ~(THREAD_SIZE - 1)
    top = base + THREAD_SIZE
    with tempfile.NamedTemporaryFile(prefix="pgo-stack-", delete=True) as tmp:
        qmp.execute("memsave", {"val": qmp_int(rsp), "size": top - rsp, "filename": tmp.name,
                                "cpu-index": cpu}, timeout=10.0)
        return rsp, Path(tmp.name).read_bytes()


def _words(start: int, data: bytes) -> dict[int, int]:
    n = len(data) // 8
    return {start + 8 * i: v for i, v in enumerate(struct.unpack(f"<{n}Q", data[: n * 8]))}


def _frame(addr: int, how: str, smap: SystemMap, sym: Symbolizer | None) -> StackFrame:
    loc = None
    if sym is not None:
        locs = sym.locate(addr if how == "rip" else addr - 1)
        if locs:
            loc = " <- ".join(f"{x.file}:{x.line}" + (f" ({x.function})" if x.inlined else "")
                              for x in locs)
    return StackFrame(f"{addr:#018x}", smap.describe(addr), loc, how)


def collect(qmp: Qmp, system_map: Path, vmlinux: Path | None, out_dir: Path,
            *, max_scan: int = 24, resume: bool = True) -> HangReport:
    """Pause the guest, read every vCPU, write hang.json and hang.txt, return the report.

    With ``resume`` a guest that was running runs on afterwards, so lockup detectors that
    have not fired yet can still print their reports.
    """
    smap = SystemMap(system_map)
    was_running = False
    with contextlib.suppress(QmpError, KeyError, TypeError):
        was_running = qmp.execute("query-status", timeout=5.0)["status"] == "running"
    with contextlib.suppress(QmpError):
        qmp.execute("stop", timeout=5.0)
    try:
        return _collect(qmp, smap, vmlinux, out_dir, max_scan)
    finally:
        if resume and was_running:
            with contextlib.suppress(QmpError):
                qmp.execute("cont", timeout=5.0)


def _collect(qmp: Qmp, smap: SystemMap, vmlinux: Path | None, out_dir: Path,
             max_scan: int) -> HangReport:
    regs = parse_registers(qmp.hmp("info registers -a", timeout=15.0))
    sym: Symbolizer | None = None
    if vmlinux is not None and vmlinux.exists():
        try:
            sym = Symbolizer(vmlinux)
        except Exception:  # noqa: BLE001 - symbolization is a bonus, never a failure
            sym = None
    cpus: list[CpuState] = []
    try:
        for r in regs:
            idx = int(r["CPU"])
            rip, rsp, rbp = (int(r.get(k, "0"), 16) for k in ("RIP", "RSP", "RBP"))
            cpl = int(r.get("CPL", "0"), 16)
            st = CpuState(idx, f"{rip:#018x}", f"{rsp:#018x}", f"{rbp:#018x}", cpl,
                          r.get("HLT") == "1")
            cpus.append(st)
            if cpl != 0:
                st.note = "(in user space)"
                continue
            st.frames.append(_frame(rip, "rip", smap, sym))
            try:
                start, data = _read_stack(qmp, idx, rsp)
            except (QmpError, OSError) as exc:
                st.note = f"(stack unreadable: {exc})"
                continue
            words = _words(start, data)
            seen = {rip}
            fp = rbp
            for _ in range(64):  # frame-pointer chain: [rbp] = caller's rbp, [rbp+8] = ret
                ret = words.get(fp + 8)
                if ret is None or not smap.is_text(ret):
                    break
                st.frames.append(_frame(ret, "frame-pointer", smap, sym))
                seen.add(ret)
                nxt = words.get(fp)
                if nxt is None or nxt <= fp:
                    break
                fp = nxt
            scanned = 0
            for _addr, val in sorted(words.items()):
                if scanned >= max_scan:
                    break
                if smap.is_text(val) and val not in seen:
                    seen.add(val)
                    st.frames.append(_frame(val, "stack-scan", smap, sym))
                    scanned += 1
    finally:
        if sym is not None:
            sym.close()
    summary = _summarize(cpus)
    report = HangReport(cpus, summary)
    (out_dir / HANG_JSON).write_text(json.dumps(report.to_json(), indent=2) + "\n")
    (out_dir / HANG_TXT).write_text(report.text() + "\n")
    return report


def _summarize(cpus: list[CpuState]) -> str:
    parts = []
    for c in cpus:
        if c.cpl != 0 or not c.frames:
            parts.append(f"CPU#{c.index} in user space" if c.cpl else f"CPU#{c.index} unknown")
            continue
        where = c.frames[0].symbol.split("+")[0]
        callers = [f.symbol.split("+")[0] for f in c.frames[1:4]]
        via = f", called from {' <- '.join(callers)}" if callers else ""
        state = "idle" if c.halted else "spinning"
        parts.append(f"CPU#{c.index} {state} in {where}{via}")
    return "guest stopped answering: " + "; ".join(parts)
