"""``pgo-orch series SERIES``: test a patch series patch by patch (see workflows/series/)."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from orchestrator.commands.engine_args import add_engine_arguments, runner_from_args


def register(sub: Any) -> None:
    p = sub.add_parser(
        "series", help="test a patch series patch by patch: apply, build, run, blame",
        description="Apply a patch series one patch at a time in a scratch worktree, build "
        "every prefix incrementally, run the scenarios on the base and the prefixes, and say "
        "per patch whether it adds a kernel finding, breaks the build or adds warnings. Exit "
        "0 nothing new, 1 a patch introduces a problem, 2 infrastructure error, 3 the series "
        "does not apply or the input is invalid.")
    p.add_argument("series", metavar="SERIES",
                   help="an mbox (git format-patch --stdout, or a mailing-list thread), a "
                   "directory of .patch files, or a git range BASE..TIP of the tree")
    p.add_argument("--base", help="base revision (default: the series' base-commit:)")
    p.add_argument("--tree", type=Path, help="kernel git tree (default: the default tree)")
    p.add_argument("-s", "--scenario", action="append", default=[], dest="scenarios",
                   metavar="SCENARIO", help="scenario file or name; repeatable "
                   "(default: prf-open-race)")
    p.add_argument("--runs", type=int, default=1, help="runs per scenario and prefix")
    p.add_argument("--confirm", type=int, default=None,
                   help="reruns that confirm a new finding, there and on the prefix before "
                   "(default: --runs)")
    p.add_argument("--per-patch", choices=("all", "tip"), default="all",
                   help="all: run every prefix (default); tip: base and tip only, new "
                   "findings attributed by bisecting inside the series")
    p.add_argument("-K", "--option", action="append", default=[], dest="options",
                   metavar="CONFIG_X=V", help="extra kernel option on top of the scenarios'")
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--accel", choices=("auto", "kvm", "tcg"), help="override the scenarios'")
    p.add_argument("--out", type=Path, help="series directory (default: series/<time>-<pid>/)")
    p.add_argument("--json", action="store_true", help="print summary.json on stdout")
    p.add_argument("--kcidb", type=Path, metavar="FILE",
                   help="also write KernelCI's results schema (KCIDB v5) to FILE")
    add_engine_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from orchestrator.workflows.series.workflow import SeriesOptions, run_series

    out = args.out or Path("series") / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    opts = SeriesOptions(series=args.series, out=out, tree=args.tree, base=args.base,
                         scenarios=list(args.scenarios), runs=args.runs, confirm=args.confirm,
                         per_patch=args.per_patch, options=list(args.options),
                         accel=args.accel, jobs=args.jobs, kcidb=args.kcidb)
    outcome = run_series(opts, runner_from_args(args))
    s = outcome.summary
    if args.json:
        print(json.dumps(s))
        return outcome.exit_code
    print(f"{s['verdict'].upper()}: {s['reason']}")
    for pre in s["prefixes"]:
        cells = ", ".join(f"{name}: {c['status']}" for name, c in pre["cells"].items())
        build = ("not applied" if not pre["applied"] else "build failed" if pre["built"] is
                 False else "built" if pre["built"] else "not built")
        print(f"  {pre['label']}: {pre['subject'] or ''} [{build}] {cells}")
    for f in s["findings"]:
        where = f" at patch {f['patch']}" if f["status"] == "new" else ""
        print(f"  {f['status']}{where}: {f['title']} ({f['scenario']}, "
              f"{f['hits']}/{f['runs']} runs)")
    print(f"  report: {outcome.out / 'report.html'}")
    return outcome.exit_code
