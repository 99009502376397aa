#!/usr/bin/env python3
"""PGO kernel vs plain kernel, side by side in one run (both builds must be cached or are
built first):

  boot   : boot-to-SSH-ready median over N boots, plain vs PGO-instrumented (ratio)
  reads  : profile reads per second in the guest, without and with concurrent load (ratio)
  build  : the two builds' recorded make durations and vmlinux sizes (from metadata.json)

Usage: bench/pgo_bench.py [-n RUNS] [--seconds S] [--accel tcg]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator.kernel import build as kbuild  # noqa: E402
from orchestrator.kernel import defaults  # noqa: E402
from orchestrator.kernel.default_tree import ensure_default_tree  # noqa: E402
from orchestrator.vm import guest as vmguest  # noqa: E402

READ_LOOP = ('end=$(( $(cut -d. -f1 /proc/uptime) + {s} )); n=0; '
             'while [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; do '
             'cat /sys/kernel/debug/pgo/vmlinux.profraw > /dev/null && n=$((n+1)); done; echo $n')
LOAD = "stress-ng --fork 1 --pipe 1 --open 1 --timeout 0 --quiet > /dev/null 2>&1 &"


def image(res: kbuild.BuildResult) -> vmguest.KernelImage:
    return res.image()


def boot_times(res: kbuild.BuildResult, runs: int, accel: str) -> list[float]:
    out = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp, \
                vmguest.boot(image(res), Path(tmp), vmguest.BootOptions(accel=accel)) as g:
            out.append(g.machine.timings.ssh_ready or 0.0)
    return out


def reads_per_second(res: kbuild.BuildResult, seconds: int, load: bool, accel: str) -> float:
    with tempfile.TemporaryDirectory() as tmp, \
            vmguest.boot(image(res), Path(tmp), vmguest.BootOptions(accel=accel)) as g:
        script = (LOAD if load else "") + READ_LOOP.format(s=seconds)
        r = g.ssh.run_script(script, timeout=seconds + 60)
        return int(r.text().split()[-1]) / seconds


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", "--runs", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--accel", default="tcg")
    args = ap.parse_args()
    pgo = kbuild.build(kbuild.BuildRequest(tree=defaults.default_tree(),
                                           fragments=defaults.default_fragments()))
    plain = kbuild.build(kbuild.BuildRequest(tree=ensure_default_tree(()),
                                             fragments=["base", "debug-atomic-sleep"]))
    t0 = time.monotonic()
    bp, bg = boot_times(plain, args.runs, args.accel), boot_times(pgo, args.runs, args.accel)
    mp, mg = statistics.median(bp), statistics.median(bg)
    print(f"boot to SSH (median of {args.runs}): plain {mp:.2f} s, PGO {mg:.2f} s, "
          f"ratio {mg / mp:.2f}")
    idle = reads_per_second(pgo, args.seconds, False, args.accel)
    busy = reads_per_second(pgo, args.seconds, True, args.accel)
    print(f"profile reads/s (1 reader, {args.seconds} s): idle {idle:.2f}, under load {busy:.2f}, "
          f"ratio {busy / idle:.2f}")
    for name, res in (("plain", plain), ("PGO", pgo)):
        meta = json.loads(res.metadata.read_text())
        print(f"{name:5} build make {meta['durations_s']['make']:.0f} s "
              f"({meta['objects_built']} steps, as recorded), vmlinux "
              f"{res.vmlinux.stat().st_size / 1e6:.1f} MB, bzImage "
              f"{res.bzimage.stat().st_size / 1e6:.2f} MB")
    print(f"(bench wall time {time.monotonic() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
