"""Kernel addresses to names: System.map lookups and a long-lived llvm-symbolizer.

``SystemMap`` answers "which function holds this address" without any tool; ``Symbolizer``
runs ONE llvm-symbolizer process per vmlinux and asks it for file:line with inlined
callers, address after address.
"""

from __future__ import annotations

import bisect
import contextlib
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import ToolMissing
from orchestrator.tools import install_hint


@dataclass(frozen=True)
class Location:
    function: str
    file: str
    line: int
    inlined: bool = False

    def __str__(self) -> str:
        return f"{self.function} {self.file}:{self.line}" + (" (inlined)" if self.inlined else "")


class SystemMap:
    """Text symbols of a System.map, for address -> func+off and text-range checks."""

    def __init__(self, path: Path) -> None:
        addrs: list[int] = []
        names: list[str] = []
        self.stext = self.etext = 0
        for line in path.read_text(errors="replace").splitlines():
            parts = line.split()
            if len(parts) < 3:
                continue
            try:
                addr = int(parts[0], 16)
            except ValueError:
                continue
            kind, name = parts[1], parts[2]
            if name == "_stext":
                self.stext = addr
            elif name == "_etext":
                self.etext = addr
            if kind in ("T", "t", "W", "w"):
                addrs.append(addr)
                names.append(name)
        order = sorted(range(len(addrs)), key=addrs.__getitem__)
        self._addrs = [addrs[i] for i in order]
        self._names = [names[i] for i in order]
        self._by_name = dict(zip(self._names, self._addrs, strict=True))

    def is_text(self, addr: int) -> bool:
        return self.stext <= addr < self.etext if self.etext else False

    def lookup(self, addr: int) -> tuple[str, int] | None:
        """(function, offset) of the text symbol at or below ``addr``."""
        i = bisect.bisect_right(self._addrs, addr) - 1
        if i < 0 or not self.is_text(addr):
            return None
        return self._names[i], addr - self._addrs[i]

    def address(self, name: str) -> int | None:
        return self._by_name.get(name)

    def describe(self, addr: int) -> str:
        hit = self.lookup(addr)
        return f"{hit[0]}+{hit[1]:#x}" if hit else f"{addr:#x}"


def find_symbolizer(suffix: str = "") -> str:
    for cand in (f"llvm-symbolizer{suffix}", "llvm-symbolizer", "llvm-symbolizer-14"):
        path = shutil.which(cand)
        if path:
            return path
    raise ToolMissing("llvm-symbolizer", install_hint("llvm-symbolizer"))


class Symbolizer:
    """One llvm-symbolizer process for one vmlinux; ``locate`` is thread-safe."""

    def __init__(self, vmlinux: Path, *, tool: str | None = None) -> None:
        self.vmlinux = vmlinux
        self._proc = subprocess.Popen(
            [tool or find_symbolizer(), f"--obj={vmlinux}", "--inlining", "--functions=linkage",
             "--output-style=LLVM", "--relativenames"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            text=True, bufsize=1)
        self._lock = threading.Lock()
        self._memo: dict[int, list[Location]] = {}

    def locate(self, addr: int) -> list[Location]:
        """Innermost (inlined) first; empty if the address has no debug info."""
        if addr in self._memo:
            return self._memo[addr]
        with self._lock:
            assert self._proc.stdin is not None and self._proc.stdout is not None
            self._proc.stdin.write(f"{addr:#x}\n")
            self._proc.stdin.flush()
            lines: list[str] = []
            while True:
                line = self._proc.stdout.readline()
                if not line or line == "\n":
                    break
                lines.append(line.rstrip("\n"))
        locs: list[Location] = []
        for i in range(0, len(lines) - 1, 2):
            func, where = lines[i], lines[i + 1]
            file, _, rest = where.partition(":")
            num = rest.split(":")[0]
            if func == "??" and file == "??":
                continue
            locs.append(Location(func, file, int(num) if num.isdigit() else 0))
        locs = [Location(lc.function, lc.file, lc.line, inlined=i < len(locs) - 1)
                for i, lc in enumerate(locs)]
        self._memo[addr] = locs
        return locs

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self._proc.stdin:
                self._proc.stdin.close()
            self._proc.wait(5)
        if self._proc.poll() is None:
            self._proc.kill()

    def __enter__(self) -> Symbolizer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
