"""The build cache: finding a finished result, recording one, and pruning old ones.

``<cache>/index/<key>.json`` points at a result directory (``builds/<slot>/results/<key>``),
so a cache hit costs one tree-state check. A hit is only a hit when every artifact is there,
checked under the result's lease lock (which pruning needs exclusively), and it marks the
result used. Pruning keeps the ``KEEP`` most recently used results of a slot and never
removes one that is leased (a run is booting it) or was used in the last ``GRACE_S`` seconds
(a caller between ``build()`` returning and taking its lease).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import shutil
import time
from pathlib import Path

from orchestrator.errors import InvalidInput
from orchestrator.kernel import locks
from orchestrator.kernel import metadata as md
from orchestrator.kernel import result as res
from orchestrator.paths import cache_root

#: results kept per slot (all --rev builds of one tree and fragment set share a slot);
#: PGO_ORCH_CACHE_KEEP overrides it
KEEP = 16
#: a result used this recently is never pruned; PGO_ORCH_CACHE_GRACE_S overrides it
GRACE_S = 600.0


def _env_number(name: str, default: float, minimum: float) -> float:
    text = os.environ.get(name)
    if text is None or not text.strip():
        return default
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value) or value < minimum:
        raise InvalidInput(f"{name}={text!r}: expected a number >= {minimum:g}",
                           field=name, reason="bad-environment")
    return value


def keep_count() -> int:
    """Results kept per slot (``PGO_ORCH_CACHE_KEEP``, default ``KEEP``, at least 1)."""
    return int(_env_number("PGO_ORCH_CACHE_KEEP", KEEP, 1))


def grace_seconds() -> float:
    """``PGO_ORCH_CACHE_GRACE_S`` (default ``GRACE_S``)."""
    return _env_number("PGO_ORCH_CACHE_GRACE_S", GRACE_S, 0)


def index_entry(key: str, root: Path | None = None) -> Path:
    return (root or cache_root()) / "index" / f"{key}.json"


def lookup(key: str, root: Path | None = None) -> res.BuildResult | None:
    """The finished build for ``key`` if all its artifacts are there (and mark it used)."""
    entry = index_entry(key, root)
    try:
        data = json.loads(entry.read_text())
        d = Path(data["result_dir"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        lease = open(d / res.LEASE, "a")  # noqa: SIM115 - closed below
    except OSError:  # the directory is gone: a stale entry
        entry.unlink(missing_ok=True)
        return None
    with lease:
        fcntl.flock(lease, fcntl.LOCK_SH)  # pruning holds it exclusive while deleting
        found = res.from_dir(d, key, cached=True, duration=0.0)
        if found is None:
            entry.unlink(missing_ok=True)
            return None
        res.touch(d)
        return found


def record(key: str, result_dir: Path, root: Path | None = None) -> None:
    """Point the index at a finished result (atomically)."""
    entry = index_entry(key, root)
    entry.parent.mkdir(parents=True, exist_ok=True)
    md.write_atomic(entry, json.dumps({"result_dir": str(result_dir)}))


def prune(results: Path, *, root: Path | None = None, keep: int | None = None,
          grace_s: float | None = None) -> list[Path]:
    """Drop a slot's least recently used results beyond ``keep``; returns what was removed.

    Skips results in use (lease held) and results used within ``grace_s`` seconds. The
    index entry goes first, so a concurrent lookup sees a miss, never half a result.
    """
    if not results.is_dir():
        return []
    keep = keep_count() if keep is None else keep
    grace_s = grace_seconds() if grace_s is None else grace_s
    dirs = sorted((d for d in results.iterdir() if d.is_dir() and not d.name.startswith(".")),
                  key=res.last_used, reverse=True)
    now = time.time()
    removed = []
    for d in dirs[keep:]:
        if now - res.last_used(d) < grace_s:
            continue
        lease = locks.try_exclusive(d / res.LEASE)
        if lease is None:
            continue
        with lease:
            index_entry(d.name, root).unlink(missing_ok=True)
            trash = d.with_name(f".trash-{d.name}-{os.getpid()}")
            with contextlib.suppress(OSError):
                d.rename(trash)
                removed.append(d)
        shutil.rmtree(trash, ignore_errors=True)
    return removed
