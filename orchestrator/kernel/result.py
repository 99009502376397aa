"""``BuildResult``: one finished build in the cache, and the bridges out of it.

A result directory (``builds/<slot>/results/<key>/``) holds the artifacts, ``metadata.json``,
``reproducer.sh`` and ``build.log``; ``.used`` (its mtime is the last use, for LRU pruning)
and ``.lease`` (a lock file: held shared while the result is in use) are bookkeeping.
``image()`` is the one way from a build to what boot needs, ``metadata_json()`` the one way
to read the metadata, and ``lease()`` keeps the cache from pruning the result while a run
uses it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import InfraError
from orchestrator.kernel import metadata as md
from orchestrator.kernel.image import KernelImage

#: the files a complete result directory holds (what lookup checks)
ARTIFACTS = ("vmlinux", "bzImage", "config", "System.map", md.FILE, "reproducer.sh",
             "build.log")
LEASE = ".lease"
USED = ".used"


@dataclass
class BuildResult:
    vmlinux: Path
    bzimage: Path
    config: Path
    system_map: Path
    metadata: Path
    reproducer: Path
    log: Path
    cached: bool
    key: str
    result_dir: Path
    duration: float

    def to_json(self) -> dict[str, object]:
        return {
            "vmlinux": str(self.vmlinux),
            "bzimage": str(self.bzimage),
            "config": str(self.config),
            "system_map": str(self.system_map),
            "metadata": str(self.metadata),
            "reproducer": str(self.reproducer),
            "log": str(self.log),
            "cached": self.cached,
            "key": self.key,
            "result_dir": str(self.result_dir),
            "duration_s": round(self.duration, 3),
            "vmlinux_sha256": self.vmlinux_sha256,
        }

    def image(self) -> KernelImage:
        """What boot needs from this build."""
        return KernelImage(self.vmlinux, self.bzimage, self.config, self.system_map)

    def metadata_json(self) -> md.BuildMetadata:
        """The build's metadata.json, checked (InfraError, exit 2, if missing or corrupt)."""
        return md.read(self.metadata)

    def read_metadata(self) -> md.BuildMetadata:
        """Old name of :meth:`metadata_json`."""
        return self.metadata_json()

    @property
    def vmlinux_sha256(self) -> str:
        """sha256 of vmlinux: computed once when the build finished, stored in the metadata."""
        return self.metadata_json().get("vmlinux_sha256") or md.file_sha256(self.vmlinux)

    @contextlib.contextmanager
    def lease(self) -> Iterator[BuildResult]:
        """Hold the result in use for the block: pruning skips it until the block ends.

        InfraError (exit 2, reason ``build-pruned``) when it was pruned before the lease was
        taken; a caller then builds again (``build`` rebuilds the missing result).
        """
        try:
            f = open(self.result_dir / LEASE, "a")  # noqa: SIM115 - closed in finally
        except OSError as exc:
            raise InfraError(f"build result {self.result_dir} is gone (pruned from the cache)",
                             reason="build-pruned") from exc
        try:
            fcntl.flock(f, fcntl.LOCK_SH)
            if not complete(self.result_dir):
                raise InfraError(f"build result {self.result_dir} was pruned from the cache",
                                 reason="build-pruned")
            touch(self.result_dir)
            yield self
        finally:
            f.close()


def complete(d: Path) -> bool:
    """True when every artifact of a result directory is there."""
    return all((d / n).is_file() for n in ARTIFACTS)


def touch(d: Path) -> None:
    """Record a use of the result (LRU pruning keeps the most recently used)."""
    with contextlib.suppress(OSError):
        (d / USED).touch()
        os.utime(d / USED)


def last_used(d: Path) -> float:
    """When the result was last used (its build or last cache hit)."""
    for p in (d / USED, d):
        with contextlib.suppress(OSError):
            return p.stat().st_mtime
    return 0.0


def from_dir(d: Path, key: str, *, cached: bool, duration: float) -> BuildResult | None:
    """The result in ``d`` if it is complete, else None."""
    if not complete(d):
        return None
    return BuildResult(d / "vmlinux", d / "bzImage", d / "config", d / "System.map",
                       d / md.FILE, d / "reproducer.sh", d / "build.log", cached, key, d,
                       duration)
