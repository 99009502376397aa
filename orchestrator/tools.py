"""Host tools pgo-orch needs and the Debian packages providing them (data: ``tools.toml``).

One table for every "not found; install it with" message, for ``pgo-orch doctor`` and for
``scripts/setup.sh``; the format is documented in the header of ``tools.toml``.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).with_name("tools.toml")


@dataclass(frozen=True)
class Tool:
    name: str
    package: str
    version_arg: str | None = None
    doctor: bool = True


@dataclass(frozen=True)
class RequiredFile:
    name: str
    path: Path
    package: str


@dataclass(frozen=True)
class ToolTable:
    tools: dict[str, Tool]
    files: dict[str, RequiredFile]
    setup_extra: tuple[str, ...]

    def packages(self) -> list[str]:
        """Every package setup.sh installs, in file order, each once."""
        names = [*(t.package for t in self.tools.values()),
                 *(f.package for f in self.files.values()), *self.setup_extra]
        seen: dict[str, None] = {}
        for n in names:
            for pkg in n.split():
                seen.setdefault(pkg)
        return list(seen)


@functools.cache
def table(path: Path = DATA) -> ToolTable:
    data = tomllib.loads(path.read_text())
    tools = {name: Tool(name, str(t["package"]), t.get("version"), bool(t.get("doctor", True)))
             for name, t in data.get("tools", {}).items()}
    files = {name: RequiredFile(name, Path(f["path"]), str(f["package"]))
             for name, f in data.get("files", {}).items()}
    extra = tuple(str(p) for p in data.get("setup", {}).get("packages", []))
    return ToolTable(tools, files, extra)


def package(program: str) -> str:
    """The package(s) providing ``program`` (an LLVM tool with a version suffix included)."""
    tools = table().tools
    if program in tools:
        return tools[program].package
    base = Path(program).name
    for name, tool in tools.items():
        if base == name or base.startswith(name + "-"):
            return tool.package
    return base


def install_hint(*programs: str) -> str:
    """``apt-get install -y P...`` for the packages providing ``programs``."""
    pkgs: dict[str, None] = {}
    for prog in programs:
        for p in package(prog).split():
            pkgs.setdefault(p)
    return "apt-get install -y " + " ".join(pkgs)


def file_hint(name: str) -> str:
    """The install command for a required file of tools.toml's [files]."""
    return f"apt-get install -y {table().files[name].package}"
