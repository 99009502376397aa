"""``metadata.json`` of a finished build: its typed shape, writing it, reading it back.

Everything a report, series or bisect wants to know about a kernel (tree, commit, config and
vmlinux checksums, toolchain, timings, warning count) is in this one file beside the
artifacts. :func:`read` is the one way to read it; it checks the fields consumers rely on
and fills ``vmlinux_sha256`` (computed once) for results built before that field existed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any, NotRequired, TypedDict, cast

from orchestrator.errors import InfraError
from orchestrator.fsutil import write_atomic as write_atomic  # re-export (cache, configure)

FILE = "metadata.json"


class FragmentEntry(TypedDict):
    name: str
    path: str


class OptionEntry(TypedDict):
    option: str
    value: str
    source: str


class BuildMetadata(TypedDict):
    """The keys of metadata.json (all written by every build since pgo-orch 0.1)."""

    tool: str
    tree: str
    repo: str | None  # the repository of a --rev build (tree is then its scratch worktree)
    rev: str | None
    commit: str | None
    dirty: bool
    tree_digest: str
    base_config: str
    fragments: list[FragmentEntry]
    requested_options: list[OptionEntry]
    config_sha256: str
    vmlinux_sha256: NotRequired[str]  # filled in by read() for results that predate it
    toolchain: dict[str, str]
    llvm: str
    make_args: list[str]
    targets: list[str]
    durations_s: dict[str, float]
    objects_built: int
    warnings: int
    errors: int
    key: str
    slot: str
    out_dir: str
    artifacts: dict[str, str]
    kernel_release: str | None


#: fields read() requires, and the types it checks wherever the field is present (every
#: build pgo-orch makes writes them all; hand-made metadata in tests may carry fewer)
_REQUIRED = ("tree", "commit", "toolchain")
_TYPES: dict[str, tuple[type, ...]] = {
    "tree": (str,), "commit": (str, type(None)), "rev": (str, type(None)),
    "repo": (str, type(None)), "dirty": (bool,), "toolchain": (dict,), "warnings": (int,),
    "key": (str,), "config_sha256": (str,), "vmlinux_sha256": (str,),
}


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def write(path: Path, meta: BuildMetadata) -> None:
    """Write metadata.json atomically."""
    write_atomic(path, json.dumps(meta, indent=2) + "\n")


def read(path: Path) -> BuildMetadata:
    """The metadata at ``path``, checked; InfraError (exit 2) if it is missing or corrupt."""
    try:
        data: Any = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InfraError(f"cannot read build metadata {path}: {exc}",
                         reason="bad-build-metadata") from exc
    if not isinstance(data, dict):
        raise InfraError(f"build metadata {path} is not a JSON object",
                         reason="bad-build-metadata")
    for name, types in _TYPES.items():
        if name in _REQUIRED and name not in data:
            raise InfraError(f"build metadata {path}: field {name!r} is missing",
                             reason="bad-build-metadata")
        if name in data and not isinstance(data[name], types):
            raise InfraError(f"build metadata {path}: field {name!r} has the wrong type "
                             f"({type(data[name]).__name__})", reason="bad-build-metadata")
    meta = cast(BuildMetadata, data)
    if not isinstance(meta.get("vmlinux_sha256"), str):
        vmlinux = path.parent / "vmlinux"
        try:
            meta["vmlinux_sha256"] = file_sha256(vmlinux)
        except OSError as exc:
            raise InfraError(f"cannot read {vmlinux}: {exc.strerror}",
                             reason="bad-build-metadata") from exc
        with contextlib.suppress(OSError):  # a read-only cache: computed again next time
            write(path, meta)
    return meta


def previous_object_count(results: Path) -> int | None:
    """The most build steps any earlier result of a slot took (for the progress line)."""
    counts = []
    for meta in results.glob(f"*/{FILE}"):
        try:
            counts.append(int(json.loads(meta.read_text()).get("objects_built", 0)))
        except (OSError, ValueError, TypeError, AttributeError):
            continue
    best = max(counts, default=0)
    return best or None
