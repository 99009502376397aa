#!/usr/bin/env python3
"""Series benchmark, side by side in one run on the same three patches:

  series : pgo-orch series (apply with git am, incremental build of every prefix in the
           shared scratch worktree, one scenario run per prefix, classification, reports)
  plain  : per patch, what a developer does by hand: plain incremental ``make`` of the patch
           in the same worktree and out directory (from the previous patch's state), plus
           one ``pgo-orch run`` of the scenario on that kernel (a cache hit: run time only)

The three patches are fresh (a nonce in a comment of kernel/pgo/fs.c on the PGO tip), so
the series' builds are real incremental builds, not cache hits. Per-patch cost of the
series = (series wall time - base build lookup - base run) / 3; the plain side's cost of a
patch = its make + its run. The issue's goal is a ratio of at most 1.2.

Heavy: run it under the global lock.  Usage: bench/series_bench.py [-s SCENARIO]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from orchestrator.kernel import build as kbuild  # noqa: E402
from orchestrator.kernel import defaults, locks, worktree  # noqa: E402
from orchestrator.kernel.request import prepare  # noqa: E402
from orchestrator.paths import SCENARIOS_DIR, cache_root  # noqa: E402

FS_C = "kernel/pgo/fs.c"
ANCHORS = ("static int prf_open(", "static ssize_t prf_read(", "static int prf_release(")


def git(tree: Path, *args: str, env: dict[str, str] | None = None,
        input_text: str | None = None) -> str:
    return subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True,
                          check=True, input=input_text,
                          env={**os.environ, **(env or {})}).stdout


def fresh_series(tree: Path, work: Path) -> tuple[Path, list[str]]:
    """Three commits on the tree's tip, each adding a comment to fs.c (plumbing, no checkout)."""
    nonce = str(time.time_ns())
    env = {"GIT_INDEX_FILE": str(work / "index"), "GIT_AUTHOR_NAME": "Bench",
           "GIT_AUTHOR_EMAIL": "bench@example.invalid", "GIT_COMMITTER_NAME": "Bench",
           "GIT_COMMITTER_EMAIL": "bench@example.invalid"}
    base = git(tree, "rev-parse", "master").strip()
    parent, text, commits = base, git(tree, "show", f"{base}:{FS_C}"), []
    for i, anchor in enumerate(ANCHORS, start=1):
        assert anchor in text, anchor
        text = text.replace(anchor, f"/* bench {nonce} step {i} */\n{anchor}", 1)
        blob = git(tree, "hash-object", "-w", "--stdin", input_text=text).strip()
        git(tree, "read-tree", parent, env=env)
        git(tree, "update-index", "--cacheinfo", f"100644,{blob},{FS_C}", env=env)
        tid = git(tree, "write-tree", env=env).strip()
        parent = git(tree, "commit-tree", tid, "-p", parent, "-m", f"bench: step {i}",
                     env=env).strip()
        commits.append(parent)
    mbox = work / "bench.mbox"
    mbox.write_text(git(tree, "format-patch", "--stdout", f"--base={base}",
                        f"{base}..{parent}"))
    return mbox, [base, *commits]


def pgo_orch(*args: str) -> tuple[float, dict[str, Any]]:
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "orchestrator.cli", *args, "--json"],
                          capture_output=True, text=True, check=False)
    took = time.monotonic() - t0
    if not proc.stdout.strip():
        sys.exit(f"pgo-orch {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return took, json.loads(proc.stdout)


def plain_make(tree: Path, commit: str, req: kbuild.BuildRequest) -> float:
    """Plain incremental make of ``commit`` in pgo-orch's scratch worktree and out dir."""
    p = prepare(dataclasses.replace(req, rev=commit))
    slot_dir = cache_root() / "builds" / p.slot
    argv = ["make", "-s", "-C", str(p.tree), f"O={slot_dir / 'out'}", *p.make_args(),
            f"-j{req.jobs}", *req.targets]
    with locks.hold(locks.tree_lock(tree), shared=True), locks.hold(slot_dir / "lock"), \
            locks.hold(worktree.lock_path(p.tree)):
        git(p.tree, "checkout", "-q", "-f", "--detach", commit)
        t0 = time.monotonic()
        subprocess.run(argv, env={**os.environ, **kbuild.REPRO_ENV}, check=True,
                       stdout=subprocess.DEVNULL)
        return time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-s", "--scenario", help="scenario (default: prf-open-race, 3 s readers)")
    args = ap.parse_args()
    tree = defaults.default_tree()
    work = Path(tempfile.mkdtemp(prefix="pgo-series-bench-"))
    scenario = args.scenario
    if scenario is None:
        text = (SCENARIOS_DIR / "prf-open-race.toml").read_text()
        text = text.replace("duration = 60\n", "duration = 3\n").replace("settle = 5",
                                                                         "settle = 2")
        (work / "short.toml").write_text(text)
        scenario = str(work / "short.toml")
    mbox, commits = fresh_series(tree, work)
    req = defaults.resolve_request(tree=tree)

    series_s, summary = pgo_orch("series", str(mbox), "-s", scenario, "--out",
                                 str(work / "series"))
    records = {}
    for d in (work / "series" / "prefixes").iterdir():
        for res in d.glob("runs/*/result.json"):
            records[d.name] = json.loads(res.read_text())
    base_build = summary["prefixes"][0]["build"]["duration_s"]
    base_run = records["00-base"]["timings_s"]["total"]
    per_patch_series = (series_s - base_build - base_run) / 3

    rows = []
    for i in (1, 2, 3):
        plain_make(tree, commits[i - 1], req)  # the previous patch's state (not timed)
        make_s = plain_make(tree, commits[i], req)
        _, run = pgo_orch("run", scenario, "--rev", commits[i], "--out",
                          str(work / f"plain-run-{i}"))
        full = json.loads((work / f"plain-run-{i}" / "result.json").read_text())
        run_s = full["timings_s"]["total"] - full["timings_s"].get("build", 0.0)
        pre = summary["prefixes"][i]
        rec = records[f"{i:02d}"]
        rows.append((i, pre["build"]["duration_s"], rec["timings_s"]["total"], make_s, run_s,
                     run["verdict"]))

    print(f"series: {summary['verdict']} (exit {summary['exit_code']}) in {series_s:.1f}s "
          f"(base: build lookup {base_build:.1f}s, run {base_run:.1f}s)")
    print(f"{'patch':>5} {'series build':>12} {'series run':>10} | {'plain make':>10} "
          f"{'plain run':>9}")
    for i, sb, sr, mk, rn, verdict in rows:
        print(f"{i:>5} {sb:>11.1f}s {sr:>9.1f}s | {mk:>9.1f}s {rn:>8.1f}s  ({verdict})")
    plain = sum(mk + rn for _, _, _, mk, rn, _ in rows) / 3
    print(f"per patch: series {per_patch_series:.1f}s (incl. apply, reports, overhead) vs "
          f"plain make + one run {plain:.1f}s: ratio {per_patch_series / plain:.2f}x "
          f"(goal <= 1.2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
