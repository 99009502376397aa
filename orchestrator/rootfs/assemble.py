"""Build the guest initramfs: a cached base archive plus a small per-run overlay.

The base (busybox, dropbear, stress-ng, their libraries, /init) depends only on host files and
pgo-orch itself, so it is built once and cached under ``cache_root()/rootfs/<hash>.cpio.gz``.
The overlay carries what changes every run (authorized key, hostname, init settings). The
kernel unpacks concatenated gzip'd cpio archives in order, so ``combine_initrd`` just joins the
two files into the one ``-initrd`` QEMU takes.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import shlex
import stat
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import jinja2

from orchestrator import __version__
from orchestrator.errors import InfraError, InvalidInput, ToolMissing
from orchestrator.paths import ROOTFS_DIR, cache_root
from orchestrator.rootfs.cpio import gzip_bytes, write_archive
from orchestrator.rootfs.elfdeps import (
    LD_SO_CACHE,
    Closure,
    default_dirs,
    resolve_closure,
)
from orchestrator.rootfs.layout import Layout, LayoutError
from orchestrator.rundir import INITRD_REF, OVERLAY_CPIO

#: bump when the archive layout changes in a way the source digest would not catch
LAYOUT_VERSION = 1

USERSPACE_UP_MARKER = "pgo-orch: userspace up"
SSHD_READY_MARKER = "pgo-orch: sshd ready"
INIT_FAIL_FLAG = "pgo_orch.init_fail=1"
NO_SSHD_FLAG = "pgo_orch.no_sshd=1"

#: QEMU user networking's fixed addresses
GUEST_IP = "10.0.2.15"
GATEWAY = "10.0.2.2"
DNS = "10.0.2.3"
GUEST_SSH_PORT = 22

INIT_TEMPLATE = "init.j2"

OVERLAY_NAME = OVERLAY_CPIO
INITRD_NAME = "initrd.cpio.gz"
#: in the run directory: which cached base the run's initrd was joined from
INITRD_REF_NAME = INITRD_REF
#: where the guest's dropbear finds the host key made on the host (pinned by the client)
HOST_KEY_PATH = "/etc/dropbear/dropbear_ed25519_host_key"


@dataclass(frozen=True)
class Program:
    """A host executable to put in the guest at ``dest``; ``package`` names the fix if missing."""

    source: Path
    dest: str
    package: str | None = None


DEFAULT_PROGRAMS: tuple[Program, ...] = (
    Program(Path("/bin/busybox"), "/bin/busybox", "busybox-static"),
    Program(Path("/usr/sbin/dropbear"), "/usr/sbin/dropbear", "dropbear-bin"),
    Program(Path("/usr/bin/stress-ng"), "/usr/bin/stress-ng", "stress-ng"),
)

_BASE_DIRS: tuple[tuple[str, int], ...] = (
    ("/bin", 0o755),
    ("/sbin", 0o755),
    ("/usr/bin", 0o755),
    ("/usr/sbin", 0o755),
    ("/etc", 0o755),
    ("/etc/dropbear", 0o700),
    ("/etc/pgo-orch", 0o755),
    ("/dev", 0o755),
    ("/proc", 0o555),
    ("/sys", 0o555),
    ("/tmp", 0o1777),
    ("/run", 0o755),
    ("/root", 0o700),
    ("/var", 0o755),
    ("/var/log", 0o755),
    ("/mnt", 0o755),
    ("/home", 0o755),
)

#: the nodes the kernel needs before devtmpfs is mounted (console for init's stdio)
_DEV_NODES: tuple[tuple[str, int, int, int], ...] = (
    ("/dev/console", 5, 1, 0o600),
    ("/dev/null", 1, 3, 0o666),
    ("/dev/ttyS0", 4, 64, 0o660),
)


# --- sources ----------------------------------------------------------------------------------


@functools.cache
def _tool_digest() -> str:
    """pgo-orch's version plus the source of the modules that decide the archive's bytes."""
    h = hashlib.sha256(f"pgo-orch {__version__} layout {LAYOUT_VERSION}".encode())
    here = Path(__file__).parent
    for name in ("assemble.py", "cpio.py", "elfdeps.py", "layout.py"):
        h.update(name.encode() + b"\0" + (here / name).read_bytes())
    return h.hexdigest()


def _template_dir() -> Path:
    return ROOTFS_DIR


def render_init(**overrides: Any) -> str:
    """The /init script; ``overrides`` replace template variables (tests use them)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_template_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    context: dict[str, Any] = {
        "marker": "pgo-orch:",
        "default_hostname": "pgo-guest",
        "guest_ip": GUEST_IP,
        "prefix_len": 24,
        "gateway": GATEWAY,
        "dns": DNS,
        "ssh_port": GUEST_SSH_PORT,
        "dropbear": "/usr/sbin/dropbear",
        "host_key": HOST_KEY_PATH,
        "iface_wait_tenths": 100,
        "sshd_wait_tenths": 300,
    }
    context.update(overrides)
    try:
        return env.get_template(INIT_TEMPLATE).render(**context)
    except jinja2.TemplateError as e:
        raise InfraError(
            f"cannot render {_template_dir() / INIT_TEMPLATE}: {e}", reason="template-error"
        ) from e


def _normalize_programs(programs: Sequence[Program | Path | str] | None) -> list[Program]:
    if programs is None:
        return list(DEFAULT_PROGRAMS)
    result = []
    for p in programs:
        if isinstance(p, Program):
            result.append(p)
        else:
            result.append(Program(Path(p), str(p)))
    return result


def _check_programs(programs: Sequence[Program]) -> None:
    for p in programs:
        if not p.source.is_file():
            if p.package:
                raise ToolMissing(str(p.source), f"apt-get install {p.package}")
            raise InfraError(f"program {p.source} does not exist", reason="program-missing")


# --- the base archive -------------------------------------------------------------------------


def _add_host_symlink_chain(layout: Layout, links: Sequence[tuple[PurePosixPath, str]]) -> None:
    for link, target in links:
        existing = layout.get(str(link))
        if existing is not None and existing.kind == "symlink":
            continue
        layout.add_symlink(str(link), target)


def base_layout(programs: Sequence[Program], closure: Closure, init_script: str) -> Layout:
    """The base tree: directories, device nodes, /init, programs and their libraries."""
    layout = Layout()
    for path, mode in _BASE_DIRS:
        layout.mkdir(path, mode)
    layout.add_symlink("/var/run", "../run")
    for path, major, minor, mode in _DEV_NODES:
        layout.add_chardev(path, major, minor, mode)
    layout.add_file("/init", init_script.encode(), 0o755)

    for prog in programs:
        layout.add_file(prog.dest, prog.source.read_bytes(), _exec_mode(prog.source))

    for lib in closure.libraries:
        try:
            _add_host_symlink_chain(layout, lib.links)
            real_name = "/" + str(lib.real.resolve().relative_to("/"))
            if layout.get(real_name) is None:
                layout.add_file(real_name, lib.real.read_bytes(), _exec_mode(lib.real))
        except LayoutError as e:
            raise InfraError(
                f"cannot place {lib.path} (needed by {lib.needed_by}) in the initramfs: {e}",
                reason="rootfs-layout",
            ) from e
        # Found through the host's ld.so.cache in a directory the guest's loader (which has no
        # cache) does not search: give it a name in the first default directory too.
        if lib.via == "cache":
            dirs = default_dirs(lib.machine, lib.elf_class)
            if str(lib.path.parent) not in dirs and dirs:
                alias = f"{dirs[0]}/{lib.name}"
                if layout.get(alias) is None:
                    layout.add_symlink(alias, str(lib.path))
    return layout


def _exec_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode) & 0o777  # drop setuid/setgid/sticky


def _stat_key(path: Path, *, follow: bool) -> list[Any]:
    st = path.stat() if follow else path.lstat()
    return [str(path), st.st_size, st.st_mtime_ns, "f" if follow else "l"]


def _fast_key(programs: Sequence[Program], template_bytes: bytes) -> str:
    h = hashlib.sha256(_tool_digest().encode())
    h.update(hashlib.sha256(template_bytes).digest())
    for p in programs:
        st = p.source.stat()
        h.update(json.dumps([str(p.source), p.dest, st.st_size, st.st_mtime_ns]).encode())
    return h.hexdigest()[:32]


def _index_hit(index_path: Path, cache_dir: Path) -> Path | None:
    try:
        index = json.loads(index_path.read_text())
        for path, size, mtime_ns, kind in index["inputs"]:
            st = os.stat(path) if kind == "f" else os.lstat(path)
            if st.st_size != size or st.st_mtime_ns != mtime_ns:
                return None
        archive = cache_dir / index["archive"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return archive if archive.is_file() else None


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def build_base_initramfs(
    *,
    programs: Sequence[Program | Path | str] | None = None,
    cache_dir: Path | None = None,
) -> Path:
    """The cached base initramfs (gzip'd newc cpio) for ``programs`` (default: busybox,
    dropbear, stress-ng). A repeat call with unchanged inputs only stats files."""
    progs = _normalize_programs(programs)
    _check_programs(progs)
    cache_dir = cache_dir or cache_root() / "rootfs"
    template_path = _template_dir() / INIT_TEMPLATE
    try:
        template_bytes = template_path.read_bytes()
    except OSError as e:
        raise InfraError(f"cannot read {template_path}: {e}", reason="template-missing") from e

    index_path = cache_dir / "index" / f"{_fast_key(progs, template_bytes)}.json"
    hit = _index_hit(index_path, cache_dir)
    if hit is not None:
        return hit

    closure = resolve_closure([p.source for p in progs])
    layout = base_layout(progs, closure, render_init())
    raw = write_archive(layout.entries())
    content_hash = hashlib.sha256(_tool_digest().encode() + raw).hexdigest()[:32]
    archive = cache_dir / f"{content_hash}.cpio.gz"
    if not archive.is_file():
        try:
            _atomic_write(archive, gzip_bytes(raw))
        except OSError as e:
            raise InfraError(f"cannot write {archive}: {e}", reason="cache-write") from e

    inputs = [_stat_key(p.source, follow=True) for p in progs]
    for lib in closure.libraries:
        inputs.append(_stat_key(lib.real, follow=True))
        inputs += [_stat_key(Path(str(link)), follow=False) for link, _ in lib.links]
    if LD_SO_CACHE.exists():
        inputs.append(_stat_key(LD_SO_CACHE, follow=True))
    index = {
        "archive": archive.name,
        "content_sha256": content_hash,
        "uncompressed_size": len(raw),
        "inputs": inputs,
    }
    with contextlib.suppress(OSError):  # the index is an optimisation
        _atomic_write(index_path, json.dumps(index, indent=1).encode())
    return archive


# --- the per-run overlay ----------------------------------------------------------------------

_HOSTNAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEY_LINE_RE = re.compile(r"^(ssh-|ecdsa-|sk-)[A-Za-z0-9@.-]+ [A-Za-z0-9+/=]+( [^\r\n]*)?$")


def render_env_file(init_env: Mapping[str, str]) -> str:
    """``export KEY='value'`` lines the init sources; values are shell-quoted."""
    lines = []
    for key in sorted(init_env):
        if not _ENV_KEY_RE.match(key):
            raise InvalidInput(f"not a valid variable name: {key!r}", field="init_env")
        value = init_env[key]
        if "\0" in value:
            raise InvalidInput(f"NUL byte in value of {key}", field="init_env")
        lines.append(f"export {key}={shlex.quote(value)}\n")
    return "".join(lines)


def overlay_layout(*, authorized_key: str, hostname: str, init_env: Mapping[str, str],
                   host_key: bytes | None = None) -> Layout:
    key = authorized_key.strip()
    if not _KEY_LINE_RE.match(key):
        raise InvalidInput(
            "authorized_key must be one OpenSSH public key line", field="authorized_key"
        )
    if not _HOSTNAME_RE.match(hostname):
        raise InvalidInput(f"not a valid hostname: {hostname!r}", field="hostname")
    layout = Layout()
    layout.mkdir("/etc", 0o755)
    layout.mkdir("/etc/pgo-orch", 0o755)
    layout.add_file("/etc/pgo-orch/authorized_keys", (key + "\n").encode(), 0o600)
    layout.add_file("/etc/pgo-orch/env", render_env_file(init_env).encode(), 0o644)
    layout.add_file("/etc/hostname", (hostname + "\n").encode(), 0o644)
    if host_key is not None:
        layout.mkdir("/etc/dropbear", 0o700)
        layout.add_file(HOST_KEY_PATH, host_key, 0o600)
    return layout


def build_run_overlay(
    run_dir: Path, *, authorized_key: str, hostname: str, init_env: Mapping[str, str],
    host_key: bytes | None = None,
) -> Path:
    """Write ``run_dir/overlay.cpio.gz``: the run's authorized key, hostname, init settings
    and, when given, the guest's SSH host key (dropbear format; the client pins it). Without
    one, dropbear -R makes a fresh key in the guest on first connection."""
    layout = overlay_layout(authorized_key=authorized_key, hostname=hostname, init_env=init_env,
                            host_key=host_key)
    path = run_dir / OVERLAY_NAME
    try:
        _atomic_write(path, gzip_bytes(write_archive(layout.entries())))
    except OSError as e:
        raise InfraError(f"cannot write {path}: {e}", reason="overlay-write") from e
    return path


def combine_initrd(parts: Sequence[Path], dest: Path) -> Path:
    """Concatenate gzip'd cpio archives into one initrd file; later parts overlay earlier ones.

    Written to a temporary name and renamed: on any error neither it nor ``dest`` is left."""
    tmp = dest.with_name(f".{dest.name}.tmp")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
        os.replace(tmp, dest)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise InfraError(f"cannot write initrd {dest}: {e}", reason="initrd-write") from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


def build_run_initrd(
    run_dir: Path,
    *,
    authorized_key: str,
    hostname: str = "pgo-guest",
    init_env: Mapping[str, str] | None = None,
    programs: Sequence[Program | Path | str] | None = None,
    host_key: bytes | None = None,
    dest: Path | None = None,
) -> Path:
    """Base (cached) + run overlay, joined into ``dest`` for QEMU's -initrd.

    ``dest`` defaults to ``run_dir/initrd.cpio.gz``; a guest puts it in its scratch directory
    instead (removed at teardown), and the run directory keeps only the small overlay and
    ``initrd.json``, which names the cached base it was joined with."""
    base = build_base_initramfs(programs=programs)
    overlay = build_run_overlay(
        run_dir, authorized_key=authorized_key, hostname=hostname, init_env=init_env or {},
        host_key=host_key,
    )
    ref = {"base": str(base), "base_size": base.stat().st_size, "overlay": OVERLAY_NAME,
           "joined": "base + overlay, in this order"}
    try:
        _atomic_write(run_dir / INITRD_REF_NAME, (json.dumps(ref, indent=1) + "\n").encode())
    except OSError as e:
        raise InfraError(f"cannot write {run_dir / INITRD_REF_NAME}: {e}",
                         reason="overlay-write") from e
    return combine_initrd([base, overlay], dest or run_dir / INITRD_NAME)
