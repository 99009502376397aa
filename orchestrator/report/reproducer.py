"""reproducer.sh beside every run: reruns this scenario on the same tree, commit and options."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.workflows.run import RunResult


def _metadata(result: RunResult) -> dict[str, object]:
    meta = result.kernel.get("metadata")
    if not meta:
        return {}
    try:
        data: dict[str, object] = json.loads(Path(str(meta)).read_text())
        return data
    except (OSError, ValueError):
        return {}


def write(result: RunResult) -> None:
    q = shlex.quote
    meta = _metadata(result)
    lines = [
        "#!/bin/sh",
        f"# Reruns scenario {q(result.scenario.name)} (verdict here: {result.verdict}).",
        "# Usage: reproducer.sh [OUT]   (default: a new runs/ directory)",
        "set -eu",
        'HERE=$(cd "$(dirname "$0")" && pwd)',
    ]
    args = ['"$HERE/scenario.toml"']
    tree = meta.get("repo") or meta.get("tree")
    if tree:
        args.append(f"--tree {q(str(tree))}")
        commit = meta.get("commit")
        if commit:
            lines += [
                f"want={q(str(commit))}",
                f"have=$(git -C {q(str(tree))} rev-parse HEAD 2>/dev/null || echo none)",
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
    path = result.run_dir / "reproducer.sh"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o755)
