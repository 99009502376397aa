"""``pgo-orch bisect`` (find the culprit commit) and ``pgo-orch bisect-step`` (one step of
``git bisect run``). The workflow is :mod:`orchestrator.workflows.bisect`.

Both take runs through a ``Runner`` (default: :func:`orchestrator.job.run_serial`).
``PGO_ORCH_RUNNER=module:function`` names another one (the tests' fake runner, or an
executor of your own); it must take a list of jobs and return their results in order.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tomllib
from pathlib import Path
from typing import Any, cast

from orchestrator import ui
from orchestrator.errors import InvalidInput, PgoOrchError
from orchestrator.job import Runner
from orchestrator.paths import cache_root

RUNNER_ENV = "PGO_ORCH_RUNNER"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "bisect", help="find the commit that introduced (or, --fix, fixed) a bug",
        description="Bisect GOOD..BAD with a scenario in a scratch worktree (your checkout "
        "is not touched). Exit 0 culprit found and verified, 1 inconclusive (a range of "
        "skipped commits, or the verification failed), 2 infrastructure error, 3 wrong ends "
        "or invalid input.")
    p.add_argument("scenario", nargs="?", help="scenario TOML file or name in scenarios/ "
                   "(not needed with --resume: the bisection keeps its scenario's text)")
    p.add_argument("--good", help="a commit without the bug (with --fix: with the fix)")
    p.add_argument("--bad", help="a commit with the bug")
    _common(p)
    p.add_argument("--confidence", type=float, default=0.95,
                   help="wanted probability that a good verdict is right (default 0.95)")
    p.add_argument("--max-runs", type=int, default=10,
                   help="cap on the clean runs a good verdict takes (default 10)")
    p.add_argument("--fix", action="store_true",
                   help="find the first commit that fixed the bug (GOOD is the newer end)")
    p.add_argument("--resume", type=Path, metavar="DIR",
                   help="continue the bisection in DIR (no finished step is run again)")
    p.add_argument("--out", type=Path, help="bisection directory (default: "
                   "runs/bisect-<scenario>-<n>)")
    p.add_argument("--json", action="store_true", help="print result.json instead of the text")
    p.set_defaults(func=bisect)

    s = sub.add_parser(
        "bisect-step", help="one step of `git bisect run`: test HEAD of the current checkout",
        description="Run the scenario on the commit checked out in the current directory "
        "(or --tree) and exit as `git bisect run` expects: 0 good, 1 bad, 125 skip (build "
        "failure, config mismatch, missing profile interface, a different splat, repeated "
        "infrastructure errors), 128 abort. Usage: git bisect run pgo-orch bisect-step "
        "SCENARIO --match REGEX")
    s.add_argument("scenario", help="scenario TOML file or name in scenarios/")
    _common(s)
    s.add_argument("--fix", action="store_true", help="exit 0 when the bug shows (for "
                   "`git bisect start --term-old=broken --term-new=fixed`)")
    s.add_argument("--out", type=Path, help="where run directories go (default: "
                   "<cache>/bisect-step)")
    s.set_defaults(func=bisect_step)


def _common(p: argparse.ArgumentParser) -> None:
    engine = _engine_args()
    if engine is not None:
        engine.add_engine_arguments(p)
    p.add_argument("--tree", type=Path, help="kernel git tree (bisect: default the default "
                   "tree; bisect-step: the current checkout)")
    p.add_argument("--match", metavar="REGEX", help="the bug: finding titles matching REGEX "
                   "(default: bisect: the findings seen on BAD; bisect-step: the scenario's "
                   "[expect] titles, else any unexpected finding)")
    p.add_argument("--runs", type=int, default=3, help="bisect: runs of BAD to measure the "
                   "hit rate; bisect-step: clean runs for a good verdict (default 3)")
    p.add_argument("--retries", type=int, default=1,
                   help="infrastructure errors in a row tolerated before a skip (default 1)")
    p.add_argument("-K", "--option", action="append", default=[], dest="options",
                   metavar="CONFIG_X=V", help="extra kernel option on top of the scenario's")
    p.add_argument("-j", "--jobs", type=int, default=None)
    p.add_argument("--accel", choices=("auto", "kvm", "tcg"), help="override the scenario's")


def _engine_args() -> Any:
    """The pool's ``--engine/--slots`` module when it is installed, else None."""
    try:
        return importlib.import_module("orchestrator.commands.engine_args")
    except ImportError:
        return None


def runner_from_env(args: argparse.Namespace | None = None) -> Runner:
    """``$PGO_ORCH_RUNNER`` if set, else the engine chosen by ``--engine`` (pool), else
    :func:`orchestrator.job.run_serial`."""
    spec = os.environ.get(RUNNER_ENV, "")
    if not spec:
        engine = _engine_args()
        if engine is not None and args is not None and hasattr(args, "engine"):
            return cast(Runner, engine.runner_from_args(args))
        from orchestrator.job import run_serial
        return run_serial
    mod, _, name = spec.partition(":")
    try:
        fn = getattr(importlib.import_module(mod), name or "run")
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(f"cannot load runner {spec!r}: {exc}", field=RUNNER_ENV) from exc
    return cast(Runner, fn)


def _scenario(spec: str) -> tuple[str, str]:
    from orchestrator.scenario import loader
    path = loader.resolve_path(spec)
    loader.load(path)  # invalid scenarios stop here (exit 3), before anything is built
    return path.read_text(), str(path)


def _positive(value: int, field: str) -> None:
    if value < 1:
        raise InvalidInput(f"must be at least 1, got {value}", field=field)


def bisect(args: argparse.Namespace) -> int:
    from orchestrator.workflows.bisect import scratch, session
    from orchestrator.workflows.bisect.decide import Target, runs_for_good
    from orchestrator.workflows.bisect.record import BisectDir, Inputs

    runner = runner_from_env(args)
    batch = getattr(args, "slots", None) or 1  # a pool runs a commit's runs side by side
    if args.resume:
        bdir = BisectDir(args.resume)
        inputs, _ = bdir.read_state()
        ui.say("bisect", f"resuming {bdir.path}")
        data = session.run(inputs, bdir, runner, resume=True, batch=batch)
    else:
        if not args.scenario:
            raise InvalidInput("a scenario is needed (or --resume DIR)", field="scenario")
        if not args.good or not args.bad:
            raise InvalidInput("both --good and --bad are needed (or --resume DIR)",
                               field="--good" if not args.good else "--bad")
        _positive(args.runs, "--runs")
        _positive(args.max_runs, "--max-runs")
        runs_for_good(0.5, args.confidence, args.max_runs)  # checks --confidence
        if args.match:
            Target(pattern=args.match)  # checks the regex
        text, origin = _scenario(args.scenario)
        tree = args.tree.resolve() if args.tree else _default_tree()
        good, bad, count = scratch.check_range(tree, args.good, args.bad, fix=args.fix)
        inputs = Inputs(scenario_text=text, scenario_origin=origin, tree=str(tree),
                        good=good, bad=bad, good_rev=args.good, bad_rev=args.bad,
                        fix=args.fix, match=args.match, runs=args.runs,
                        confidence=args.confidence, max_runs=args.max_runs,
                        retries=args.retries, options=list(args.options), accel=args.accel,
                        jobs=args.jobs, commits_in_range=count)
        bdir = BisectDir(args.out or _default_out(Path(origin).stem))
        ui.say("bisect", f"{count} commits in range; directory {bdir.path}")
        data = session.run(inputs, bdir, runner, batch=batch)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        sys.stdout.write((bdir.path / "result.txt").read_text())
    if data["status"] == "wrong-ends":
        print(f"pgo-orch: error: {data['reason']}", file=sys.stderr)
    return int(data["exit_code"])


def _default_tree() -> Path:
    from orchestrator.kernel import defaults
    return defaults.default_tree()


def _default_out(name: str) -> Path:
    base = Path("runs")
    n = 1
    while (base / f"bisect-{name}-{n}").exists():
        n += 1
    return base / f"bisect-{name}-{n}"


def bisect_step(args: argparse.Namespace) -> int:
    from orchestrator.git import git, resolve_commit
    from orchestrator.workflows.bisect.decide import Target
    from orchestrator.workflows.bisect.probe import JobTemplate
    from orchestrator.workflows.bisect.step import GitBisectCode, out_root_default, run_step

    try:
        _positive(args.runs, "--runs")
        runner = runner_from_env(args)
        text, origin = _scenario(args.scenario)
        where = args.tree or Path.cwd()
        tree = Path(git(where, "rev-parse", "--show-toplevel").strip())
        commit = resolve_commit(tree, "HEAD")
        if args.match:
            target = Target(pattern=args.match)
        elif "expect" in tomllib.loads(text):
            target = Target(expect=True)
        else:
            target = Target(any_finding=True)
        out = args.out or out_root_default(cache_root())
        out.mkdir(parents=True, exist_ok=True)
        template = JobTemplate(scenario_text=text, scenario_origin=origin,
                               out_root=str(out.resolve()), tree=str(tree),
                               options=tuple(args.options), accel=args.accel, jobs=args.jobs)
    except PgoOrchError as exc:
        print(f"pgo-orch: error: {exc.message} (aborting the bisection: exit 128)",
              file=sys.stderr)
        return int(GitBisectCode.ABORT)
    code, _ = run_step(template, commit, target, runner, runs=args.runs,
                       retries=args.retries, fix=args.fix)
    return int(code)

