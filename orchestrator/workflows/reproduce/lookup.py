"""Tree lookups: which file a guilty function serves, and whether it is instrumented.

``find_file``: for the guilty function (then each caller in the report), find a
``struct file_operations`` / ``struct proc_ops`` initializer whose ``.open`` / ``.proc_open`` /
``.read`` / ``.write`` / ... member is that function, then the ``debugfs_create_file`` /
``proc_create`` call in the same file that registers that structure, and follow the parent
directory variable through ``debugfs_create_dir`` / ``proc_mkdir`` to the root: the path in
the guest (``/sys/kernel/debug/...`` or ``/proc/...``).

Git trees are searched at a revision with ``git grep`` (no checkout needed); other trees with
``grep -r``.  Both through argv lists; function names are checked to be C identifiers first.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from orchestrator.git import git_try, is_repository
from orchestrator.workflows.reproduce.facts import RULE, TREE, Fact

_IDENT = re.compile(r"^[A-Za-z_]\w*$")
_MEMBERS = ("open", "proc_open", "read", "read_iter", "proc_read", "proc_read_iter", "write",
            "write_iter", "proc_write", "unlocked_ioctl", "proc_ioctl", "mmap", "proc_mmap",
            "llseek", "proc_lseek", "poll", "proc_poll", "release", "proc_release")
#: members a plain read (``cat FILE``) reaches; others need a write or an ioctl
READ_MEMBERS = {"open", "proc_open", "read", "read_iter", "proc_read", "proc_read_iter",
                "llseek", "proc_lseek", "release", "proc_release"}
WRITE_MEMBERS = {"write", "write_iter", "proc_write"}
_ROOTS = {"debugfs": "/sys/kernel/debug", "proc": "/proc"}


@dataclass(frozen=True)
class TreeFile:
    """The guest path of the file a function serves, and how it was found."""

    path: str
    function: str
    member: str  # the file operation the function is
    facts: list[Fact]


class Tree:
    """A kernel tree at one revision, readable without touching its checkout."""

    def __init__(self, root: Path, commit: str | None) -> None:
        self.root = root
        self.commit = commit if commit and is_repository(root) else None

    @property
    def label(self) -> str:
        return f"{self.root}@{self.commit[:12]}" if self.commit else str(self.root)

    def grep(self, pattern: str) -> list[tuple[str, int, str]]:
        """(file, line, text) of C source lines matching the extended regex ``pattern``."""
        if self.commit:
            proc = git_try(self.root, "grep", "-n", "-E", "-e", pattern, self.commit, "--",
                           "*.c", timeout=300)
            prefix = self.commit + ":"
        else:
            proc = subprocess.run(["grep", "-rnE", "--include=*.c", "-e", pattern, "."],
                                  cwd=self.root, capture_output=True, text=True,
                                  errors="replace", timeout=300, check=False)
            prefix = "./"
        hits: list[tuple[str, int, str]] = []
        for line in proc.stdout.splitlines():
            if line.startswith(prefix):
                line = line[len(prefix):]
            parts = line.split(":", 2)
            if len(parts) == 3 and parts[1].isdigit():
                hits.append((parts[0], int(parts[1]), parts[2]))
        return hits

    def read(self, rel: str) -> str | None:
        if self.commit:
            proc = git_try(self.root, "show", f"{self.commit}:{rel}", timeout=60)
            return proc.stdout if proc.returncode == 0 else None
        p = self.root / rel
        return p.read_text(errors="replace") if p.is_file() else None


def find_file(tree: Tree, functions: list[str]) -> TreeFile | None:
    """The first of ``functions`` that a registered debugfs/proc file uses (see docstring)."""
    for func in functions:
        if not _IDENT.match(func):
            continue
        members = "|".join(_MEMBERS)
        for rel, lineno, text in tree.grep(rf"\.({members})[[:space:]]*=[[:space:]]*{func}\b"):
            found = _from_member(tree, rel, lineno, text, func)
            if found is not None:
                return found
    return None


def _from_member(tree: Tree, rel: str, lineno: int, text: str, func: str) -> TreeFile | None:
    member_m = re.search(r"\.(\w+)\s*=", text)
    member = member_m.group(1) if member_m else "?"
    source = tree.read(rel)
    if source is None:
        return None
    lines = source.splitlines()
    ops: str | None = None
    ops_line = 0
    for i in range(lineno - 1, max(-1, lineno - 80), -1):
        m = re.search(r"struct\s+(file_operations|proc_ops)\s+(\w+)\s*=", lines[i])
        if m:
            ops, ops_line = m.group(2), i + 1
            break
    if ops is None:
        return None
    facts = [Fact("file-operations", f"{ops}.{member} = {func}", TREE,
                  f"{tree.label}:{rel}:{lineno}", text.strip(),
                  f"{func} is the {member} operation of {ops} ({rel}:{ops_line})")]
    reg = re.compile(r"(debugfs_create_file(?:_unsafe|_size)?|proc_create(?:_data)?)\s*\(\s*"
                     r"\"([^\"]+)\"\s*,\s*[^,]+,\s*(\w+|NULL)\s*,\s*(?:[^,]+,\s*)?&" + ops + r"\b")
    m = reg.search(source)
    if m is None:
        return None
    reg_line = source.count("\n", 0, m.start()) + 1
    kind = "debugfs" if m.group(1).startswith("debugfs") else "proc"
    parts = [m.group(2)]
    parent = m.group(3)
    seen = 0
    while parent != "NULL" and seen < 8:
        seen += 1
        dm = re.search(rf"\b{re.escape(parent)}\s*=\s*(?:debugfs_create_dir|proc_mkdir)\s*\(\s*"
                       r"\"([^\"]+)\"\s*,\s*(\w+|NULL)\s*\)", source)
        if dm is None:
            return None  # a parent made elsewhere: not followed
        parts.insert(0, dm.group(1))
        parent = dm.group(2)
    path = "/".join([_ROOTS[kind], *parts])
    facts.append(Fact("file", path, TREE, f"{tree.label}:{rel}:{reg_line}",
                      m.group(0).replace("\n", " ")[:160],
                      f"{m.group(1)} registers {ops} as {path}"))
    return TreeFile(path, func, member, facts)


def instrumentation(tree: Tree, rel: str) -> Fact | None:
    """A fact when ``rel`` (a .c file) is built without PGO instrumentation, else None."""
    directory, _, name = rel.rpartition("/")
    makefile = tree.read(f"{directory}/Makefile" if directory else "Makefile")
    if makefile is None:
        return None
    obj = name[:-2] + ".o" if name.endswith(".c") else name
    for n, line in enumerate(makefile.splitlines(), start=1):
        m = re.match(r"^\s*PGO_PROFILE(?:_(\S+))?\s*:?=\s*n\s*$", line)
        if m and (m.group(1) is None or m.group(1) == obj):
            return Fact("not-instrumented", rel, RULE,
                        f"{tree.label}:{directory}/Makefile:{n}", line.strip(),
                        f"{rel} is built without PGO counters, so its functions never appear "
                        "in a profile")
    return None


def file_of(facts: list[Fact]) -> str | None:
    """The tree file named by a ``file-operations`` fact's location."""
    for f in facts:
        if f.name == "file-operations":
            return f.where.split(":")[-2]
    return None
