"""The final .config of a build: generated (base + fragments + olddefconfig), proven, reused.

Generation runs in the slot's scratch ``config/`` directory and ends with the proof that
every requested option landed (``ConfigMismatch``, exit 3, before make starts). A proven
config is kept as ``configs/<ckey>.config`` where ``ckey`` covers every Kconfig input, so a
rebuild after a ``.c`` change skips the Kconfig runs. The copy is written to a temp file and
renamed into place, with a ``.sha256`` sidecar written last; it is only reused when the
sidecar matches its content and the proof passes again, so a copy cut short by a kill or a
full disk is never taken as proven.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from orchestrator import __version__
from orchestrator.errors import ConfigMismatch
from orchestrator.git import git_try
from orchestrator.kernel import fragments as fr
from orchestrator.kernel import kconfig
from orchestrator.kernel.make import run_logged
from orchestrator.kernel.metadata import write_atomic
from orchestrator.kernel.request import ARCH, REPRO_ENV, Prepared, sha

#: what the generated .config depends on inside a tree (besides the toolchain and our inputs)
_KCONFIG_PATHS = ("*Kconfig*", "Makefile", "scripts/kconfig", "kernel/configs",
                  "arch/x86/configs", "arch/x86/Makefile")


def config_key(p: Prepared) -> str | None:
    """A key over everything the final .config depends on, or None when it cannot be known.

    A change to a .c file leaves it unchanged, so an incremental rebuild skips the Kconfig
    runs. Git trees only: the index blob ids of Kconfig files, base configs and Kconfig
    sources, plus the content of any of them that is modified in the work tree.
    """
    rev = p.state.commit
    if rev is None:
        return None
    listing = git_try(p.source, "ls-tree", "-r", rev, timeout=60)
    if listing.returncode != 0:
        return None
    parts: list[str | bytes] = [ln for ln in listing.stdout.splitlines()
                                if _kconfig_input(ln.partition("\t")[2])]
    if p.state.dirty and p.checkout is None:
        changed = git_try(p.tree, "status", "--porcelain=v1", "-z", "--untracked-files=all",
                          timeout=60)
        for entry in changed.stdout.split("\0"):
            name = entry[3:]
            if len(entry) <= 3 or not _kconfig_input(name):
                continue
            f = p.tree / name
            parts += [entry, f.read_bytes() if f.is_file() else b""]
    base = fr.read_text(p.base_file, "base config") if p.base_file else p.request.base_config
    return sha(*parts, base, json.dumps(p.tools.versions, sort_keys=True), __version__,
               *(fr.read_text(f.path) for f in p.fragments), *(o.line for o in p.options))[:24]


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
        run_logged([*make, p.request.base_config], env, log)
    else:
        shutil.copyfile(p.base_file, config_dir / ".config")
    frag_paths = [str(f.path) for f in p.fragments]
    if p.options:
        extra = config_dir / "options.fragment"
        extra.write_text("".join(o.line + "\n" for o in p.options))
        frag_paths.append(str(extra))
    if frag_paths:
        merge = p.tree / "scripts" / "kconfig" / "merge_config.sh"
        run_logged(["sh", str(merge), "-m", "-O", str(config_dir), str(config_dir / ".config"),
                    *frag_paths], env, log, cwd=p.tree)
    run_logged([*make, "olddefconfig"], env, log)
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


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def reusable(p: Prepared, cached: Path) -> bool:
    """True when ``cached`` is a complete proven config (sidecar matches, proof passes)."""
    want = _read(cached.with_suffix(".sha256"))
    if want is None or _sha256(cached) != want:
        return False
    return not kconfig.verify(p.requests, cached, p.tree)


def store(final: Path, cached: Path) -> None:
    """Keep a proven config: temp + rename for the config, then its checksum sidecar."""
    cached.parent.mkdir(parents=True, exist_ok=True)
    digest = _sha256(final)
    if digest is None:
        return
    side = cached.with_suffix(".sha256")
    side.unlink(missing_ok=True)  # a config without a matching sidecar is never reused
    write_atomic(cached, final.read_bytes())
    write_atomic(side, digest + "\n")


def _read(path: Path) -> str | None:
    with contextlib.suppress(OSError):
        return path.read_text().strip()
    return None


def proven_config(p: Prepared, slot_dir: Path, log: Callable[[str], object]) -> tuple[Path, bool]:
    """The proven final config for ``p`` and whether it was reused from ``configs/``."""
    ckey = config_key(p)
    cached = slot_dir / "configs" / f"{ckey}.config" if ckey else None
    if cached is not None and cached.exists():
        if reusable(p, cached):
            log(f"config: reusing {cached} (same Kconfig inputs, already proven)\n")
            return cached, True
        log(f"config: {cached} is incomplete or unproven; generating again\n")
    final = generate_config(p, slot_dir / "config", log)
    if cached is not None:
        store(final, cached)
    return final, False
