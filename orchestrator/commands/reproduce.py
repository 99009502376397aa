"""``pgo-orch reproduce MAIL``: turn a bug report mail into a scenario, run it, check a fix."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from orchestrator.errors import InvalidInput


def register(sub: Any) -> None:
    p = sub.add_parser(
        "reproduce", help="reproduce a kernel bug report mail: scenario, runs, fix check",
        description="Read a bug report mail (.eml, mbox or thread mbox, a saved archive page, "
        "or - for stdin), extract the kernel report and its context, write a scenario that "
        "reproduces it, run it on the tree and say whether the same bug appears; with "
        "--with-patch also run with the mail's patch applied. Exit 1 reproduced, 0 not "
        "reproduced, 2 infrastructure error, 3 no usable report in the mail.")
    p.add_argument("mail", metavar="MAIL", help="the mail file, or - for stdin")
    p.add_argument("--tree", type=Path, help="kernel source tree (default: the default tree)")
    p.add_argument("--rev", help="git revision of the tree to test, e.g. pgo-fixtures/0001")
    p.add_argument("--runs", type=int, default=3, help="runs per kernel (default 3)")
    p.add_argument("--with-patch", action="store_true",
                   help="also run with the mail's patch applied (3-way) on top")
    p.add_argument("--write-only", action="store_true",
                   help="write scenario.toml and extracted.json, run nothing")
    p.add_argument("--duration", type=float, default=10.0,
                   help="seconds the readers run in each run (default 10)")
    p.add_argument("--accel", choices=("auto", "kvm", "tcg"), help="override the accelerator")
    p.add_argument("--out", type=Path,
                   help="output directory (default: runs/reproduce-<UTC time>/)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from orchestrator.workflows.reproduce.workflow import ReproduceOptions, reproduce

    if args.runs < 1 or args.runs > 100:
        raise InvalidInput(f"must be between 1 and 100, got {args.runs}", field="--runs")
    if not 1 <= args.duration <= 3600:
        raise InvalidInput(f"must be between 1 and 3600 seconds, got {args.duration:g}",
                           field="--duration")
    out = args.out or Path("runs") / time.strftime("reproduce-%Y%m%d-%H%M%S", time.gmtime())
    outcome = reproduce(ReproduceOptions(
        mail=args.mail, out=out, tree=args.tree, rev=args.rev, runs=args.runs,
        with_patch=args.with_patch, write_only=args.write_only, duration=args.duration,
        accel=args.accel))
    if args.json:
        print(json.dumps(outcome.report | {"exit_code": outcome.exit_code,
                                           "headline": outcome.headline}, default=str))
    else:
        print(outcome.headline)
        print(f"  report: {out / 'report.html'}")
    return outcome.exit_code
