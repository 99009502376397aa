#!/usr/bin/env python3
"""Boot benchmark: boot-to-SSH-ready and boot-to-first-command over several runs, PVH vs
bzImage, and virtme-ng (`vng`) running the same kernel and command when it is installed.
Prints medians and ratios.  Usage: bench/boot_bench.py [-n RUNS] [--accel tcg]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator.kernel import build as kbuild  # noqa: E402
from orchestrator.kernel import defaults  # noqa: E402
from orchestrator.vm import guest as vmguest  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", "--runs", type=int, default=5)
    ap.add_argument("--accel", default="tcg")
    args = ap.parse_args()
    res = kbuild.build(defaults.resolve_request())
    image = res.image()
    rows: dict[str, dict[str, list[float]]] = {}
    for method in ("pvh", "bzimage"):
        ssh, cmd = [], []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.monotonic()
                g = vmguest.boot(image, Path(tmp), vmguest.BootOptions(
                    accel=args.accel, boot_method=method))
                with g:
                    ssh.append(g.machine.timings.ssh_ready or 0.0)
                    g.run(["uname", "-r"], timeout=30)
                    cmd.append(time.monotonic() - t0)
        rows[method] = {"ssh_ready": ssh, "first_command": cmd}
    vng = shutil.which("vng")
    vng_error = "virtme-ng not installed (pip install virtme-ng) - no comparison"
    if vng:
        times = []
        extra = ["--disable-kvm", "--force-9p"] if args.accel == "tcg" else []
        for _ in range(args.runs):
            t0 = time.monotonic()
            p = subprocess.run([vng, *extra, "--run", str(res.bzimage), "--", "uname", "-r"],
                               capture_output=True, text=True, timeout=300, check=False)
            if p.returncode != 0 or "6.1" not in p.stdout:
                tail = (p.stdout + p.stderr).strip().splitlines()[-1:] or ["no output"]
                vng_error = f"virtme-ng could not run this kernel (exit {p.returncode}): {tail[0]}"
                times = []
                break
            times.append(time.monotonic() - t0)
        if times:
            rows["virtme-ng"] = {"first_command": times}
    print(f"{'setup':12} {'ssh ready (median)':>20} {'first command (median)':>24}")
    for name, r in rows.items():
        s = f"{statistics.median(r['ssh_ready']):.2f} s" if "ssh_ready" in r else "-"
        print(f"{name:12} {s:>20} {statistics.median(r['first_command']):>22.2f} s")
    pvh, bz = (statistics.median(rows[m]["first_command"]) for m in ("pvh", "bzimage"))
    print(f"ratio bzImage / PVH (first command): {bz / pvh:.2f}")
    if "virtme-ng" in rows:
        v = statistics.median(rows["virtme-ng"]["first_command"])
        print(f"ratio pgo-orch PVH / virtme-ng (first command): {pvh / v:.2f}")
    else:
        print(vng_error)
    return 0


if __name__ == "__main__":
    sys.exit(main())
