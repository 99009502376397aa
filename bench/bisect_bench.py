#!/usr/bin/env python3
"""Bisect benchmark: ``pgo-orch bisect`` against a plain ``git bisect run`` over the same
range with the same scenario, side by side: bisection steps, runs, builds (cache misses),
wall time, and whether each found the known culprit.

The plain bisection is what a user does without pgo-orch bisect: ``git bisect run`` over a
script that runs the scenario once on the commit under test (``pgo-orch run --rev``) and
maps its exit status like a run directory's ``reproducer.sh --bisect`` (0 good, 1 bad, 2/3
skip). git bisects in a scratch worktree started with
``--no-checkout`` (the script reads BISECT_HEAD), so nothing is checked out.

Both share the build cache, so the second one finds the first one's builds: by default the
plain bisection runs first (``--order`` swaps), and the builds column says who paid.

Usage: bench/bisect_bench.py [--series pgo-bisect|pgo-bisect-flaky] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator.git import git, git_try  # noqa: E402
from orchestrator.kernel import defaults  # noqa: E402

PGO = [sys.executable, "-m", "orchestrator.cli"]
ROOT = Path(__file__).resolve().parent.parent


def pgo_bisect(tree: Path, good: str, bad: str, scenario: str, runs: int, out: Path,
               extra: list[str]) -> dict[str, Any]:
    t0 = time.monotonic()
    p = subprocess.run([*PGO, "bisect", scenario, "--tree", str(tree), "--good", good,
                        "--bad", bad, "--runs", str(runs), "--out", str(out), "--json",
                        *extra], capture_output=True, text=True, check=False, cwd=ROOT)
    wall = time.monotonic() - t0
    if not p.stdout.strip():
        raise SystemExit(f"pgo-orch bisect failed (exit {p.returncode}): {p.stderr[-2000:]}")
    d = json.loads(p.stdout)
    return {"culprit": (d["culprit"] or {}).get("commit"), "status": d["status"],
            "steps": d["bisect_steps"], "runs": d["runs"], "builds": d["builds"],
            "wall_s": wall, "confidence": d["confidence"]["overall"]}


STEP = """#!/bin/sh
# one step of a plain `git bisect run`: the scenario on BISECT_HEAD, mapped like the run
# directory's `reproducer.sh --bisect` (0 pass, 1 fail, 125 error/invalid, 128 otherwise)
commit=$(git rev-parse BISECT_HEAD)
n=$(ls {runs} | grep -c '^step-[0-9]*$')
{pgo} run {scenario} --tree {tree} --rev "$commit" --out {runs}/step-$n --json \\
    > {runs}/step-$n.json 2>>{runs}/stderr.log
code=$?
case $code in 0|1) ;; 2|3) code=125 ;; *) code=128 ;; esac
echo "$commit $code" >> {runs}/codes.txt
exit $code
"""


def plain_bisect(tree: Path, good: str, bad: str, scenario: str, work: Path) -> dict[str, Any]:
    wt = work / "wt"
    runs = work / "runs"
    runs.mkdir(parents=True)
    git(tree, "worktree", "add", "-f", "--no-checkout", "--detach", str(wt), bad)
    script = work / "step.sh"
    q = shlex.quote
    script.write_text(STEP.format(runs=q(str(runs)), pgo=" ".join(q(a) for a in PGO),
                                  scenario=q(scenario), tree=q(str(tree))))
    script.chmod(0o755)
    t0 = time.monotonic()
    try:
        git(wt, "bisect", "start", "--no-checkout", bad, good)
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        p = subprocess.run(["git", "-C", str(wt), "bisect", "run", str(script)],
                           capture_output=True, text=True, check=False, env=env)
        wall = time.monotonic() - t0
    finally:
        git_try(tree, "worktree", "remove", "--force", str(wt))
    culprit = None
    for line in p.stdout.splitlines():
        if line.endswith("is the first bad commit"):
            culprit = line.split()[0]
    builds = 0
    for res in runs.glob("step-*/result.json"):
        kernel = json.loads(res.read_text()).get("kernel") or {}
        builds += kernel.get("cached") is False
    steps = len((runs / "codes.txt").read_text().splitlines()) \
        if (runs / "codes.txt").exists() else 0
    return {"culprit": culprit, "status": "found" if culprit else "failed", "steps": steps,
            "runs": steps, "builds": builds, "wall_s": wall, "confidence": None}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", default="pgo-bisect", choices=defaults.BISECT_SERIES)
    ap.add_argument("--scenario", default="prf-open-once")
    ap.add_argument("--runs", type=int, default=2, help="pgo-orch bisect --runs")
    ap.add_argument("--good", help="default: pgo-clang/0007 (the PGO tip)")
    ap.add_argument("--bad", help="default: <series>/0016")
    ap.add_argument("--order", choices=("plain-first", "pgo-first"), default="plain-first")
    ap.add_argument("--extra", default="", help="more pgo-orch bisect arguments")
    ap.add_argument("--keep", type=Path, help="keep both bisections' files in this directory")
    args = ap.parse_args()
    tree = defaults.default_tree()
    good = args.good or "pgo-clang/0007"
    bad = args.bad or f"{args.series}/0016"
    want = git(tree, "rev-parse", f"{args.series}/0009").strip()
    n = int(git(tree, "rev-list", "--count", f"{good}..{bad}").strip())
    work = args.keep or Path(tempfile.mkdtemp(prefix="bisect-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    rows: dict[str, dict[str, Any]] = {}
    try:
        order = ["plain", "pgo"] if args.order == "plain-first" else ["pgo", "plain"]
        for mode in order:
            print(f"[bench] {mode} ...", file=sys.stderr, flush=True)
            if mode == "pgo":
                rows[mode] = pgo_bisect(tree, good, bad, args.scenario, args.runs,
                                        work / "pgo", shlex.split(args.extra))
            else:
                rows[mode] = plain_bisect(tree, good, bad, args.scenario, work / "plain")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(f"bisect {good}..{bad} ({n} commits), scenario {args.scenario}, known culprit "
          f"{want[:12]}, order {args.order}")
    print(f"{'':22}{'steps':>6}{'runs':>6}{'builds':>8}{'wall s':>9}  culprit       right  "
          "confidence")
    names = {"plain": "git bisect run (plain)", "pgo": "pgo-orch bisect"}
    for mode in ("plain", "pgo"):
        r = rows[mode]
        conf = f"{r['confidence']:.3f}" if r["confidence"] is not None else "-"
        print(f"{names[mode]:22}{r['steps']:>6}{r['runs']:>6}{r['builds']:>8}"
              f"{r['wall_s']:>9.0f}  {(r['culprit'] or '-')[:12]:13} "
              f"{'yes' if r['culprit'] == want else 'NO':5}  {conf}")
    pl, pg = rows["plain"], rows["pgo"]
    if pl["wall_s"] and pl["runs"]:
        print(f"ratio pgo/plain: wall {pg['wall_s'] / pl['wall_s']:.2f}, runs "
              f"{pg['runs'] / pl['runs']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
