"""``make LLVM=1`` of a kernel from a tree, a base config and fragments, with a build cache.

The facade of the build: :func:`build` (and the names callers import: ``BuildRequest``,
``BuildResult``, ``prepare``, ``lookup``) ties together the parts, one module per concern:
``request`` (inputs, slot and key), ``configure`` (the proven .config), ``make`` (running
make in its own process group), ``metadata`` (metadata.json), ``cache`` (index, lookup,
pruning), ``locks`` (the lock order), ``worktree`` (``--rev`` checkouts) and
``rebuild_script`` (reproducer.sh).

Layout under ``<cache>/builds/<slot>/``, one slot per (tree path, base config, fragment
names, toolchain, make arguments) so that a change to one file rebuilds incrementally:

- ``out/``: the ``O=`` directory make builds into (reused);
- ``config/``: a scratch ``O=`` directory where the config is generated and proven;
- ``configs/<ckey>.config`` (+ ``.sha256``): proven configs, reused while no Kconfig input
  changes;
- ``results/<key>/``: one finished build (artifacts, metadata.json, reproducer.sh, build.log),
  where ``key`` also covers the tree state and the fragments' contents.

``<cache>/index/<key>.json`` points at a finished result, so a cache hit costs one git status.
Several processes may build at once on one cache: see ``locks`` for what each holds.
"""

from __future__ import annotations

import contextlib
import filecmp
import shutil
import time
from pathlib import Path

from orchestrator import __version__, ui
from orchestrator.git import git_bytes
from orchestrator.kernel import cache, locks, rebuild_script, worktree
from orchestrator.kernel import metadata as md
from orchestrator.kernel.configure import config_key, generate_config, proven_config
from orchestrator.kernel.make import MakeStats, run_make
from orchestrator.kernel.request import (
    ARCH,
    BASE_CONFIGS,
    DEFAULT_TARGETS,
    REPRO_ENV,
    BuildRequest,
    Prepared,
    prepare,
)
from orchestrator.kernel.result import BuildResult, from_dir, touch
from orchestrator.paths import cache_root

__all__ = ["ARCH", "BASE_CONFIGS", "DEFAULT_TARGETS", "REPRO_ENV", "BuildRequest",
           "BuildResult", "Prepared", "build", "config_key", "generate_config", "lookup",
           "prepare"]


def lookup(p: Prepared, root: Path | None = None) -> BuildResult | None:
    """The finished build for this request, if its artifacts are all still there."""
    return cache.lookup(p.key, root)


def build(req: BuildRequest, *, root: Path | None = None) -> BuildResult:
    """Build (or find in the cache) the kernel ``req`` describes.

    Holds the source tree's lock shared throughout (a default-tree reset waits), the slot's
    lock while building, and for a ``--rev`` build the scratch worktree's lock from checkout
    until the artifacts are copied.
    """
    t0 = time.monotonic()
    root = root or cache_root()
    cache.keep_count(), cache.grace_seconds()  # bad settings: exit 3 now, not after make
    with locks.hold(locks.tree_lock(req.tree.expanduser(), root), shared=True,
                    what="the kernel tree to be reset and re-patched"):
        p = prepare(req)
        hit = cache.lookup(p.key, root)
        if hit is not None:
            hit.duration = time.monotonic() - t0
            ui.say("build", f"cached: {hit.result_dir}")
            return hit
        slot_dir = root / "builds" / p.slot
        with locks.hold(slot_dir / "lock", what="another build of this slot"):
            hit = cache.lookup(p.key, root)
            if hit is not None:
                hit.duration = time.monotonic() - t0
                return hit
            wt_lock = (locks.hold(worktree.lock_path(p.tree), what="another --rev build of "
                                  "this tree") if p.checkout else contextlib.nullcontext())
            with wt_lock:
                return _build_locked(p, slot_dir, root, t0)


def _build_locked(p: Prepared, slot_dir: Path, root: Path, t0: float) -> BuildResult:
    if p.checkout is not None:
        repo, commit = p.checkout
        ui.say("build", f"checking out {p.request.rev} ({commit[:12]}) into {p.tree}")
        worktree.checkout(repo, p.tree, commit)
    result_dir = slot_dir / "results" / p.key
    if result_dir.exists():
        shutil.rmtree(result_dir)
    result_dir.mkdir(parents=True)
    log_path = result_dir / "build.log"
    with open(log_path, "w", buffering=1) as logf:
        ui.say("build", f"tree {p.tree} ({p.state.commit or 'no git'}"
                        f"{', dirty' if p.state.dirty else ''}); log: {log_path}")
        tc = time.monotonic()
        final, reused = proven_config(p, slot_dir, logf.write)
        config_s = time.monotonic() - tc
        ui.say("build", f"config proven: {len(p.requests)} requested option(s) landed "
                        f"({config_s:.1f}s{', reused' if reused else ''})")
        out = slot_dir / "out"
        out.mkdir(exist_ok=True)
        if not (out / ".config").exists() or not filecmp.cmp(final, out / ".config",
                                                              shallow=False):
            shutil.copyfile(final, out / ".config")
        previous = md.previous_object_count(slot_dir / "results")
        tb = time.monotonic()
        stats = run_make(p, out, logf, previous)
        build_s = time.monotonic() - tb
    artifacts = {
        "vmlinux": out / "vmlinux",
        "bzImage": out / "arch" / "x86" / "boot" / "bzImage",
        "config": out / ".config",
        "System.map": out / "System.map",
    }
    for name, src in artifacts.items():
        shutil.copyfile(src, result_dir / name)
    copied = _keep_inputs(p, result_dir)
    rebuild_script.write(result_dir / "reproducer.sh", p, copied, REPRO_ENV)
    durations = {"config": round(config_s, 2), "make": round(build_s, 2),
                 "total": round(time.monotonic() - t0, 2)}
    # written last: a result directory without metadata.json is never a cache hit
    md.write(result_dir / md.FILE, _metadata(p, result_dir, out, stats, durations))
    touch(result_dir)
    cache.record(p.key, result_dir, root)
    cache.prune(slot_dir / "results", root=root)
    res = from_dir(result_dir, p.key, cached=False, duration=time.monotonic() - t0)
    assert res is not None
    ui.say("build", f"done in {res.duration:.1f}s ({stats.objects} steps, "
                    f"{stats.warnings} warnings): {result_dir}")
    return res


def _keep_inputs(p: Prepared, result_dir: Path) -> list[Path]:
    """Copy the fragments (and -K options, and an uncommitted diff) beside the result."""
    frag_dir = result_dir / "fragments"
    frag_dir.mkdir()
    copied = []
    for i, f in enumerate(p.fragments, start=1):
        dst = frag_dir / f"{i:02d}-{f.path.name}"
        shutil.copyfile(f.path, dst)
        copied.append(dst)
    if p.options:
        dst = frag_dir / f"{len(copied) + 1:02d}-options"
        dst.write_text("".join(o.line + "\n" for o in p.options))
        copied.append(dst)
    if p.state.dirty and p.state.commit:
        diff = git_bytes(p.tree, "diff", "HEAD", "--binary") or b""
        (result_dir / "tree.diff").write_bytes(diff)
    return copied


def _metadata(p: Prepared, result_dir: Path, out: Path, stats: MakeStats,
              durations: dict[str, float]) -> md.BuildMetadata:
    return {
        "tool": f"pgo-orch {__version__}",
        "tree": str(p.tree),
        "repo": str(p.checkout[0]) if p.checkout else None,
        "rev": p.request.rev,
        "commit": p.state.commit,
        "dirty": p.state.dirty,
        "tree_digest": p.state.digest,
        "base_config": p.request.base_config,
        "fragments": [{"name": f.name, "path": str(f.path)} for f in p.fragments],
        "requested_options": [
            {"option": r.symbol, "value": r.value, "source": r.source} for r in p.requests.values()
        ],
        "config_sha256": md.file_sha256(result_dir / "config"),
        "vmlinux_sha256": md.file_sha256(result_dir / "vmlinux"),
        "toolchain": p.tools.versions,
        "llvm": p.tools.llvm,
        "make_args": [*p.make_args(), f"-j{p.request.jobs}", *p.request.targets],
        "targets": list(p.request.targets),
        "durations_s": durations,
        "objects_built": stats.objects,
        "warnings": stats.warnings,
        "errors": stats.errors,
        "key": p.key,
        "slot": p.slot,
        "out_dir": str(out),
        "artifacts": {n: str(result_dir / n) for n in ("vmlinux", "bzImage", "config",
                                                        "System.map")},
        "kernel_release": _read(out / "include" / "config" / "kernel.release"),
    }


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None
