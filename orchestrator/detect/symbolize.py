"""Optional symbolization of frames against a vmlinux.

``func+0xOFF/0xSIZE`` frames are turned into addresses with the ``nm -S`` symbol table, looked
up by the symbol as printed (``Frame.symbol``: ``__x64_sys_write``, ``foo.cold``), not by the
normalized name.  A function name can exist several times: the symbol whose size matches wins,
then one without a size (assembly entry points such as ``entry_SYSCALL_64_after_hwframe``,
for which kallsyms prints the distance to the next symbol).  Then ONE
``llvm-symbolizer`` process per run (``--obj vmlinux --inlining``, addresses on stdin)
resolves them.  ``Frame.address`` gets the address and ``Frame.source`` ``file:line`` (the
innermost inlined location; the others go to ``Frame.inlined``).
Frames of modules (``[mod]``) are not symbolized.
"""

from __future__ import annotations

import posixpath
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from orchestrator.detect.detector import Finding
from orchestrator.detect.frames import Frame
from orchestrator.errors import InfraError, ToolMissing
from orchestrator.kernel.symbols import Symbolizer, find_symbolizer

__all__ = ["read_symbols", "symbolize_findings"]


def read_symbols(vmlinux: Path) -> dict[str, list[tuple[int, int | None]]]:
    """``name -> [(address, size)]`` for text symbols of ``vmlinux`` (size ``None``: unknown)."""
    nm = shutil.which("nm") or shutil.which("llvm-nm")
    if nm is None:
        raise ToolMissing("nm", "apt-get install binutils")
    proc = subprocess.run([nm, "-S", "--defined-only", str(vmlinux)], capture_output=True,
                          text=True, check=False)  # fmt: skip
    if proc.returncode != 0:
        raise InfraError(f"nm failed on {vmlinux}: {proc.stderr.strip()}", reason="nm-failed")
    out: dict[str, list[tuple[int, int | None]]] = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        try:
            if len(parts) == 4 and parts[2] in ("t", "T", "w", "W"):
                out.setdefault(parts[3], []).append((int(parts[0], 16), int(parts[1], 16)))
            elif len(parts) == 3 and parts[1] in ("t", "T", "w", "W"):
                out.setdefault(parts[2], []).append((int(parts[0], 16), None))
        except ValueError:
            continue
    return out


def _frame_pc(
    frame: Frame, symbols: dict[str, list[tuple[int, int | None]]], is_rip: bool
) -> int | None:
    if frame.module or frame.offset is None:
        return None
    entries = symbols.get(frame.symbol or frame.func)
    if not entries:
        return None
    off_s, _, size_s = frame.offset.partition("/")
    try:
        off, size = int(off_s, 16), int(size_s, 16)
    except ValueError:
        return None
    start = next((a for a, sz in entries if sz == size), None)
    if start is None:
        start = next((a for a, sz in entries if sz is None), entries[0][0])
    pc = start + off
    return pc if is_rip else pc - 1


def _location(loc: str) -> str:
    """``file:line`` from llvm-symbolizer's ``file:line:column``, with ``/./`` folded."""
    path, sep, rest = loc.partition(":")
    line = rest.split(":", 1)[0]
    if not sep or not line:
        return loc
    return f"{posixpath.normpath(path)}:{line}"


def symbolize_findings(findings: Iterable[Finding], vmlinux: Path) -> None:
    """Annotate the frames of ``findings`` in place."""
    symbols = read_symbols(vmlinux)
    todo: list[tuple[Frame, int]] = []
    for f in findings:
        for fr in f.frames:
            pc = _frame_pc(fr, symbols, "RIP:" in fr.raw)
            if pc is not None:
                todo.append((fr, pc))
    if not todo:
        return
    with Symbolizer(vmlinux, tool=find_symbolizer()) as sym:
        for fr, pc in todo:
            locs = [_location(f"{loc.file}:{loc.line}") for loc in sym.locate(pc)]
            fr.address = pc
            if locs:
                fr.source = locs[0]
                fr.inlined = locs[1:]
