#!/usr/bin/env python3
"""Throughput of many short runs: serial vs the local pool (--slots S) vs Dask LocalCluster(S),
side by side in one run, on the cached default kernel.
Usage: flock /tmp/pgo-heavy.lock bench/pool_bench.py [--runs 8] [--slots 2] [--cpus 1]
Prints wall time, time per run, throughput relative to serial, the peak CPU pressure seen
and the verdicts. Under TCG every vCPU is a busy host thread: on a 2-core host two 1-vCPU
guests is all the budget allows, so expect well under 2x.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator.job import Job, run_serial  # noqa: E402
from orchestrator.paths import SCENARIOS_DIR  # noqa: E402
from orchestrator.pool.dask_engine import DaskRunner  # noqa: E402
from orchestrator.pool.host import this_host  # noqa: E402
from orchestrator.pool.local import LocalPool  # noqa: E402
from orchestrator.pool.prebuild import build_kernel  # noqa: E402
from orchestrator.pool.progress import Progress  # noqa: E402


def scenario_text(n: int, cpus: int) -> str:
    base = (SCENARIOS_DIR / "proc-version.toml").read_text()
    text = base.replace('name = "proc-version"', f'name = "bench-{n}"')
    return text.replace("iterations = 5", "iterations = 2") + \
        f"\n[machine]\ncpus = {cpus}\nmemory_mb = 512\naccel = \"tcg\"\n"


def jobs_for(root: Path, mode: str, runs: int, cpus: int) -> list[Job]:
    return [Job(scenario_text=scenario_text(i, cpus), out_root=str(root / mode),
                scenario_origin=f"bench-{i}", attempt_tag=mode) for i in range(runs)]


def measure(mode: str, runner: Any, jobs: list[Job]) -> dict[str, Any]:
    t0 = time.monotonic()
    res = runner(jobs)
    wall = time.monotonic() - t0
    verdicts = [r["verdict"] for r in res]
    psi = [r.get("pool", {}).get("cpu_pressure_max") for r in res]
    psi_max = max((p for p in psi if isinstance(p, (int, float))), default=None)
    boots = [r.get("timings_s", {}).get("boot") for r in res]
    boot_avg = sum(b for b in boots if b) / max(1, len([b for b in boots if b]))
    return {"mode": mode, "wall": wall, "per_run": wall / len(jobs), "verdicts": verdicts,
            "psi": psi_max, "boot": boot_avg}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("--slots", type=int, default=2)
    ap.add_argument("--cpus", type=int, default=1, help="vCPUs per guest")
    ap.add_argument("--modes", default="serial,local,dask")
    args = ap.parse_args()
    host = this_host()
    print(f"host: {host.cpus} CPUs, {host.memory_mb} MiB; {args.runs} runs of a short "
          f"proc-version copy, {args.cpus} vCPU(s) each, TCG", flush=True)
    with tempfile.TemporaryDirectory(prefix="pool-bench-") as tmp:
        root = Path(tmp)
        print("kernel:", build_kernel(jobs_for(root, "x", 1, args.cpus)[0]).get("key"),
              flush=True)
        quiet = Progress([], stream=open("/dev/null", "w"), live=False)  # noqa: SIM115
        rows = []
        for mode in args.modes.split(","):
            jobs = jobs_for(root, mode, args.runs, args.cpus)
            if mode == "serial":
                runner: Any = run_serial
            elif mode == "local":
                runner = LocalPool(args.slots, build_one=None, progress=quiet)
            else:
                runner = DaskRunner(slots=args.slots, progress=quiet)
            rows.append(measure(mode, runner, jobs))
            r = rows[-1]
            print(f"  {mode}: {r['wall']:.1f}s", flush=True)
    serial = next((r for r in rows if r["mode"] == "serial"), rows[0])
    print(f"\n{'mode':21} {'wall s':>8} {'s/run':>7} {'runs/min':>9} {'vs serial':>10} "
          f"{'boot s':>7} {'PSI max':>8}  verdicts")
    for r in rows:
        label = {"serial": "serial", "local": f"local --slots {args.slots}",
                 "dask": f"dask LocalCluster({args.slots})"}[r["mode"]]
        psi = "-" if r["psi"] is None else f"{r['psi']:.0f}%"
        ok = sum(v == "pass" for v in r["verdicts"])
        print(f"{label:21} {r['wall']:8.1f} {r['per_run']:7.1f} {60 / r['per_run']:9.2f} "
              f"{serial['wall'] / r['wall']:9.2f}x {r['boot']:7.1f} {psi:>8}  "
              f"{ok}/{len(r['verdicts'])} pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
