"""Find every shared library an ELF program needs, the way glibc's ld.so would on the host.

For each program: its PT_INTERP interpreter, then DT_NEEDED breadth-first, searching in ld.so's
order: DT_RPATH (of the object and the objects that loaded it, only when the object has no
DT_RUNPATH), DT_RUNPATH of the object, /etc/ld.so.cache, then the default directories. A
candidate of the wrong ELF class or machine is skipped, as ld.so does. A DT_NEEDED name that
matches the soname of an already-loaded object (libc.so.6 needing ld-linux-x86-64.so.2) adds
nothing. Paths are kept as the loader opens them, with every symlink on the way recorded, so
the guest can get the same names.
"""

from __future__ import annotations

import os
import struct
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.segments import InterpSegment

from orchestrator.errors import InfraError

LD_SO_CACHE = Path("/etc/ld.so.cache")

#: e_machine -> (Debian multiarch triplet, $PLATFORM)
_MULTIARCH: dict[int, tuple[str, str]] = {
    62: ("x86_64-linux-gnu", "x86_64"),
    3: ("i386-linux-gnu", "i686"),
    183: ("aarch64-linux-gnu", "aarch64"),
    40: ("arm-linux-gnueabihf", "v7l"),
    243: ("riscv64-linux-gnu", "riscv64"),
    21: ("powerpc64le-linux-gnu", "ppc64le"),
    22: ("s390x-linux-gnu", "s390x"),
}


@dataclass(frozen=True)
class ElfInfo:
    path: Path
    elf_class: int  # 32 or 64
    machine: int  # e_machine number
    interp: str | None
    needed: tuple[str, ...]
    rpath: tuple[str, ...]
    runpath: tuple[str, ...]
    soname: str | None

    @property
    def is_static(self) -> bool:
        return self.interp is None and not self.needed


@dataclass(frozen=True)
class ResolvedLib:
    """A library (or interpreter) one of the programs needs."""

    #: the DT_NEEDED name or, for the interpreter, its PT_INTERP path
    name: str
    #: the path the loader opens, symlinks unresolved ("/lib/x86_64-linux-gnu/libz.so.1")
    path: PurePosixPath
    #: the regular file behind it on the host
    real: Path
    #: every symlink met while resolving ``path``: (link path, target as stored)
    links: tuple[tuple[PurePosixPath, str], ...]
    #: the object that first asked for it
    needed_by: Path
    #: how it was found: "interp", "rpath", "runpath", "cache", "default", "direct"
    via: str
    #: ELF class (32/64) and e_machine of the object that asked for it
    elf_class: int = 64
    machine: int = 62


@dataclass
class Closure:
    """The programs and everything they load. ``libraries`` is in discovery order."""

    programs: tuple[Path, ...]
    libraries: list[ResolvedLib] = field(default_factory=list)

    def files(self) -> list[Path]:
        """Every host file involved (programs and real library files), in a stable order."""
        return [*self.programs, *(lib.real for lib in self.libraries)]


def _quick_header(path: Path) -> tuple[int, int] | None:
    """(ELF class, e_machine) from the first bytes, or None if not an ELF file."""
    try:
        with path.open("rb") as f:
            head = f.read(20)
    except OSError:
        return None
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    elf_class = {1: 32, 2: 64}.get(head[4])
    if elf_class is None:
        return None
    endian = "<" if head[5] == 1 else ">"
    (machine,) = struct.unpack(endian + "H", head[18:20])
    return elf_class, machine


def read_elf(path: Path) -> ElfInfo:
    """Parse the dynamic information of one ELF file. InfraError if it is not ELF."""
    try:
        with path.open("rb") as f:
            elf = ELFFile(f)
            interp = None
            for seg in elf.iter_segments():
                if isinstance(seg, InterpSegment):
                    interp = seg.get_interp_name()
            needed: list[str] = []
            rpath: list[str] = []
            runpath: list[str] = []
            soname = None
            for sec in elf.iter_sections():
                if not isinstance(sec, DynamicSection):
                    continue
                for tag in sec.iter_tags():
                    kind = str(tag.entry.d_tag)
                    if kind not in ("DT_NEEDED", "DT_RPATH", "DT_RUNPATH", "DT_SONAME"):
                        continue
                    # pyelftools sets .needed/.rpath/.runpath/.soname from the string table
                    value = str(getattr(tag, kind[3:].lower()))
                    if kind == "DT_NEEDED":
                        needed.append(value)
                    elif kind == "DT_RPATH":
                        rpath.extend(p for p in value.split(":") if p)
                    elif kind == "DT_RUNPATH":
                        runpath.extend(p for p in value.split(":") if p)
                    else:
                        soname = value
            header = _quick_header(path)
            assert header is not None  # ELFFile accepted it
            return ElfInfo(
                path=path,
                elf_class=header[0],
                machine=header[1],
                interp=interp,
                needed=tuple(needed),
                rpath=tuple(rpath),
                runpath=tuple(runpath),
                soname=soname,
            )
    except (OSError, ELFError) as e:
        raise InfraError(f"cannot read ELF file {path}: {e}", reason="elf-unreadable") from e


# --- /etc/ld.so.cache -------------------------------------------------------------------------

_NEW_MAGIC = b"glibc-ld.so.cache1.1"
_OLD_MAGIC = b"ld.so-1.7.0"


def parse_ld_so_cache(path: Path = LD_SO_CACHE) -> dict[str, list[str]]:
    """soname -> candidate paths, in cache order, from glibc's "new" cache format.

    Entries for glibc-hwcaps subdirectories are left out: the guest CPU (TCG) may not support
    them. An unreadable or unknown cache gives an empty mapping (the default dirs still apply).
    """
    try:
        data = path.read_bytes()
    except OSError:
        return {}
    base = 0
    if data.startswith(_OLD_MAGIC):
        (nlibs,) = struct.unpack_from("<I", data, 12)
        base = 16 + nlibs * 12
        base = (base + 7) & ~7  # the new-format header is aligned
    if data[base : base + len(_NEW_MAGIC)] != _NEW_MAGIC:
        return {}
    nlibs, _len_strings = struct.unpack_from("<II", data, base + 20)
    result: dict[str, list[str]] = {}
    entry_off = base + 48
    for i in range(nlibs):
        flags, key, value, _osv, hwcap = struct.unpack_from("<iIIIQ", data, entry_off + 24 * i)
        if hwcap:
            continue
        # string offsets in the new format are relative to the new-format header
        del flags  # the ELF header of each candidate is checked instead
        name = _cstr(data, base + key)
        target = _cstr(data, base + value)
        if name and target:
            result.setdefault(name, []).append(target)
    return result


def _cstr(data: bytes, off: int) -> str:
    end = data.find(b"\0", off)
    if off >= len(data) or end < 0:
        return ""
    return data[off:end].decode(errors="replace")


def default_dirs(machine: int, elf_class: int) -> list[str]:
    """ld.so's built-in search directories on a Debian multiarch system."""
    triplet = _MULTIARCH.get(machine, ("", ""))[0]
    dirs = []
    if triplet:
        dirs += [f"/lib/{triplet}", f"/usr/lib/{triplet}"]
    if elf_class == 64:
        dirs += ["/lib64", "/usr/lib64"]
    dirs += ["/lib", "/usr/lib"]
    return dirs


# --- symlinks ----------------------------------------------------------------------------------


def follow_links(
    path: PurePosixPath, root: Path = Path("/")
) -> tuple[Path, list[tuple[PurePosixPath, str]]]:
    """Resolve ``path`` component by component; return the real file and each symlink met.

    ``root`` lets tests use a fake tree; paths in the result are guest-style absolute paths.
    """
    links: list[tuple[PurePosixPath, str]] = []
    pending = deque(path.parts[1:])
    current = PurePosixPath("/")
    hops = 0
    while pending:
        part = pending.popleft()
        if part in ("", "."):
            continue
        if part == "..":
            current = current.parent
            continue
        candidate = current / part
        host = root / candidate.relative_to("/")
        if host.is_symlink():
            hops += 1
            if hops > 40:
                raise InfraError(f"too many symlinks resolving {path}", reason="symlink-loop")
            target = os.readlink(host)
            links.append((candidate, target))
            if target.startswith("/"):
                current = PurePosixPath("/")
            pending.extendleft(
                reversed(PurePosixPath(target).parts[1 if target.startswith("/") else 0 :])
            )
            continue
        current = candidate
    return root / current.relative_to("/"), links


# --- resolution --------------------------------------------------------------------------------


class LibraryResolver:
    """Finds libraries like ld.so. ``root`` is where "/" is (a fake tree in tests)."""

    def __init__(
        self,
        *,
        root: Path = Path("/"),
        cache: dict[str, list[str]] | None = None,
        search_dirs: Sequence[str] | None = None,
    ) -> None:
        self.root = root
        self.cache = parse_ld_so_cache(root / "etc/ld.so.cache") if cache is None else cache
        self._search_dirs = list(search_dirs) if search_dirs is not None else None
        self._headers: dict[Path, tuple[int, int] | None] = {}
        self._infos: dict[Path, ElfInfo] = {}

    def host(self, path: PurePosixPath | str) -> Path:
        return self.root / str(path).lstrip("/")

    def info(self, host_path: Path) -> ElfInfo:
        real = host_path.resolve()
        if real not in self._infos:
            self._infos[real] = read_elf(real)
        return self._infos[real]

    def dirs_for(self, obj: ElfInfo) -> list[str]:
        if self._search_dirs is not None:
            return self._search_dirs
        return default_dirs(obj.machine, obj.elf_class)

    def _compatible(self, host_path: Path, obj: ElfInfo) -> bool:
        if host_path not in self._headers:
            self._headers[host_path] = _quick_header(host_path) if host_path.is_file() else None
        return self._headers[host_path] == (obj.elf_class, obj.machine)

    def _expand(self, entry: str, obj_path: PurePosixPath, obj: ElfInfo) -> str:
        triplet, platform = _MULTIARCH.get(obj.machine, ("", ""))
        lib = f"lib/{triplet}" if triplet else ("lib64" if obj.elf_class == 64 else "lib")
        origin = str(obj_path.parent)
        for token, value in (("ORIGIN", origin), ("LIB", lib), ("PLATFORM", platform)):
            entry = entry.replace("${" + token + "}", value).replace("$" + token, value)
        return entry

    def find(
        self,
        name: str,
        obj: ElfInfo,
        obj_path: PurePosixPath,
        rpath_chain: Sequence[tuple[PurePosixPath, ElfInfo]],
    ) -> tuple[PurePosixPath, str] | None:
        """(path as opened, how it was found) for DT_NEEDED ``name`` of ``obj``, or None."""
        if "/" in name:
            p = PurePosixPath(name)
            return (p, "direct") if self._compatible(self.host(p), obj) else None
        searches: list[tuple[str, list[str]]] = []
        if not obj.runpath:
            rp: list[str] = []
            # the object's own DT_RPATH first, then its loader's, up to the executable
            for loader_path, loader in reversed(rpath_chain):
                if not loader.runpath:
                    rp += [self._expand(d, loader_path, loader) for d in loader.rpath]
            searches.append(("rpath", rp))
        searches.append(("runpath", [self._expand(d, obj_path, obj) for d in obj.runpath]))
        for via, dirs in searches:
            for d in dirs:
                cand = PurePosixPath(d) / name
                if self._compatible(self.host(cand), obj):
                    return cand, via
        for target in self.cache.get(name, []):
            cand = PurePosixPath(target)
            if self._compatible(self.host(cand), obj):
                return cand, "cache"
        for d in self.dirs_for(obj):
            cand = PurePosixPath(d) / name
            if self._compatible(self.host(cand), obj):
                return cand, "default"
        return None


def resolve_closure(
    programs: Iterable[Path], *, resolver: LibraryResolver | None = None
) -> Closure:
    """Everything ``programs`` load. InfraError naming the program and library if one is missing."""
    resolver = resolver or LibraryResolver()
    progs = tuple(Path(p) for p in programs)
    closure = Closure(programs=progs)
    by_path: dict[PurePosixPath, ResolvedLib] = {}
    for prog in progs:
        if not prog.is_file():
            raise InfraError(f"program {prog} does not exist", reason="program-missing")
        info = resolver.info(prog)
        prog_path = PurePosixPath("/" + str(prog.resolve().relative_to(resolver.root)))
        loaded_sonames: set[str] = set()
        # (object path, info, rpath chain of loaders including itself)
        queue: deque[tuple[PurePosixPath, ElfInfo, tuple[tuple[PurePosixPath, ElfInfo], ...]]]
        queue = deque([(prog_path, info, ((prog_path, info),))])
        seen: set[PurePosixPath] = {prog_path}
        if info.interp:
            interp = PurePosixPath(info.interp)
            if not resolver.host(interp).exists():
                raise InfraError(
                    f"{prog}: interpreter {info.interp} not found on the host",
                    reason="library-missing",
                )
            _record(closure, by_path, resolver, info.interp, interp, prog, "interp", info)
            interp_info = resolver.info(resolver.host(interp))
            loaded_sonames.add(interp_info.soname or interp.name)
            loaded_sonames.add(interp.name)
            seen.add(interp)
        while queue:
            obj_path, obj, chain = queue.popleft()
            for name in obj.needed:
                if name in loaded_sonames:
                    continue
                found = resolver.find(name, obj, obj_path, chain)
                if found is None:
                    raise InfraError(
                        f"{prog}: shared library {name} (needed by {obj_path}) not found; "
                        f"searched rpath/runpath, {LD_SO_CACHE} and {resolver.dirs_for(obj)}",
                        reason="library-missing",
                    )
                path, via = found
                loaded_sonames.add(name)
                if path in seen:
                    continue
                seen.add(path)
                lib = _record(closure, by_path, resolver, name, path, obj.path, via, obj)
                lib_info = resolver.info(lib.real)
                if lib_info.soname:
                    loaded_sonames.add(lib_info.soname)
                queue.append((path, lib_info, (*chain, (path, lib_info))))
    return closure


def _record(
    closure: Closure,
    by_path: dict[PurePosixPath, ResolvedLib],
    resolver: LibraryResolver,
    name: str,
    path: PurePosixPath,
    needed_by: Path,
    via: str,
    requester: ElfInfo,
) -> ResolvedLib:
    if path in by_path:
        return by_path[path]
    real, links = follow_links(path, resolver.root)
    lib = ResolvedLib(
        name=name,
        path=path,
        real=real,
        links=tuple(links),
        needed_by=needed_by,
        via=via,
        elf_class=requester.elf_class,
        machine=requester.machine,
    )
    by_path[path] = lib
    closure.libraries.append(lib)
    return lib
