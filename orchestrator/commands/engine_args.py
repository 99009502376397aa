"""``--engine local|dask --scheduler URL --slots N --overcommit`` for run, series, bisect."""

from __future__ import annotations

import argparse

from orchestrator.job import Runner


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("where guests run")
    g.add_argument("--engine", choices=("local", "dask"), default="local",
                   help="local: a pool of guests on this host (default); dask: tasks on a "
                   "Dask scheduler (pip install 'pgo-orch[dist]')")
    g.add_argument("--scheduler", metavar="tcp://HOST:8786",
                   help="Dask scheduler address (--engine dask; default: a local cluster)")
    g.add_argument("--slots", type=positive_int, metavar="N",
                   help="guests at once (default: CPUs // guest vCPUs, at least 1)")
    g.add_argument("--overcommit", action="store_true",
                   help="start guests even when their vCPUs exceed the host's CPUs (lockup "
                   "findings of such runs are marked as possibly the host's)")


def runner_from_args(args: argparse.Namespace) -> Runner:
    from orchestrator.pool.engine import runner_for

    return runner_for(args.engine, args.slots, args.scheduler, args.overcommit)
