"""Library closure: real programs on this host, cross-checked against ldd and ldconfig."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from orchestrator.errors import InfraError
from orchestrator.rootfs.elfdeps import (
    LibraryResolver,
    follow_links,
    parse_ld_so_cache,
    read_elf,
    resolve_closure,
)

DROPBEAR = Path("/usr/sbin/dropbear")
STRESS_NG = Path("/usr/bin/stress-ng")
BUSYBOX = Path("/bin/busybox")


def ldd_names(program: Path) -> set[str]:
    """DT_NEEDED names ldd reports (the real loader's answer), without the vDSO."""
    out = subprocess.run(["ldd", str(program)], capture_output=True, text=True, check=True).stdout
    names = set()
    for line in out.splitlines():
        m = re.match(r"\s*(\S+) => (\S+)", line)
        if m and not m.group(1).startswith("linux-vdso"):
            names.add(m.group(1))
    return names


@pytest.mark.parametrize("program", [DROPBEAR, STRESS_NG], ids=["dropbear", "stress-ng"])
def test_closure_matches_ldd_and_finds_libc_and_interpreter(program: Path) -> None:
    if not program.exists():
        pytest.skip(f"{program} not installed")
    if shutil.which("ldd") is None:
        pytest.skip("ldd not available")
    closure = resolve_closure([program])
    by_name = {lib.name: lib for lib in closure.libraries}
    interp = read_elf(program).interp
    assert interp is not None
    assert by_name[interp].via == "interp"
    assert by_name[interp].real.is_file() and not by_name[interp].real.is_symlink()
    assert "libc.so.6" in by_name
    assert {n for n in by_name if n != interp} == ldd_names(program)
    for lib in closure.libraries:
        assert lib.real.is_file() and not lib.real.is_symlink(), lib
        # the loader's name resolves, through the recorded links, to the real file
        assert Path(str(lib.path)).resolve() == lib.real.resolve()


def test_symlink_names_are_kept() -> None:
    if not DROPBEAR.exists():
        pytest.skip("dropbear not installed")
    closure = resolve_closure([DROPBEAR])
    libz = next(lib for lib in closure.libraries if lib.name == "libz.so.1")
    if Path(str(libz.path)).is_symlink():
        assert any(link.name == "libz.so.1" for link, _ in libz.links)
        assert libz.real.name != "libz.so.1"


def test_static_program_needs_nothing() -> None:
    if not BUSYBOX.exists() or read_elf(BUSYBOX).interp is not None:
        pytest.skip("no static busybox")
    assert resolve_closure([BUSYBOX]).libraries == []


def test_runpath_is_searched() -> None:
    candidates = [p for p in (Path("/usr/bin/apropos"), Path("/usr/bin/man")) if p.exists()]
    prog = next((p for p in candidates if read_elf(p).runpath), None)
    if prog is None:
        pytest.skip("no program with DT_RUNPATH here")
    closure = resolve_closure([prog])
    assert any(lib.via == "runpath" for lib in closure.libraries)


def test_missing_library_names_program_and_library(tmp_path: Path) -> None:
    if not DROPBEAR.exists():
        pytest.skip("dropbear not installed")
    resolver = LibraryResolver(cache={}, search_dirs=[str(tmp_path)])
    with pytest.raises(InfraError) as info:
        resolve_closure([DROPBEAR], resolver=resolver)
    assert info.value.reason == "library-missing"
    assert "dropbear" in info.value.message
    assert read_elf(DROPBEAR).needed[0] in info.value.message


def test_missing_program() -> None:
    with pytest.raises(InfraError) as info:
        resolve_closure([Path("/nonexistent/prog")])
    assert "/nonexistent/prog" in info.value.message


def fake_elf_header(elf_class: int, machine: int) -> bytes:
    ident = b"\x7fELF" + bytes([1 if elf_class == 32 else 2, 1, 1]) + b"\0" * 9
    return ident + struct.pack("<HH", 3, machine) + b"\0" * 100


def test_wrong_class_candidate_is_skipped(tmp_path: Path) -> None:
    if not DROPBEAR.exists():
        pytest.skip("dropbear not installed")
    libc = resolve_closure([DROPBEAR])
    real_dir = str(next(lib for lib in libc.libraries if lib.name == "libc.so.6").path.parent)
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    for name in read_elf(DROPBEAR).needed:
        (wrong / name).write_bytes(fake_elf_header(32, 3))  # i386: ld.so would skip these
    resolver = LibraryResolver(cache={}, search_dirs=[str(wrong), real_dir])
    closure = resolve_closure([DROPBEAR], resolver=resolver)
    assert all(not str(lib.path).startswith(str(wrong)) for lib in closure.libraries)


def test_follow_links_in_a_fake_tree(tmp_path: Path) -> None:
    (tmp_path / "usr/lib").mkdir(parents=True)
    (tmp_path / "lib").symlink_to("usr/lib")
    (tmp_path / "usr/lib/libfoo.so.1.2").write_bytes(b"x")
    (tmp_path / "usr/lib/libfoo.so.1").symlink_to("libfoo.so.1.2")
    (tmp_path / "lib64").symlink_to("/lib")  # absolute: resolved inside the fake root
    real, links = follow_links(PurePosixPath("/lib64/libfoo.so.1"), tmp_path)
    assert real == tmp_path / "usr/lib/libfoo.so.1.2"
    assert links == [
        (PurePosixPath("/lib64"), "/lib"),
        (PurePosixPath("/lib"), "usr/lib"),
        (PurePosixPath("/usr/lib/libfoo.so.1"), "libfoo.so.1.2"),
    ]


def test_ld_so_cache_parse_agrees_with_ldconfig() -> None:
    if not Path("/etc/ld.so.cache").exists() or shutil.which("ldconfig") is None:
        pytest.skip("no ld.so.cache / ldconfig")
    parsed = parse_ld_so_cache()
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    checked = 0
    for line in out.splitlines():
        m = re.match(r"\s*(\S+) \(([^)]*)\) => (\S+)$", line)
        if m and "hwcap" not in m.group(2):
            assert m.group(3) in parsed.get(m.group(1), []), line
            checked += 1
    assert checked > 10
