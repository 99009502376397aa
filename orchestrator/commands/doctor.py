"""``pgo-orch doctor``: check everything pgo-orch needs, with the command that fixes each."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from orchestrator import tools
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
    table = tools.table()
    out = [_tool(t.name, t.package, t.version_arg) for t in table.tools.values() if t.doctor]
    if Path("/bin/busybox").exists():
        static = b"interpreter" not in subprocess.run(["file", "-L", "/bin/busybox"],
                                                      capture_output=True, check=False).stdout \
            if shutil.which("file") else True
        out.append(Check("busybox static", static, "/bin/busybox",
                         "" if static else tools.install_hint("busybox")))
    for f in table.files.values():
        ok = f.path.exists()
        out.append(Check(f.name, ok, str(f.path), "" if ok else f"apt-get install -y {f.package}"))
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
