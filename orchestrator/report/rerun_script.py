"""reproducer.sh beside every run: reruns this scenario on the same tree, commit and options."""

from __future__ import annotations

import shlex

from orchestrator.results import RunResult
from orchestrator.rundir import RunDir


def text(result: RunResult) -> str:
    q = shlex.quote
    lines = [
        "#!/bin/sh",
        f"# Reruns scenario {q(result.scenario)} (verdict here: {result.verdict}).",
        "# Usage: reproducer.sh [OUT]   (default: a new runs/ directory)",
        "set -eu",
        'HERE=$(cd "$(dirname "$0")" && pwd)',
    ]
    args = ['"$HERE/scenario.toml"']
    tree = result.kernel.tree or (str(result.options.tree) if result.options.tree else None)
    if tree:
        args.append(f"--tree {q(tree)}")
        commit = result.kernel.commit
        if commit:
            lines += [
                f"want={q(commit)}",
                f"have=$(git -C {q(tree)} rev-parse HEAD 2>/dev/null || echo none)",
                'if [ "$have" != "$want" ]; then',
                '    echo "warning: the tree is at $have; this run used $want" >&2',
                "fi",
            ]
    if result.options.rev:
        args.append(f"--rev {q(result.options.rev)}")
    for opt in result.options.extra_options:
        args.append(f"-K {q(opt)}")
    if result.options.accel:
        args.append(f"--accel {q(result.options.accel)}")
    lines += [
        'if [ $# -ge 1 ]; then set -- --out "$1"; fi',
        f'exec pgo-orch run {" ".join(args)} "$@"',
    ]
    return "\n".join(lines) + "\n"


def write(result: RunResult, rd: RunDir) -> None:
    rd.write_atomic(rd.rerun_script, text(result))
    rd.rerun_script.chmod(0o755)
