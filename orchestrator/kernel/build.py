"""``make LLVM=1`` of a kernel from a tree, a base config and fragments, with a build cache.

Layout under ``<cache>/builds/<slot>/``, one slot per (tree path, base config, fragment
names, toolchain, make arguments) so that a change to one file rebuilds incrementally:

- ``out/``: the ``O=`` directory make builds into (reused);
- ``config/``: a scratch ``O=`` directory where the config is generated and proven;
- ``results/<key>/``: one finished build (artifacts, metadata.json, reproducer.sh, build.log),
  where ``key`` also covers the tree state and the fragments' contents.

``<cache>/index/<key>.json`` points at a finished result, so a cache hit costs one git status.
"""

from __future__ import annotations

import fcntl
import filecmp
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from orchestrator import __version__, ui
from orchestrator.errors import BuildFailed, ConfigMismatch, InfraError, InvalidInput
from orchestrator.kernel import fragments as fr
from orchestrator.kernel import kconfig, reproducer, toolchain, worktree
from orchestrator.kernel.tree import TreeState, check_tree, tree_state
from orchestrator.paths import cache_root

ARCH = "x86_64"
BASE_CONFIGS = ("tinyconfig", "defconfig", "allnoconfig")
DEFAULT_TARGETS = ("vmlinux", "bzImage")
#: Fixed build identity: the same inputs give the same kernel image.
REPRO_ENV = {
    "KBUILD_BUILD_TIMESTAMP": "Thu Jan  1 00:00:00 UTC 2026",
    "KBUILD_BUILD_USER": "pgo-orch",
    "KBUILD_BUILD_HOST": "pgo-orch",
}
_OBJ_LINE = re.compile(r"^\s+(CC|AS|LD|AR|HOSTCC|CPP|OBJCOPY|GEN|LDS|CALL|VDSO\S*)\s+(\S+)")
_ERROR_LINE = re.compile(r"(\berror:|\*\*\* |Error \d+|undefined (symbol|reference))")
_WARNING_LINE = re.compile(r"\bwarning:")


@dataclass
class BuildRequest:
    """What to build; every field takes user input and is checked by :func:`prepare`."""

    tree: Path
    base_config: str = "tinyconfig"
    fragments: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)
    jobs: int = os.cpu_count() or 1
    llvm: str = "1"
    targets: tuple[str, ...] = DEFAULT_TARGETS
    #: build this commit of ``tree`` (a git rev) in a scratch worktree, leaving ``tree`` alone
    rev: str | None = None


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
        }

    def read_metadata(self) -> dict[str, object]:
        data: dict[str, object] = json.loads(self.metadata.read_text())
        return data


@dataclass
class Prepared:
    """A checked request: resolved tree, fragments, requests, toolchain, keys."""

    request: BuildRequest
    tree: Path
    state: TreeState
    tools: toolchain.Toolchain
    base_file: Path | None
    fragments: list[fr.Fragment]
    options: list[fr.Request]
    requests: dict[str, fr.Request]
    slot: str
    key: str
    #: (repository, commit) to check out into ``tree`` (a worktree) before building
    checkout: tuple[Path, str] | None = None

    def make_args(self) -> list[str]:
        return [f"LLVM={self.tools.llvm}", f"ARCH={ARCH}"]


def _sha(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else p.encode())
        h.update(b"\0")
    return h.hexdigest()


def prepare(req: BuildRequest) -> Prepared:
    """Check every input (exit 3 on bad input) and compute the slot and cache key."""
    tree = check_tree(req.tree)
    if req.jobs < 1:
        raise InvalidInput(f"jobs must be at least 1, got {req.jobs}", field="--jobs")
    base_file: Path | None = None
    if req.base_config not in BASE_CONFIGS:
        base_file = Path(req.base_config).expanduser()
        if not base_file.is_file():
            raise InvalidInput(
                f"base config {req.base_config!r} is neither one of "
                f"{', '.join(BASE_CONFIGS)} nor an existing file",
                field="--config",
                reason="bad-base-config",
            )
        base_file = base_file.resolve()
    frags = [fr.resolve_fragment(s) for s in req.fragments]
    options = [fr.parse_option(o) for o in req.options]
    tools = toolchain.detect(req.llvm)
    checkout: tuple[Path, str] | None = None
    if req.rev:
        commit = worktree.resolve_rev(tree, req.rev)
        repo, tree = tree, worktree.path_for(tree)
        checkout = (repo, commit)
        state = TreeState(tree, commit, False, hashlib.sha256(commit.encode()).hexdigest())
    else:
        state = tree_state(tree)
    requests = fr.merged_requests(frags, options)
    make_args = [f"LLVM={tools.llvm}", f"ARCH={ARCH}", *req.targets]
    slot = _sha(
        str(tree),
        req.base_config,
        *(f.name for f in frags),
        json.dumps(tools.versions, sort_keys=True),
        *make_args,
    )[:16]
    key = _sha(
        slot,
        __version__,
        state.digest,
        base_file.read_text() if base_file else req.base_config,
        *(f.path.read_text() for f in frags),
        *(o.line for o in options),
    )[:24]
    return Prepared(req, tree, state, tools, base_file, frags, options, requests, slot, key,
                    checkout)


def lookup(p: Prepared, root: Path | None = None) -> BuildResult | None:
    """The finished build for this key, if its artifacts are all still there."""
    entry = (root or cache_root()) / "index" / f"{p.key}.json"
    try:
        data = json.loads(entry.read_text())
    except (OSError, ValueError):
        return None
    result = _result_from_dir(Path(data["result_dir"]), p.key, cached=True, duration=0.0)
    if result is None:
        entry.unlink(missing_ok=True)
    return result


def _result_from_dir(d: Path, key: str, *, cached: bool, duration: float) -> BuildResult | None:
    files = {
        n: d / n
        for n in (
            "vmlinux",
            "bzImage",
            "config",
            "System.map",
            "metadata.json",
            "reproducer.sh",
            "build.log",
        )
    }
    if not all(f.exists() for f in files.values()):
        return None
    return BuildResult(
        files["vmlinux"],
        files["bzImage"],
        files["config"],
        files["System.map"],
        files["metadata.json"],
        files["reproducer.sh"],
        files["build.log"],
        cached,
        key,
        d,
        duration,
    )


def build(req: BuildRequest, *, root: Path | None = None) -> BuildResult:
    """Build (or find in the cache) the kernel ``req`` describes."""
    t0 = time.monotonic()
    p = prepare(req)
    hit = lookup(p, root)
    if hit is not None:
        hit.duration = time.monotonic() - t0
        ui.say("build", f"cached: {hit.result_dir}")
        return hit
    slot_dir = (root or cache_root()) / "builds" / p.slot
    slot_dir.mkdir(parents=True, exist_ok=True)
    with open(slot_dir / "lock", "w") as lock:
        if _locked(lock):
            ui.say("build", f"waiting for another build of this slot ({slot_dir}/lock)")
        fcntl.flock(lock, fcntl.LOCK_EX)
        hit = lookup(p, root)
        if hit is not None:
            hit.duration = time.monotonic() - t0
            return hit
        return _build_locked(p, slot_dir, root or cache_root(), t0)


def _locked(lock: IO[str]) -> bool:
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(lock, fcntl.LOCK_UN)
    return False


#: what the generated .config depends on inside a tree (besides the toolchain and our inputs)
_KCONFIG_PATHS = ("*Kconfig*", "Makefile", "scripts/kconfig", "kernel/configs",
                  "arch/x86/configs", "arch/x86/Makefile")


def config_key(p: Prepared) -> str | None:
    """A key over everything the final .config depends on, or None when it cannot be known.

    A change to a .c file leaves it unchanged, so an incremental rebuild skips the Kconfig
    runs. Git trees only: the index blob ids of Kconfig files, base configs and Kconfig
    sources, plus the content of any of them that is modified in the work tree.
    """
    repo = p.checkout[0] if p.checkout else p.tree
    rev = p.state.commit
    if rev is None:
        return None
    try:
        listing = subprocess.run(["git", "-C", str(repo), "ls-tree", "-r", rev],
                                 capture_output=True, text=True, timeout=60, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    parts: list[str | bytes] = [ln for ln in listing.splitlines()
                                if _kconfig_input(ln.partition("\t")[2])]
    if p.state.dirty and p.checkout is None:
        changed = subprocess.run(["git", "-C", str(p.tree), "status", "--porcelain=v1", "-z",
                                  "--untracked-files=all"],
                                 capture_output=True, timeout=60, check=False).stdout
        for entry in changed.split(b"\0"):
            name = entry[3:].decode(errors="surrogateescape")
            if len(entry) <= 3 or not _kconfig_input(name):
                continue
            f = p.tree / name
            parts += [entry, f.read_bytes() if f.is_file() else b""]
    base = p.base_file.read_text() if p.base_file else p.request.base_config
    return _sha(*parts, base, json.dumps(p.tools.versions, sort_keys=True), __version__,
                *(f.path.read_text() for f in p.fragments), *(o.line for o in p.options))[:24]


def _kconfig_input(path: str) -> bool:
    """True for files whose content can change the generated .config."""
    name = path.rsplit("/", 1)[-1]
    if "Kconfig" in name or path == "Makefile":
        return True
    return any(path == d or path.startswith(d + "/") for d in _KCONFIG_PATHS[2:])


def generate_config(p: Prepared, config_dir: Path, log: Callable[[str], object]) -> Path:
    """Base config + merge_config.sh -m + olddefconfig in ``config_dir``; proven or exit 3."""
    if config_dir.exists():
        shutil.rmtree(config_dir)
    config_dir.mkdir(parents=True)
    env = {**os.environ, **REPRO_ENV, "LLVM": p.tools.llvm, "ARCH": ARCH}
    make = ["make", "-s", "-C", str(p.tree), f"O={config_dir}", *p.make_args()]
    if p.base_file is None:
        _run_logged([*make, p.request.base_config], env, log)
    else:
        shutil.copyfile(p.base_file, config_dir / ".config")
    frag_paths = [str(f.path) for f in p.fragments]
    if p.options:
        extra = config_dir / "options.fragment"
        extra.write_text("".join(o.line + "\n" for o in p.options))
        frag_paths.append(str(extra))
    if frag_paths:
        merge = p.tree / "scripts" / "kconfig" / "merge_config.sh"
        _run_logged(
            [
                "sh",
                str(merge),
                "-m",
                "-O",
                str(config_dir),
                str(config_dir / ".config"),
                *frag_paths,
            ],
            env,
            log,
            cwd=p.tree,
        )
    _run_logged([*make, "olddefconfig"], env, log)
    final = config_dir / ".config"
    bad = kconfig.verify(p.requests, final, p.tree)
    if bad:
        lines = "\n".join("  " + m.describe() for m in bad)
        raise ConfigMismatch(
            f"{len(bad)} requested option(s) did not land in the final config "
            f"({final}); no build was started:\n{lines}",
            field="config",
        )
    return final


def _run_logged(
    argv: list[str], env: dict[str, str], log: Callable[[str], object], cwd: Path | None = None
) -> None:
    log("$ " + " ".join(argv) + "\n")
    proc = subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=900, check=False
    )
    log(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-12:])
        raise InfraError(
            f"config step failed (exit {proc.returncode}): {' '.join(argv)}\n{tail}",
            reason="config-failed",
        )


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
        ui.say(
            "build",
            f"tree {p.tree} ({p.state.commit or 'no git'}"
            f"{', dirty' if p.state.dirty else ''}); log: {log_path}",
        )
        tc = time.monotonic()
        ckey = config_key(p)
        cached_cfg = slot_dir / "configs" / f"{ckey}.config" if ckey else None
        if cached_cfg is not None and cached_cfg.exists():
            final = cached_cfg
            logf.write(f"config: reusing {cached_cfg} (same Kconfig inputs, already proven)\n")
        else:
            final = generate_config(p, slot_dir / "config", logf.write)
            if cached_cfg is not None:
                cached_cfg.parent.mkdir(exist_ok=True)
                shutil.copyfile(final, cached_cfg)
        config_s = time.monotonic() - tc
        ui.say(
            "build",
            f"config proven: {len(p.requests)} requested option(s) landed ({config_s:.1f}s"
            f"{', reused' if final == cached_cfg else ''})",
        )
        out = slot_dir / "out"
        out.mkdir(exist_ok=True)
        if not (out / ".config").exists() or not filecmp.cmp(final, out / ".config", shallow=False):
            shutil.copyfile(final, out / ".config")
        previous = _previous_object_count(slot_dir)
        tb = time.monotonic()
        stats = _run_make(p, out, logf, previous)
        build_s = time.monotonic() - tb
    artifacts = {
        "vmlinux": out / "vmlinux",
        "bzImage": out / "arch" / "x86" / "boot" / "bzImage",
        "config": out / ".config",
        "System.map": out / "System.map",
    }
    for name, src in artifacts.items():
        shutil.copyfile(src, result_dir / name)
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
        diff = subprocess.run(
            ["git", "-C", str(p.tree), "diff", "HEAD", "--binary"], capture_output=True, check=False
        ).stdout
        (result_dir / "tree.diff").write_bytes(diff)
    reproducer.write(result_dir / "reproducer.sh", p, copied, REPRO_ENV)
    config_text = (result_dir / "config").read_bytes()
    meta = {
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
        "config_sha256": hashlib.sha256(config_text).hexdigest(),
        "toolchain": p.tools.versions,
        "llvm": p.tools.llvm,
        "make_args": [*p.make_args(), f"-j{p.request.jobs}", *p.request.targets],
        "targets": list(p.request.targets),
        "durations_s": {
            "config": round(config_s, 2),
            "make": round(build_s, 2),
            "total": round(time.monotonic() - t0, 2),
        },
        "objects_built": stats.objects,
        "warnings": stats.warnings,
        "errors": stats.errors,
        "key": p.key,
        "slot": p.slot,
        "out_dir": str(out),
        "artifacts": {n: str(result_dir / n) for n in artifacts},
        "kernel_release": _read(out / "include" / "config" / "kernel.release"),
    }
    (result_dir / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n")
    index = root / "index"
    index.mkdir(parents=True, exist_ok=True)
    tmp = index / f".{p.key}.tmp"
    tmp.write_text(json.dumps({"result_dir": str(result_dir)}))
    tmp.rename(index / f"{p.key}.json")
    _prune(slot_dir / "results", keep=6, root=root)
    res = _result_from_dir(result_dir, p.key, cached=False, duration=time.monotonic() - t0)
    assert res is not None
    ui.say(
        "build",
        f"done in {res.duration:.1f}s ({stats.objects} steps, "
        f"{stats.warnings} warnings): {result_dir}",
    )
    return res


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


@dataclass
class MakeStats:
    objects: int = 0
    warnings: int = 0
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)


def _previous_object_count(slot_dir: Path) -> int | None:
    counts = []
    for meta in (slot_dir / "results").glob("*/metadata.json"):
        try:
            counts.append(int(json.loads(meta.read_text()).get("objects_built", 0)))
        except (OSError, ValueError, TypeError):
            continue
    best = max(counts, default=0)
    return best or None


def _run_make(p: Prepared, out: Path, logf: IO[str], previous: int | None) -> MakeStats:
    argv = [
        "make",
        "-C",
        str(p.tree),
        f"O={out}",
        *p.make_args(),
        f"-j{p.request.jobs}",
        *p.request.targets,
    ]
    env = {**os.environ, **REPRO_ENV}
    write = logf.write
    write("$ " + " ".join(argv) + "\n")
    stats = MakeStats()
    ticker = ui.Ticker("build")
    start = time.monotonic()
    proc = subprocess.Popen(
        argv,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        bufsize=1,
    )
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            write(line)
            m = _OBJ_LINE.match(line)
            if m:
                stats.objects += 1
                total = f"/~{previous}" if previous else ""
                ticker.update(
                    f"{stats.objects}{total} steps, {time.monotonic() - start:.0f}s: "
                    f"{m.group(1)} {m.group(2)}"
                )
            elif _WARNING_LINE.search(line):
                stats.warnings += 1
            elif _ERROR_LINE.search(line):
                stats.errors += 1
                if len(stats.first_errors) < 12:
                    stats.first_errors.append(line.rstrip())
        rc = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    if rc != 0:
        ticker.done(f"make failed (exit {rc})")
        errs = "\n".join("  " + e for e in stats.first_errors) or "  (no error lines found)"
        raise BuildFailed(
            f"kernel build failed (make exit {rc}); first errors:\n{errs}\nfull log: {logf.name}",
            first_errors="\n".join(stats.first_errors), log=str(logf.name),
        )
    ticker.done(f"make finished: {stats.objects} steps in {time.monotonic() - start:.0f}s")
    return stats


def _prune(results: Path, *, keep: int, root: Path) -> None:
    """Keep the newest ``keep`` results of a slot; drop the rest and their index entries."""
    dirs = sorted(
        (d for d in results.iterdir() if d.is_dir()), key=lambda d: d.stat().st_mtime, reverse=True
    )
    for d in dirs[keep:]:
        (root / "index" / f"{d.name}.json").unlink(missing_ok=True)
        shutil.rmtree(d, ignore_errors=True)
