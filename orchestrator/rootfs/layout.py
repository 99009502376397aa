"""An in-memory file tree that becomes a cpio archive.

Parents are created as needed (mkdir -p); a parent that is a symlink inside the tree is
followed, so "/lib -> usr/lib" plus a file at "/lib/x86_64-linux-gnu/libc.so.6" stores the file
under "usr/lib/...", as it would land on a real filesystem. Entries come out parents first,
sorted, so the archive bytes depend only on the tree's content.
"""

from __future__ import annotations

import stat
from pathlib import PurePosixPath

from orchestrator.rootfs.cpio import CpioEntry, normalize_name


class LayoutError(ValueError):
    pass


class Layout:
    def __init__(self, *, mtime: int = 0) -> None:
        self._entries: dict[str, CpioEntry] = {}
        self._mtime = mtime

    def __contains__(self, path: str) -> bool:
        return self._lookup(path) is not None

    def _lookup(self, path: str) -> CpioEntry | None:
        try:
            return self._entries.get(self.resolve_parent(path, create=False))
        except LayoutError:
            return None

    def get(self, path: str) -> CpioEntry | None:
        """The entry at ``path`` (parents resolved through symlinks, the last part not)."""
        return self._lookup(path)

    def resolve_parent(self, path: str, *, create: bool = True) -> str:
        """Archive name for ``path`` with its parent directories resolved through tree symlinks."""
        name = normalize_name(path)
        parts = name.split("/")
        resolved: list[str] = []
        pending = parts[:-1]
        hops = 0
        while pending:
            part = pending.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            cur = "/".join([*resolved, part])
            entry = self._entries.get(cur)
            if entry is None:
                if not create:
                    raise LayoutError(f"{path}: parent {cur} missing")
                self._entries[cur] = CpioEntry(
                    cur, stat.S_IFDIR | 0o755, mtime=self._mtime, nlink=2
                )
                resolved.append(part)
            elif entry.kind == "dir":
                resolved.append(part)
            elif entry.kind == "symlink":
                hops += 1
                if hops > 40:
                    raise LayoutError(f"{path}: too many symlinks")
                target = entry.link_target
                if target.startswith("/"):
                    resolved = []
                pending = [p for p in PurePosixPath(target).parts if p != "/"] + pending
            else:
                raise LayoutError(f"{path}: parent {cur} is not a directory")
        return "/".join([*resolved, parts[-1]])

    def _put(self, entry: CpioEntry) -> None:
        name = self.resolve_parent(entry.name)
        entry = CpioEntry(
            name, entry.mode, entry.data, entry.uid, entry.gid, entry.mtime,
            entry.rdevmajor, entry.rdevminor, entry.nlink,
        )  # fmt: skip
        old = self._entries.get(name)
        if old is not None and old != entry:
            if old.kind == entry.kind == "dir":
                pass  # mkdir over mkdir: the later mode wins
            else:
                raise LayoutError(f"conflicting entries for /{name}: {old.kind} and {entry.kind}")
        self._entries[name] = entry

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        self._put(CpioEntry(path, stat.S_IFDIR | mode, mtime=self._mtime, nlink=2))

    def add_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self._put(CpioEntry(path, stat.S_IFREG | mode, data, mtime=self._mtime))

    def add_symlink(self, path: str, target: str) -> None:
        self._put(CpioEntry(path, stat.S_IFLNK | 0o777, target.encode(), mtime=self._mtime))

    def add_chardev(self, path: str, major: int, minor: int, mode: int = 0o600) -> None:
        self._put(
            CpioEntry(
                path, stat.S_IFCHR | mode, mtime=self._mtime, rdevmajor=major, rdevminor=minor
            )
        )

    def entries(self) -> list[CpioEntry]:
        """All entries, each directory before what it contains, in a stable order."""
        return [self._entries[k] for k in sorted(self._entries, key=lambda n: n.split("/"))]
