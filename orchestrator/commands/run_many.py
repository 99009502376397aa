"""``pgo-orch run A B C [--repeat N] [--slots S]``: several runs as jobs on one engine.

The single-scenario path of ``pgo-orch run`` (commands/run.py) stays as it is, inside a pool
lease (:func:`single_run_slot`) so a plain ``pgo-orch run`` shares the host's vCPU budget
with every other pgo-orch process. Several scenarios, ``--repeat``, ``--slots`` or
``--engine dask`` make a batch: every run is a :class:`~orchestrator.job.Job` in
``<batch dir>/<job_id>/``, the engine's Runner runs them, each run's verdict is printed, and
the exit code is the worst of them (3 > 2 > 1 > 0). ``summary.json`` in the batch directory
lists every run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

from orchestrator.commands.engine_args import (
    add_engine_arguments,
    positive_int,
    runner_from_args,
)
from orchestrator.errors import ExitCode
from orchestrator.job import Job
from orchestrator.scenario.model import Scenario

#: result reason codes that are the user's input problem (as for a single run): exit 3
INPUT_REASONS = ("config-mismatch", "requirement-missing")


def add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeat", type=positive_int, default=1, metavar="N",
                        help="run every scenario N times (distinct runs)")
    add_engine_arguments(parser)


def is_batch(args: argparse.Namespace) -> bool:
    return (len(args.scenario) > 1 or args.repeat > 1 or args.engine != "local"
            or args.slots is not None)


def jobs_for(scenarios: list[Scenario], args: argparse.Namespace, out_root: str) -> list[Job]:
    """One job per scenario and repeat; repeats (and a scenario given twice) get distinct
    ``attempt_tag``s, so distinct job ids."""
    seen: dict[str, int] = {}
    jobs = []
    for sc in scenarios:
        for _ in range(args.repeat):
            n = seen.get(sc.source_text, 0)
            seen[sc.source_text] = n + 1
            jobs.append(Job(scenario_text=sc.source_text, out_root=out_root,
                            scenario_origin=str(sc.path),
                            tree=str(args.tree) if args.tree else None, rev=args.rev,
                            options=tuple(args.options), accel=args.accel, jobs=args.jobs,
                            attempt_tag=f"repeat-{n}" if n else ""))
    return jobs


def exit_code_of(result: dict[str, Any]) -> int:
    if result.get("reason_code") in INPUT_REASONS:
        return int(ExitCode.INVALID_INPUT)
    code = result.get("exit_code")
    return code if isinstance(code, int) and 0 <= code <= 3 else int(ExitCode.INFRA)


def run_many(args: argparse.Namespace) -> int:
    from orchestrator.rundir import RunDir
    from orchestrator.scenario import loader

    scenarios = [loader.load(s) for s in args.scenario]  # every input checked before any run
    runner = runner_from_args(args)
    with RunDir.create(args.out, "batch") as root:
        jobs = jobs_for(scenarios, args, str(root.path))
        print(f"[pool] batch directory: {root.path}", file=sys.stderr, flush=True)
        results = runner(jobs)
        rows = [_row(j, r) for j, r in zip(jobs, results, strict=True)]
        worst = max((row["exit_code"] for row in rows), default=0)
        root.write_json(root.path / "summary.json", {"exit_code": worst, "runs": rows})
    if args.json:
        print(json.dumps({"exit_code": worst, "runs": rows}))
    else:
        _print(rows)
    return worst


def _row(job: Job, res: dict[str, Any]) -> dict[str, Any]:
    pool = res.get("pool") if isinstance(res.get("pool"), dict) else {}
    return {"job_id": job.job_id, "scenario": res.get("scenario") or job.scenario_origin,
            "attempt_tag": job.attempt_tag, "verdict": res.get("verdict", "error"),
            "exit_code": exit_code_of(res), "reason": res.get("reason", ""),
            "reason_code": res.get("reason_code", ""), "run_dir": res.get("run_dir"),
            "reproduced": res.get("reproduced"),
            "findings": [{k: f.get(k) for k in ("key", "class", "title", "expected",
                                                "host_note") if k in f}
                         for f in res.get("findings") or [] if isinstance(f, dict)],
            "host_note": (pool or {}).get("host_note")}


def _print(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        tag = f" [{row['attempt_tag']}]" if row["attempt_tag"] else ""
        print(f"{str(row['verdict']).upper()}: {row['scenario']}{tag}: {row['reason']}")
        for f in row["findings"]:
            note = "  [expected]" if f.get("expected") else ""
            note += f"  [{f['host_note']}]" if f.get("host_note") else ""
            print(f"  {f.get('class')}: {f.get('title')}{note}")
        print(f"  run: {row['run_dir']}")
    counts = {v: sum(1 for r in rows if r["verdict"] == v) for v in ("pass", "fail", "error")}
    print(f"{len(rows)} runs: {counts['pass']} pass, {counts['fail']} fail, "
          f"{counts['error']} error")


@contextlib.contextmanager
def single_run_slot(sc: Scenario, args: argparse.Namespace) -> Iterator[None]:
    """Around a single ``pgo-orch run``: hold a pool lease for the whole run, like every
    pooled guest on this host. The lease also covers the run's kernel build (a cache hit in
    the common case): building first, outside the run, would leave a run interrupted during
    its build without the report that says so. Batches build first, outside the budget."""
    from orchestrator.pool.host import demand_of_scenario
    from orchestrator.pool.slots import SlotBook

    book = SlotBook()
    demand = demand_of_scenario(sc.source_text, args.accel)
    with book.acquire(demand, overcommit=getattr(args, "overcommit", False),
                      label=f"pgo-orch run {sc.name}") as lease:
        if lease.waited_s >= 1:
            print(f"[pool] waited {lease.waited_s:.0f}s for a slot", file=sys.stderr)
        yield
