"""``pgo-orch run SCENARIO``: the main job, from a scenario file to a verdict.

Several scenarios, ``--repeat``, ``--slots`` or ``--engine dask`` run as a batch of jobs
(``commands/run_many.py``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from orchestrator import ui
from orchestrator.commands import run_many
from orchestrator.errors import ExitCode
from orchestrator.rundir import RunDir
from orchestrator.scenario import loader

#: result reason codes that are the user's input problem: ``pgo-orch run`` exits 3 for them
INPUT_REASONS = ("config-mismatch", "requirement-missing")


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run a scenario: build, boot, readers under load, verdict",
                       description="Run a scenario file (or a name from scenarios/) on a "
                       "kernel (default: the default PGO kernel) and print the verdict. Exit "
                       "0 pass, 1 fail, 2 error, 3 invalid input.")
    p.add_argument("scenario", nargs="+", help="scenario TOML file or name in scenarios/ "
                   "(several: a batch, one verdict each, exit code the worst)")
    p.add_argument("--tree", type=Path, help="kernel source tree (default: the default tree)")
    p.add_argument("-K", "--option", action="append", default=[], dest="options",
                   metavar="CONFIG_X=V", help="extra kernel option on top of the scenario's")
    p.add_argument("--rev", help="test this git revision of the tree, e.g. pgo-fixtures/0001")
    p.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--accel", choices=("auto", "kvm", "tcg"), help="override the scenario's")
    p.add_argument("--out", type=Path, help="run directory (default: runs/<id>/)")
    p.add_argument("--json", action="store_true", help="print the report summary as JSON")
    run_many.add_batch_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from orchestrator.report.jsonreport import summary
    from orchestrator.results import RunOptions
    from orchestrator.workflows.run import run_scenario

    if run_many.is_batch(args):
        return run_many.run_many(args)
    sc = loader.load(args.scenario[0])
    with run_many.single_run_slot(sc, args), RunDir.create(args.out, f"run-{sc.name}") as rd:
        ui.say("run", f"run directory: {rd.path}")
        result = run_scenario(sc, rd, RunOptions(tree=args.tree, jobs=args.jobs,
                                                 accel=args.accel, rev=args.rev,
                                                 extra_options=list(args.options)))
    if result.reason_code in INPUT_REASONS:
        print(f"pgo-orch: error: {result.reason}", file=sys.stderr)
        return int(ExitCode.INVALID_INPUT)
    if args.json:
        print(json.dumps(summary(result)))
    else:
        print(f"{result.verdict.upper()}: {sc.name}: {result.reason}")
        for f in result.findings:
            print(f"  {f.klass}: {f.title}"
                  + (f"  [expected: {f.expected}]" if f.expected else ""))
        print(f"  report: {rd.html}")
    return result.exit_code
