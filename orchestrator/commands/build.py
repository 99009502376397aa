"""``pgo-orch build``: a clang kernel from a tree, a base config and fragments."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from orchestrator.kernel import build as kbuild
from orchestrator.kernel import defaults


def add_build_options(p: argparse.ArgumentParser) -> None:
    """Kernel options shared by build, boot and run."""
    g = p.add_argument_group("kernel")
    g.add_argument(
        "--tree",
        type=Path,
        help="kernel source tree (default: Debian's "
        "linux-source-6.1 with the PGO series, unpacked into the cache)",
    )
    g.add_argument(
        "--config",
        default="tinyconfig",
        metavar="BASE",
        help="base config: tinyconfig, defconfig, allnoconfig or a file (default: tinyconfig)",
    )
    g.add_argument(
        "-f",
        "--fragment",
        action="append",
        default=None,
        dest="fragments",
        metavar="NAME|PATH",
        help="config fragment from kernel-configs/ or a path; "
        "repeatable (default: " + " ".join(defaults.default_fragments()) + ")",
    )
    g.add_argument(
        "-K",
        "--option",
        action="append",
        default=[],
        dest="options",
        metavar="CONFIG_X=V",
        help="a single extra option; repeatable",
    )
    g.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=None,
        help="parallel make jobs (default: number of CPUs)",
    )
    g.add_argument("--llvm", default="1", help="value of make's LLVM= (default: 1)")
    g.add_argument("--rev", help="build this git revision of the tree (in a scratch worktree; "
                   "the tree itself is not touched), e.g. pgo-fixtures/0001")


def request_from_args(args: argparse.Namespace) -> kbuild.BuildRequest:
    return defaults.resolve_request(tree=args.tree, rev=args.rev, base_config=args.config,
                                    fragments=args.fragments, options=args.options,
                                    jobs=args.jobs, llvm=args.llvm)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "build",
        help="build a clang (LLVM=1) kernel with proven config",
        description="Build vmlinux and bzImage with make LLVM=1, after proving "
        "that every requested option landed in the final .config.",
    )
    add_build_options(p)
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object on stdout (progress stays on stderr)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    result = kbuild.build(request_from_args(args))
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        state = "cached" if result.cached else "built"
        print(
            f"{state}: {result.vmlinux}\n  bzImage:  {result.bzimage}\n"
            f"  config:   {result.config}\n  metadata: {result.metadata}\n"
            f"  reproducer: {result.reproducer}"
        )
    return 0
