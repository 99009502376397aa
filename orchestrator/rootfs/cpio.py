"""A newc ("070701") cpio writer and a small reader, as the kernel's initramfs unpacker expects.

Everything written is owned by uid/gid 0 and carries one fixed mtime, so the same entries give
the same bytes. Device nodes are plain header fields: the kernel creates them while unpacking,
so no root privileges are needed on the host. ``gzip_bytes`` compresses with mtime 0 and no file
name, keeping the compressed archive reproducible too.
"""

from __future__ import annotations

import gzip
import io
import stat
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO

MAGIC = b"070701"
TRAILER = "TRAILER!!!"
_HEADER_LEN = 110


@dataclass(frozen=True)
class CpioEntry:
    """One archive member. ``name`` is relative ("dev/console"), ``mode`` includes the file type."""

    name: str
    mode: int
    data: bytes = b""
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    rdevmajor: int = 0
    rdevminor: int = 0
    nlink: int = 1

    @property
    def kind(self) -> str:
        """ "dir", "file", "symlink", "chardev", "blockdev" or "other"."""
        fmt = stat.S_IFMT(self.mode)
        return {
            stat.S_IFDIR: "dir",
            stat.S_IFREG: "file",
            stat.S_IFLNK: "symlink",
            stat.S_IFCHR: "chardev",
            stat.S_IFBLK: "blockdev",
        }.get(fmt, "other")

    @property
    def perms(self) -> int:
        return stat.S_IMODE(self.mode)

    @property
    def link_target(self) -> str:
        if self.kind != "symlink":
            raise ValueError(f"{self.name} is not a symlink")
        return self.data.decode()


def normalize_name(path: str) -> str:
    """'/usr/bin/x' -> 'usr/bin/x'; rejects '..' and empty names."""
    p = PurePosixPath("/" + path.lstrip("/"))
    parts = [part for part in p.parts[1:] if part not in ("", ".")]
    if not parts or ".." in parts:
        raise ValueError(f"bad archive path {path!r}")
    return "/".join(parts)


def _pad4(n: int) -> int:
    return (4 - n % 4) % 4


def _header(entry: CpioEntry, ino: int, name: bytes) -> bytes:
    fields = (
        ino,
        entry.mode,
        entry.uid,
        entry.gid,
        entry.nlink,
        entry.mtime,
        len(entry.data),
        0,  # devmajor
        0,  # devminor
        entry.rdevmajor,
        entry.rdevminor,
        len(name) + 1,  # namesize includes the NUL
        0,  # check
    )
    return MAGIC + b"".join(b"%08X" % f for f in fields)


class CpioWriter:
    """Streams newc members into a binary file object. Call ``close()`` to write the trailer."""

    def __init__(self, out: IO[bytes], *, mtime: int = 0) -> None:
        self._out = out
        self._mtime = mtime
        self._ino = 0x2000  # any fixed start; unique per member so no false hard links
        self._names: set[str] = set()
        self._closed = False

    def add(self, entry: CpioEntry) -> None:
        if self._closed:
            raise ValueError("archive already closed")
        name = normalize_name(entry.name) if entry.name != TRAILER else TRAILER
        if name in self._names:
            raise ValueError(f"duplicate archive member {name!r}")
        self._names.add(name)
        self._write(entry, name)

    def _write(self, entry: CpioEntry, name: str) -> None:
        self._ino += 1
        raw_name = name.encode()
        head = _header(entry, self._ino, raw_name) + raw_name + b"\0"
        self._out.write(head + b"\0" * _pad4(len(head)))
        if entry.data:
            self._out.write(entry.data + b"\0" * _pad4(len(entry.data)))

    def add_dir(self, path: str, mode: int = 0o755) -> None:
        self.add(CpioEntry(path, stat.S_IFDIR | mode, mtime=self._mtime, nlink=2))

    def add_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self.add(CpioEntry(path, stat.S_IFREG | mode, data, mtime=self._mtime))

    def add_symlink(self, path: str, target: str) -> None:
        self.add(CpioEntry(path, stat.S_IFLNK | 0o777, target.encode(), mtime=self._mtime))

    def add_chardev(self, path: str, major: int, minor: int, mode: int = 0o600) -> None:
        self.add(
            CpioEntry(
                path, stat.S_IFCHR | mode, mtime=self._mtime, rdevmajor=major, rdevminor=minor
            )
        )

    def close(self) -> None:
        if not self._closed:
            self._write(CpioEntry(TRAILER, 0, nlink=1), TRAILER)
            self._closed = True


def write_archive(entries: Iterable[CpioEntry]) -> bytes:
    """The uncompressed newc archive for ``entries`` (in the given order) plus the trailer."""
    buf = io.BytesIO()
    writer = CpioWriter(buf)
    for entry in entries:
        writer.add(entry)
    writer.close()
    return buf.getvalue()


def gzip_bytes(data: bytes, *, level: int = 6) -> bytes:
    """Gzip with mtime 0 and no file name: identical input gives identical output."""
    return gzip.compress(data, compresslevel=level, mtime=0)


def _iter_members(data: bytes) -> Iterator[CpioEntry]:
    pos = 0
    end = len(data)
    while pos < end:
        # concatenated archives may be separated by NUL padding
        if data[pos] == 0:
            pos += 1
            continue
        head = data[pos : pos + _HEADER_LEN]
        if len(head) < _HEADER_LEN or head[:6] != MAGIC:
            raise ValueError(f"bad cpio header at offset {pos}: {head[:6]!r}")
        f = [int(head[6 + 8 * i : 14 + 8 * i], 16) for i in range(13)]
        _ino, mode, uid, gid, nlink, mtime, filesize = f[:7]
        rdevmajor, rdevminor, namesize = f[9], f[10], f[11]
        name_start = pos + _HEADER_LEN
        name = data[name_start : name_start + namesize - 1].decode()
        pos = name_start + namesize
        pos += _pad4(pos)
        body = data[pos : pos + filesize]
        if len(body) != filesize:
            raise ValueError(f"truncated cpio member {name!r}")
        pos += filesize
        pos += _pad4(pos)
        if name == TRAILER:
            continue
        yield CpioEntry(name, mode, body, uid, gid, mtime, rdevmajor, rdevminor, nlink)


def read_archive(data: bytes) -> list[CpioEntry]:
    """Parse a newc archive (gzip-compressed or not, possibly several concatenated)."""
    if data[:2] == b"\x1f\x8b":
        data = _gunzip_all(data)
    return list(_iter_members(data))


def _gunzip_all(data: bytes) -> bytes:
    """Decompress concatenated gzip members (what the kernel does with a multi-part initrd)."""
    out = []
    while data:
        if data[0] == 0:  # padding between members
            data = data.lstrip(b"\0")
            continue
        d = zlib.decompressobj(wbits=31)
        out.append(d.decompress(data))
        out.append(d.flush())
        data = d.unused_data
    return b"".join(out)


def archive_map(data: bytes) -> dict[str, CpioEntry]:
    """name -> entry; a later member with the same name wins, as in the kernel's unpacker."""
    return {e.name: e for e in read_archive(data)}
