"""Building every prefix of a series, and the compiler warnings each patch adds.

Each prefix is built through the kernel build API with ``rev=<prefix commit>``: all
revisions of a tree share one scratch worktree and one out directory, so going from one
prefix to the next recompiles only what the patch touched. A make failure becomes the
prefix's build failure with make's first error lines; a config proof failure likewise.

New warnings: a build log only shows warnings of the files it recompiled, so every warning
line is reduced to (file, message) without line and column, and a prefix's warning is new
only when an earlier build log of this series compiled that file (Kbuild's ``CC`` line)
without showing it. A warning in a file no earlier log compiled (the base may be an
incremental build or a cache hit whose log lacks most files, or the file is a header) has
no baseline: it is listed as *unverified*, reported but never failing the patch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import BuildFailed, ConfigMismatch, InfraError
from orchestrator.kernel import build as kbuild

_COMPILED = re.compile(r"^\s*(?:CC|AS)(?:\s+\[M\])?\s+(?P<obj>\S+)\.o$")
_WARNING = re.compile(r"^(?P<file>\S+?):(?:\d+:)?(?:\d+:)?\s*warning:\s*(?P<msg>.*)$")


@dataclass
class PrefixBuild:
    """The build of one prefix (``index`` 0 is the base)."""

    index: int
    commit: str
    ok: bool
    reason: str = ""  # "", "build-failed", "config-mismatch"
    error: str | None = None  # first error lines, or the config proof's message
    log: str | None = None
    key: str | None = None
    result_dir: str | None = None
    vmlinux_sha256: str | None = None
    cached: bool | None = None
    duration_s: float = 0.0
    warnings: list[str] = field(default_factory=list)  # normalised "file: warning: msg"
    new_warnings: list[str] = field(default_factory=list)  # the log lines themselves
    #: warnings in files no earlier log compiled: not known to be new (never failing)
    unverified_warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "commit": self.commit, "ok": self.ok,
                "reason": self.reason, "error": self.error, "log": self.log, "key": self.key,
                "result_dir": self.result_dir, "vmlinux_sha256": self.vmlinux_sha256,
                "cached": self.cached, "duration_s": round(self.duration_s, 2),
                "warnings": len(self.warnings), "new_warnings": self.new_warnings,
                "unverified_warnings": self.unverified_warnings}


def build_prefix(index: int, commit: str, request: kbuild.BuildRequest,
                 leases: contextlib.ExitStack | None = None) -> PrefixBuild:
    """Build (or find in the cache) ``request`` at ``commit``; failures are values.

    With ``leases``, the result is leased on it: a series holds every prefix's kernel until
    its runs are done, so building later prefixes (one cache slot, ``KEEP`` results) never
    prunes an earlier one that has yet to run."""
    t0 = time.monotonic()
    try:
        res = _build_leased(dataclasses.replace(request, rev=commit), leases)
    except BuildFailed as exc:
        return PrefixBuild(index, commit, False, "build-failed",
                           exc.first_errors or exc.message, exc.log,
                           duration_s=time.monotonic() - t0)
    except ConfigMismatch as exc:
        return PrefixBuild(index, commit, False, "config-mismatch", exc.message,
                           duration_s=time.monotonic() - t0)
    sha = res.vmlinux_sha256
    return PrefixBuild(index, commit, True, log=str(res.log), key=res.key,
                       result_dir=str(res.result_dir), vmlinux_sha256=sha, cached=res.cached,
                       duration_s=time.monotonic() - t0)


def _build_leased(request: kbuild.BuildRequest,
                  leases: contextlib.ExitStack | None) -> kbuild.BuildResult:
    res = kbuild.build(request)
    if leases is None:
        return res
    try:
        leases.enter_context(res.lease())
    except InfraError as exc:
        if exc.reason != "build-pruned":
            raise
        res = kbuild.build(request)  # pruned between build() and the lease: once more
        leases.enter_context(res.lease())
    return res


def _normalise(line: str, roots: tuple[str, ...]) -> tuple[str, str] | None:
    m = _WARNING.match(line.strip())
    if not m:
        return None
    path = m.group("file")
    for root in roots:
        if root and path.startswith(root):
            path = path[len(root):]
    while path.startswith("../") or path.startswith("./"):
        path = path.split("/", 1)[1]
    return path.lstrip("/"), m.group("msg").strip()


class WarningTracker:
    """Warnings seen so far in this series' build logs, per source file, and the files
    those logs compiled (by path without extension)."""

    def __init__(self, roots: tuple[str, ...] = ()) -> None:
        self.roots = tuple(r.rstrip("/") + "/" for r in roots if r)
        self.known: dict[str, set[str]] = {}
        self.compiled: set[str] = set()

    def observe(self, build: PrefixBuild, *, baseline: bool) -> None:
        """Read ``build``'s log; unless ``baseline``, fill ``build.new_warnings`` (the file
        was compiled before without the warning) and ``build.unverified_warnings``."""
        if not build.ok or not build.log:
            return
        try:
            lines = Path(build.log).read_text(errors="replace").splitlines()
        except OSError:
            return
        seen: dict[str, set[str]] = {}
        compiled: set[str] = set()
        for line in lines:
            obj = _COMPILED.match(line)
            if obj:
                compiled.add(obj.group("obj"))
                continue
            norm = _normalise(line, self.roots)
            if norm is None:
                continue
            path, msg = norm
            build.warnings.append(f"{path}: warning: {msg}")
            if not baseline and msg not in self.known.get(path, set()) \
                    and msg not in seen.get(path, set()):
                if _stem(path) in self.compiled:
                    build.new_warnings.append(line.strip())
                else:
                    build.unverified_warnings.append(line.strip())
            seen.setdefault(path, set()).add(msg)
        for path, msgs in seen.items():
            self.known.setdefault(path, set()).update(msgs)
        self.compiled |= compiled


def _stem(path: str) -> str:
    """``drivers/fake.c`` -> ``drivers/fake`` (what Kbuild's ``CC drivers/fake.o`` names)."""
    head, dot, _ = path.rpartition(".")
    return head if dot and "/" not in path[len(head):] else path
