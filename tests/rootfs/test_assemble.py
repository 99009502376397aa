"""Base initramfs (cached), per-run overlay and the combined initrd."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path, PurePosixPath

import pytest

from orchestrator.errors import InvalidInput
from orchestrator.rootfs.assemble import (
    DEFAULT_PROGRAMS,
    INITRD_NAME,
    Program,
    build_base_initramfs,
    build_run_initrd,
    build_run_overlay,
    combine_initrd,
    render_env_file,
)
from orchestrator.rootfs.cpio import CpioEntry, archive_map
from orchestrator.rootfs.elfdeps import resolve_closure
from orchestrator.rootfs.keys import generate_run_key

BUSYBOX = Path("/bin/busybox")
needs_defaults = pytest.mark.skipif(
    not all(p.source.exists() for p in DEFAULT_PROGRAMS),
    reason="busybox-static, dropbear-bin and stress-ng must be installed",
)


def resolve_in_archive(files: dict[str, CpioEntry], path: str) -> CpioEntry:
    """Follow symlinks inside the archive like the guest kernel would."""
    parts = [p for p in PurePosixPath(path).parts if p != "/"]
    cur: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            cur = cur[:-1]
            continue
        name = "/".join([*cur, part])
        entry = files.get(name)
        assert entry is not None, f"{path}: {name} missing from the archive"
        if entry.kind == "symlink":
            hops += 1
            assert hops < 40
            target = entry.link_target
            if target.startswith("/"):
                cur = []
            parts = [p for p in PurePosixPath(target).parts if p != "/"] + parts
            continue
        cur.append(part)
    return files["/".join(cur)]


@pytest.fixture(scope="module")
def base_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    if not all(p.source.exists() for p in DEFAULT_PROGRAMS):
        pytest.skip("busybox-static, dropbear-bin and stress-ng must be installed")
    cache_dir = tmp_path_factory.mktemp("cache") / "rootfs"  # laid out like cache_root()
    start = time.monotonic()
    path = build_base_initramfs(cache_dir=cache_dir)
    return path, time.monotonic() - start


@needs_defaults
def test_base_archive_contents(base_archive: tuple[Path, float]) -> None:
    path, cold = base_archive
    files = archive_map(path.read_bytes())
    init = files["init"]
    assert init.kind == "file" and init.perms == 0o755
    assert init.data.startswith(b"#!/bin/busybox sh\n")
    assert files["bin/busybox"].perms & 0o111
    assert files["usr/sbin/dropbear"].perms & 0o111
    assert files["usr/bin/stress-ng"].perms & 0o111
    for name, dev in (("dev/console", (5, 1)), ("dev/null", (1, 3)), ("dev/ttyS0", (4, 64))):
        assert files[name].kind == "chardev"
        assert (files[name].rdevmajor, files[name].rdevminor) == dev
    assert files["tmp"].perms == 0o1777
    assert all(e.uid == 0 and e.gid == 0 and e.mtime == 0 for e in files.values())
    # every library name the loader will ask for resolves to a regular file in the archive
    closure = resolve_closure([p.source for p in DEFAULT_PROGRAMS])
    assert closure.libraries
    for lib in closure.libraries:
        entry = resolve_in_archive(files, str(lib.path))
        assert entry.kind == "file"
        assert entry.data == lib.real.read_bytes()
    print(f"cold build {cold:.2f}s, {path.stat().st_size / 1e6:.1f} MB")


@needs_defaults
def test_cache_hit_is_fast_and_stable(base_archive: tuple[Path, float]) -> None:
    path, cold = base_archive
    start = time.monotonic()
    again = build_base_initramfs(cache_dir=path.parent)
    warm = time.monotonic() - start
    assert again == path
    assert warm < 0.05, f"cache hit took {warm * 1000:.1f} ms"
    assert warm < cold / 10
    print(f"warm hit {warm * 1000:.2f} ms")


def test_content_change_rebuilds_and_bytes_are_reproducible(tmp_path: Path) -> None:
    if not BUSYBOX.exists():
        pytest.skip("busybox not installed")
    prog = tmp_path / "busybox"
    shutil.copy2(BUSYBOX, prog)
    programs = [Program(prog, "/bin/busybox")]
    first = build_base_initramfs(programs=programs, cache_dir=tmp_path / "c1")
    # a fresh cache builds byte-identical output
    again = build_base_initramfs(programs=programs, cache_dir=tmp_path / "c2")
    assert first.name == again.name and first.read_bytes() == again.read_bytes()
    # touching the input without changing it: rebuild finds the same content hash
    prog.touch()
    same = build_base_initramfs(programs=programs, cache_dir=tmp_path / "c1")
    assert same.name == first.name
    with prog.open("ab") as f:
        f.write(b"\0")
    changed = build_base_initramfs(programs=programs, cache_dir=tmp_path / "c1")
    assert changed.name != first.name
    assert archive_map(changed.read_bytes())["bin/busybox"].data == prog.read_bytes()


def test_default_cache_location(cache: Path) -> None:
    if not BUSYBOX.exists():
        pytest.skip("busybox not installed")
    path = build_base_initramfs(programs=[Program(BUSYBOX, "/bin/busybox")])
    assert path.parent == cache / "rootfs"
    assert path.name.endswith(".cpio.gz")


def test_overlay_contents(tmp_path: Path) -> None:
    key = generate_run_key(tmp_path)
    env = {"PGO_ORCH_SCENARIO": "boot smoke", "WEIRD": "it's $(not) run"}
    path = build_run_overlay(
        tmp_path, authorized_key=key.public_line, hostname="pgo-run-1", init_env=env
    )
    files = archive_map(path.read_bytes())
    ak = files["etc/pgo-orch/authorized_keys"]
    assert ak.data.decode().strip() == key.public_line and ak.perms == 0o600
    assert files["etc/hostname"].data == b"pgo-run-1\n"
    assert b"PGO_ORCH_SCENARIO" in files["etc/pgo-orch/env"].data
    assert not any("ssh_host" in n or "dropbear_" in n for n in files)  # dropbear -R makes it


@pytest.mark.skipif(not BUSYBOX.exists(), reason="busybox not installed")
def test_env_file_round_trips_through_busybox_sh(tmp_path: Path) -> None:
    env = {
        "A": "plain",
        "B": "it's got 'quotes' and \"doubles\"",
        "C": "$(touch /tmp/pgo-should-not-exist) `x` ; | &",
        "D": "multi\nline",
        "E": "",
    }
    envfile = tmp_path / "env"
    envfile.write_text(render_env_file(env))
    for key, value in env.items():
        out = subprocess.run(
            [str(BUSYBOX), "sh", "-c", f'. "$1"; printf %s "${key}"', "sh", str(envfile)],
            capture_output=True,
            check=True,
        ).stdout.decode()
        assert out == value
    assert not Path("/tmp/pgo-should-not-exist").exists()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"authorized_key": "ssh-ed25519 AAAA x\nssh-rsa BBBB y"}, "authorized_key"),
        ({"authorized_key": "not a key"}, "authorized_key"),
        ({"hostname": "bad host"}, "hostname"),
        ({"hostname": "-x"}, "hostname"),
        ({"init_env": {"1BAD": "x"}}, "init_env"),
        ({"init_env": {"A;B": "x"}}, "init_env"),
    ],
)
def test_overlay_rejects_bad_input(tmp_path: Path, kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {
        "authorized_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA pgo",
        "hostname": "ok",
        "init_env": {},
    }
    args.update(kwargs)
    with pytest.raises(InvalidInput) as info:
        build_run_overlay(tmp_path, **args)  # type: ignore[arg-type]
    assert info.value.field == field


@needs_defaults
def test_combined_initrd_has_base_and_overlay(
    tmp_path: Path, base_archive: tuple[Path, float], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the default cache is the one the module fixture filled: build_run_initrd hits it
    monkeypatch.setenv("PGO_ORCH_CACHE", str(base_archive[0].parent.parent))
    key = generate_run_key(tmp_path)
    overlay = build_run_overlay(tmp_path, authorized_key=key.public_line, hostname="h", init_env={})
    combined = combine_initrd([base_archive[0], overlay], tmp_path / "x.cpio.gz")
    assert combined.stat().st_size == base_archive[0].stat().st_size + overlay.stat().st_size
    files = archive_map(combined.read_bytes())
    assert "init" in files and "etc/pgo-orch/authorized_keys" in files
    start = time.monotonic()
    initrd = build_run_initrd(tmp_path, authorized_key=key.public_line)
    assert time.monotonic() - start < 1.0  # base from cache, overlay tiny, one copy
    assert initrd == tmp_path / INITRD_NAME
    assert "etc/hostname" in archive_map(initrd.read_bytes())
