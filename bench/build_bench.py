#!/usr/bin/env python3
"""Build benchmark, side by side in one run on the same config:

  plain  : make LLVM=1 (cold, fresh O= dir) with the config pgo-orch generated
  cold   : pgo-orch build with an empty cache
  warm   : pgo-orch build again (cache hit)
  touch  : pgo-orch build after touching one .c file  vs  make's own incremental rebuild

Prints seconds and the ratios the build issue targets (cold <= 1.05x plain, warm < 1 s,
touch <= 1.1x make incremental). A cold run is two full kernel builds: expect an hour on
2 cores.  Usage: bench/build_bench.py [--tree T] [-f FRAG ...] [-j N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator.kernel import build as kbuild  # noqa: E402
from orchestrator.kernel import defaults  # noqa: E402

TOUCH = "kernel/sys.c"


def timed(fn: object) -> float:
    t0 = time.monotonic()
    fn()  # type: ignore[operator]
    return time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tree", type=Path)
    ap.add_argument("-f", "--fragment", action="append", dest="fragments")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args()
    tree = args.tree or defaults.default_tree()
    frags = args.fragments or defaults.default_fragments()
    work = Path(tempfile.mkdtemp(prefix="pgo-bench-"))
    os.environ["PGO_ORCH_CACHE"] = str(work / "cache")
    req = kbuild.BuildRequest(tree=tree, fragments=frags, jobs=args.jobs)
    env = {**os.environ, **kbuild.REPRO_ENV}
    make = ["make", "-s", "-C", str(tree), f"LLVM={req.llvm}", f"ARCH={kbuild.ARCH}",
            f"-j{args.jobs}", "vmlinux", "bzImage"]
    results: dict[str, float] = {}
    res = None

    def cold() -> None:
        nonlocal res
        res = kbuild.build(req)

    results["pgo-orch cold"] = timed(cold)
    assert res is not None
    plain_out = work / "plain"
    plain_out.mkdir()
    shutil.copyfile(res.config, plain_out / ".config")
    results["plain make cold"] = timed(lambda: subprocess.run(
        [*make, f"O={plain_out}"], env=env, check=True, stdout=subprocess.DEVNULL))
    results["pgo-orch warm"] = timed(lambda: kbuild.build(req))
    src = tree / TOUCH
    original = src.read_bytes()
    try:
        src.write_bytes(original + b"\n/* pgo-orch bench */\n")
        results["pgo-orch one-file"] = timed(lambda: kbuild.build(req))
        results["plain make one-file"] = timed(lambda: subprocess.run(
            [*make, f"O={plain_out}"], env=env, check=True, stdout=subprocess.DEVNULL))
    finally:
        src.write_bytes(original)
    for k, v in results.items():
        print(f"{k:22} {v:9.2f} s")
    cold_ratio = results["pgo-orch cold"] / results["plain make cold"]
    touch_ratio = results["pgo-orch one-file"] / results["plain make one-file"]
    print(f"cold ratio (pgo-orch / make):          {cold_ratio:.3f}  (target <= 1.05)")
    print(f"warm (cache hit):                      {results['pgo-orch warm']:.3f} s (target < 1)")
    print(f"one-file ratio (pgo-orch / make incr): {touch_ratio:.3f}  (target <= 1.10)")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
