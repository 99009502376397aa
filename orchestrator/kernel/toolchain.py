"""The LLVM toolchain a build uses, and its versions (part of every cache key)."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

from orchestrator.errors import InvalidInput, ToolMissing
from orchestrator.tools import install_hint


@dataclass(frozen=True)
class Toolchain:
    """``llvm`` is the value of make's LLVM= variable: "1", or a suffix like "-14"."""

    llvm: str
    versions: dict[str, str]

    @property
    def suffix(self) -> str:
        return "" if self.llvm == "1" else self.llvm

    def tool(self, name: str) -> str:
        """Path of an LLVM tool with this toolchain's suffix (llvm-nm, llvm-symbolizer, ...)."""
        for cand in (name + self.suffix, name, f"{name}-{self.major}"):
            path = shutil.which(cand)
            if path:
                return path
        raise ToolMissing(name + self.suffix, install_hint(name))

    @property
    def major(self) -> str:
        m = re.search(r"version (\d+)", self.versions.get("clang", ""))
        return m.group(1) if m else ""


def _first_line(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except FileNotFoundError as exc:
        raise ToolMissing(argv[0], install_hint(argv[0])) from exc
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else ""


def detect(llvm: str = "1") -> Toolchain:
    """Probe clang, ld.lld and llvm-ar for ``make LLVM=<llvm>``."""
    if llvm != "1" and not re.fullmatch(r"-\d+|/.+/", llvm):
        raise InvalidInput(
            f"bad LLVM value {llvm!r}: use 1, a version suffix like -14, "
            "or a directory ending in /",
            field="--llvm",
        )
    prefix, suffix = (llvm, "") if llvm.endswith("/") else ("", "" if llvm == "1" else llvm)
    versions = {}
    for name in ("clang", "ld.lld", "llvm-ar"):
        exe = f"{prefix}{name}{suffix}"
        if shutil.which(exe) is None:
            raise ToolMissing(exe, install_hint(name))
        versions[name] = _first_line([exe, "--version"])
    return Toolchain(llvm, versions)
