#!/usr/bin/env python3
"""Warm time-to-verdict of scenarios (kernel cached), split by phase, and the overhead beyond
each scenario's own reader duration (target <= 15 s under TCG).
Usage: bench/run_bench.py [SCENARIO ...] [--accel tcg]   (default: smoke prf-open-race)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator.scenario import loader  # noqa: E402
from orchestrator.workflows.run import RunOptions, run_scenario  # noqa: E402

PHASES = ("build", "boot", "setup", "readers", "settle", "teardown")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("scenarios", nargs="*", default=["smoke", "prf-open-race"])
    ap.add_argument("--accel", default="tcg")
    args = ap.parse_args()
    print(f"{'scenario':16} {'verdict':8} " + " ".join(f"{p:>9}" for p in PHASES)
          + f" {'total':>8} {'own':>6} {'overhead':>9}")
    for name in args.scenarios:
        sc = loader.load(name)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.monotonic()
            r = run_scenario(sc, Path(tmp) / "run", RunOptions(accel=args.accel))
            total = time.monotonic() - t0
        own = sc.run_seconds
        cells = " ".join(f"{r.timings.get(p, 0.0):9.2f}" for p in PHASES)
        print(f"{name:16} {r.verdict:8} {cells} {total:8.2f} {own:6.0f} {total - own:9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
