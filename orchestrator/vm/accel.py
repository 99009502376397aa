"""Which accelerator really works here: KVM when a probe boot succeeds, TCG otherwise.

``/dev/kvm`` existing proves nothing: under nested virtualization a guest can hang in the
decompressor or QEMU can stop with "KVM internal error". The probe boots the given kernel
without an initramfs under KVM with a deadline; reaching the kernel's root-mount stage (or
its panic for lack of a root) proves KVM works. The answer is cached per host kernel,
QEMU version and CPU model, written atomically, for a week if KVM works and an hour if not;
a probe that only ran out of time (a loaded host) for ten minutes only, so a busy host
is probed again soon but a series or bisection does not pay a 20 s probe on every run.
The probe's QEMU dies with pgo-orch (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import InvalidInput
from orchestrator.paths import cache_root
from orchestrator.vm import qemu

#: console text that proves the kernel ran to the end of its boot
_PROOF = (b"VFS: Cannot open root device", b"Kernel panic", b"Run /init",
          b"Freeing unused kernel", b"Unable to mount root")


#: how long a cached answer holds: a working KVM for a week, a failing one for an hour (a
#: module loaded, a permission fixed or a host rebooted should not wait for a week)
POSITIVE_TTL = 7 * 24 * 3600.0
NEGATIVE_TTL = 3600.0
#: a probe that only ran out of time says little (the host may just be loaded): ask again soon
TIMEOUT_TTL = 600.0


@dataclass(frozen=True)
class AccelChoice:
    accel: str  # "kvm" or "tcg"
    why: str
    cached: bool = False


def _host_id() -> str:
    try:
        ver = subprocess.run([qemu.QEMU, "--version"], capture_output=True, text=True,
                             timeout=10, check=False).stdout.splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        ver = "no-qemu"
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line
                break
    except OSError:
        pass
    return hashlib.sha256(f"{platform.release()}|{ver}|{cpu}".encode()).hexdigest()[:16]


def kvm_device_usable() -> bool:
    return os.access("/dev/kvm", os.R_OK | os.W_OK)


def probe_kvm(kernel: Path, timeout: float = 20.0) -> tuple[bool, str, bool]:
    """Boot ``kernel`` under KVM without initramfs: (worked, why, worth caching).

    True if it reached the root-mount stage. A probe that merely ran out of time is not worth
    caching: on a loaded host (many guests at once) a working KVM can be that slow too."""
    with tempfile.TemporaryDirectory(prefix="pgo-kvm-probe-") as tmp:
        log = Path(tmp) / "console"
        argv = [qemu.QEMU, "-machine", "q35", "-accel", "kvm", "-cpu", "host", "-m", "256",
                "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
                "-serial", f"file:{log}", "-kernel", str(kernel),
                "-append", "console=ttyS0 panic=-1"]
        proc = qemu.spawn(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          start_new_session=True)
        end = time.monotonic() + timeout
        try:
            while time.monotonic() < end:
                data = log.read_bytes() if log.exists() else b""
                if any(p in data for p in _PROOF):
                    return True, "KVM probe boot reached the root-mount stage", True
                if proc.poll() is not None:
                    err = (proc.stderr.read() if proc.stderr else b"").decode(errors="replace")
                    if any(p in data for p in _PROOF):
                        return True, "KVM probe boot reached the root-mount stage", True
                    first = err.strip().splitlines()[:1] or ["QEMU exited"]
                    return False, f"KVM probe failed: {first[0]}", True
                time.sleep(0.1)
            return (False, f"KVM probe boot made no progress within {timeout:.0f}s (nested KVM, "
                    "or a loaded host)", False)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def choose(requested: str, kernel: Path, *, root: Path | None = None) -> AccelChoice:
    """Resolve ``--accel kvm|tcg|auto`` to kvm or tcg, probing (once per host) for auto."""
    if requested not in ("kvm", "tcg", "auto"):
        raise InvalidInput(f"--accel must be kvm, tcg or auto, got {requested!r}",
                           field="--accel")
    if requested == "tcg":
        return AccelChoice("tcg", "requested")
    if requested == "kvm":
        return AccelChoice("kvm", "requested")
    if not kvm_device_usable():
        return AccelChoice("tcg", "/dev/kvm is missing or not accessible")
    cache_file = (root or cache_root()) / "accel" / f"{_host_id()}.json"
    try:
        data = json.loads(cache_file.read_text())
        ttl = (POSITIVE_TTL if data["accel"] == "kvm"
               else NEGATIVE_TTL if data.get("conclusive", True) else TIMEOUT_TTL)
        if 0 <= time.time() - float(data["probed_at"]) < ttl:
            return AccelChoice(str(data["accel"]), str(data["why"]), cached=True)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    ok, why, cacheable = probe_kvm(kernel)
    choice = AccelChoice("kvm" if ok else "tcg", why)
    _write_atomic(cache_file, json.dumps({"accel": choice.accel, "why": why,
                                          "conclusive": cacheable,
                                          "probed_at": time.time()}))
    return choice


def _write_atomic(path: Path, text: str) -> None:
    """Readers see the old answer or the new one, never half of one; failure is not fatal."""
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
        tmp = None
    except OSError:
        pass  # the cache only saves a probe next time
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
