"""``pgo-orch run SCENARIO``: the main job, from a scenario file to a verdict."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from orchestrator import ui
from orchestrator.rundir import new_run_dir
from orchestrator.scenario import loader


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run a scenario: build, boot, readers under load, verdict",
                       description="Run a scenario file (or a name from scenarios/) on a "
                       "kernel (default: the default PGO kernel) and print the verdict. Exit "
                       "0 pass, 1 fail, 2 error, 3 invalid input.")
    p.add_argument("scenario", help="scenario TOML file or name in scenarios/")
    p.add_argument("--tree", type=Path, help="kernel source tree (default: the default tree)")
    p.add_argument("-K", "--option", action="append", default=[], dest="options",
                   metavar="CONFIG_X=V", help="extra kernel option on top of the scenario's")
    p.add_argument("--rev", help="test this git revision of the tree, e.g. pgo-fixtures/0001")
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--accel", choices=("auto", "kvm", "tcg"), help="override the scenario's")
    p.add_argument("--out", type=Path, help="run directory (default: runs/<id>/)")
    p.add_argument("--json", action="store_true", help="print the report summary as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from orchestrator.report.jsonreport import summary
    from orchestrator.workflows.run import RunOptions, run_scenario

    sc = loader.load(args.scenario)
    run_dir = new_run_dir(args.out, f"run-{sc.name}")
    ui.say("run", f"run directory: {run_dir}")
    result = run_scenario(sc, run_dir, RunOptions(tree=args.tree, jobs=args.jobs,
                                                  accel=args.accel, rev=args.rev,
                                                  extra_options=list(args.options)))
    if args.json:
        print(json.dumps(summary(result)))
    else:
        print(f"{result.verdict.upper()}: {sc.name}: {result.reason}")
        for f in result.findings:
            exp = next((r for ff, r in result.expected if ff is f), None)
            print(f"  {f.klass}: {f.title}" + (f"  [expected: {exp}]" if exp else ""))
        print(f"  report: {run_dir / 'report.html'}")
    return result.exit_code
