"""newc writer/reader: round trip, device nodes, symlinks, modes, reproducible bytes."""

from __future__ import annotations

import gzip
import shutil
import stat
import subprocess

import pytest

from orchestrator.rootfs.cpio import (
    CpioEntry,
    CpioWriter,
    archive_map,
    gzip_bytes,
    read_archive,
    write_archive,
)
from orchestrator.rootfs.layout import Layout, LayoutError


def sample_entries() -> list[CpioEntry]:
    return [
        CpioEntry("dev", stat.S_IFDIR | 0o755, nlink=2),
        CpioEntry("dev/console", stat.S_IFCHR | 0o600, rdevmajor=5, rdevminor=1),
        CpioEntry("dev/null", stat.S_IFCHR | 0o666, rdevmajor=1, rdevminor=3),
        CpioEntry("dev/ttyS0", stat.S_IFCHR | 0o660, rdevmajor=4, rdevminor=64),
        CpioEntry("tmp", stat.S_IFDIR | 0o1777, nlink=2),
        CpioEntry("init", stat.S_IFREG | 0o755, b"#!/bin/busybox sh\necho hi\n"),
        CpioEntry("odd", stat.S_IFREG | 0o600, bytes(range(256)) * 3 + b"x"),  # unaligned size
        CpioEntry("empty", stat.S_IFREG | 0o644, b""),
        CpioEntry("lib", stat.S_IFLNK | 0o777, b"usr/lib"),
        CpioEntry("abs", stat.S_IFLNK | 0o777, b"/lib/x86_64-linux-gnu/libc.so.6"),
    ]


def test_round_trip_keeps_types_modes_devices_and_links() -> None:
    entries = sample_entries()
    got = read_archive(write_archive(entries))
    assert [e.name for e in got] == [e.name for e in entries]
    for want, have in zip(entries, got, strict=True):
        assert have.mode == want.mode
        assert have.data == want.data
        assert (have.uid, have.gid, have.mtime) == (0, 0, 0)
        assert (have.rdevmajor, have.rdevminor) == (want.rdevmajor, want.rdevminor)
    by_name = {e.name: e for e in got}
    assert by_name["dev/console"].kind == "chardev"
    assert (by_name["dev/ttyS0"].rdevmajor, by_name["dev/ttyS0"].rdevminor) == (4, 64)
    assert by_name["lib"].kind == "symlink" and by_name["lib"].link_target == "usr/lib"
    assert by_name["tmp"].perms == 0o1777
    assert by_name["init"].perms == 0o755


def test_header_layout_is_newc_with_unique_inodes() -> None:
    raw = write_archive(sample_entries())
    assert raw.startswith(b"070701")
    assert len(raw) % 4 == 0
    assert raw.count(b"TRAILER!!!") == 1
    # every member starts 4-aligned with the magic, inode numbers differ
    inodes = []
    pos = 0
    while pos < len(raw):
        if raw[pos] == 0:
            pos += 1
            continue
        assert raw[pos : pos + 6] == b"070701" and pos % 4 == 0
        fields = [int(raw[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(13)]
        inodes.append(fields[0])
        namesize, filesize = fields[11], fields[6]
        pos += 110 + namesize
        pos += -pos % 4
        pos += filesize + (-filesize % 4)
    assert len(set(inodes)) == len(inodes) == len(sample_entries()) + 1


def test_bytes_are_reproducible_and_gzip_has_no_timestamp() -> None:
    a = gzip_bytes(write_archive(sample_entries()))
    b = gzip_bytes(write_archive(sample_entries()))
    assert a == b
    assert a[4:8] == b"\0\0\0\0"  # gzip MTIME field
    assert read_archive(a) == read_archive(write_archive(sample_entries()))


def test_concatenated_gzip_archives_later_member_wins() -> None:
    first = gzip_bytes(
        write_archive(
            [
                CpioEntry("etc", stat.S_IFDIR | 0o755, nlink=2),
                CpioEntry("etc/hostname", stat.S_IFREG | 0o644, b"a\n"),
            ]
        )
    )
    second = gzip_bytes(
        write_archive(
            [
                CpioEntry("etc/hostname", stat.S_IFREG | 0o644, b"b\n"),
                CpioEntry("etc/extra", stat.S_IFREG | 0o600, b"x"),
            ]
        )
    )
    merged = archive_map(first + second)
    assert merged["etc/hostname"].data == b"b\n"
    assert merged["etc/extra"].perms == 0o600
    assert "etc" in merged
    assert len(read_archive(gzip.decompress(first + second))) == 4


def test_writer_rejects_duplicates_and_bad_names() -> None:
    import io

    w = CpioWriter(io.BytesIO())
    w.add_dir("/etc")
    with pytest.raises(ValueError):
        w.add_dir("etc")
    with pytest.raises(ValueError):
        w.add_file("../escape", b"")
    w.close()
    with pytest.raises(ValueError):
        w.add_dir("/late")


@pytest.mark.skipif(shutil.which("cpio") is None, reason="GNU cpio not installed")
def test_gnu_cpio_reads_our_archive() -> None:
    listing = subprocess.run(
        ["cpio", "-itv", "--quiet"],
        input=write_archive(sample_entries()),
        capture_output=True,
        check=True,
    ).stdout.decode()
    lines = {
        line.split()[-1] if "->" not in line else line.split()[-3]: line
        for line in listing.splitlines()
    }
    assert lines["dev/console"].startswith("crw-------")
    assert "5,   1" in lines["dev/console"]
    assert "4,  64" in lines["dev/ttyS0"]
    assert lines["tmp"].startswith("drwxrwxrwt")
    assert lines["lib"].startswith("lrwxrwxrwx") and lines["lib"].endswith("-> usr/lib")
    assert " root     root " in lines["init"]


def test_layout_follows_symlinked_parents_and_orders_parents_first() -> None:
    layout = Layout()
    layout.add_symlink("/lib", "usr/lib")
    layout.add_file("/lib/x86_64-linux-gnu/libc.so.6", b"elf", 0o755)
    layout.add_symlink("/lib64", "/usr/lib64")
    layout.add_symlink("/lib64/ld.so", "/lib/x86_64-linux-gnu/ld.so")
    names = [e.name for e in layout.entries()]
    assert "usr/lib/x86_64-linux-gnu/libc.so.6" in names
    assert "usr/lib64/ld.so" in names
    for i, name in enumerate(names):
        parent = name.rpartition("/")[0]
        if parent:
            assert parent in names[:i], f"{parent} must come before {name}"
    with pytest.raises(LayoutError):
        layout.mkdir("/lib")  # is a symlink
    with pytest.raises(LayoutError):
        layout.add_file("/usr/lib/x86_64-linux-gnu/libc.so.6", b"other")
    layout.add_file("/usr/lib/x86_64-linux-gnu/libc.so.6", b"elf", 0o755)  # identical: fine
