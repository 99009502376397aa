"""``pgo-orch doctor``: check everything pgo-orch needs, with the command that fixes each."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from orchestrator.kernel.default_tree import DEFAULT_TARBALL
from orchestrator.paths import cache_root
from orchestrator.vm import accel


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _version(argv: list[str]) -> str | None:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=15, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0] if text else ""


def _tool(name: str, package: str, version_arg: str | None = "--version") -> Check:
    path = shutil.which(name)
    if path is None:
        return Check(name, False, "not found", f"apt-get install -y {package}")
    ver = _version([path, version_arg]) if version_arg else None
    return Check(name, True, f"{path}" + (f" ({ver})" if ver else ""))


def checks() -> list[Check]:
    out = [
        _tool("clang", "clang"),
        _tool("ld.lld", "lld"),
        _tool("llvm-ar", "llvm"),
        _tool("llvm-symbolizer", "llvm"),
        _tool("llvm-profdata", "llvm", None),
        _tool("make", "make"),
        _tool("flex", "flex"),
        _tool("bison", "bison"),
        _tool("bc", "bc", None),
        _tool("git", "git"),
        _tool("qemu-system-x86_64", "qemu-system-x86"),
        _tool("busybox", "busybox-static", None),
        _tool("dropbear", "dropbear-bin", None),
        _tool("stress-ng", "stress-ng"),
    ]
    if Path("/bin/busybox").exists():
        static = b"interpreter" not in subprocess.run(["file", "-L", "/bin/busybox"],
                                                      capture_output=True, check=False).stdout \
            if shutil.which("file") else True
        out.append(Check("busybox static", static, "/bin/busybox",
                         "" if static else "apt-get install -y busybox-static"))
    out.append(Check("linux-source-6.1", DEFAULT_TARBALL.exists(), str(DEFAULT_TARBALL),
                     "" if DEFAULT_TARBALL.exists() else "apt-get install -y linux-source-6.1"))
    for hdr, pkg in (("/usr/include/libelf.h", "libelf-dev"),
                     ("/usr/include/openssl/ssl.h", "libssl-dev")):
        ok = Path(hdr).exists()
        out.append(Check(pkg, ok, hdr, "" if ok else f"apt-get install -y {pkg}"))
    if accel.kvm_device_usable():
        kvm = Check("kvm", True, "/dev/kvm accessible; whether it really boots is probed once "
                    "per host on the first --accel auto boot")
    else:
        kvm = Check("kvm", True, "/dev/kvm missing or not accessible: TCG will be used")
    out.append(kvm)
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    free_gb = shutil.disk_usage(root).free / 2**30
    out.append(Check("cache disk", free_gb >= 10, f"{root}: {free_gb:.1f} GiB free",
                     "" if free_gb >= 10 else "free space or set PGO_ORCH_CACHE elsewhere "
                     "(a kernel build needs about 5 GiB)"))
    return out


def register(sub: Any) -> None:
    p = sub.add_parser("doctor", help="check that every tool pgo-orch needs is here")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    results = checks()
    if args.json:
        print(json.dumps({"ok": all(c.ok for c in results),
                          "checks": [asdict(c) for c in results]}))
    else:
        for c in results:
            print(f"{'ok ' if c.ok else 'MISSING'} {c.name:18} {c.detail}"
                  + (f"\n        fix: {c.fix}" if c.fix else ""))
    return 0 if all(c.ok for c in results) else 2
