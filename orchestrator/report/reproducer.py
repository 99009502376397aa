"""reproducer.sh beside every run: reruns exactly this scenario on exactly this kernel."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.workflows.run import RunResult


def write(result: RunResult) -> None:
    q = shlex.quote
    lines = [
        "#!/bin/sh",
        f"# Reruns scenario {result.scenario.name} (verdict here: {result.verdict}).",
        "# Usage: reproducer.sh [OUT]   (default: a new runs/ directory)",
        "set -eu",
        'HERE=$(cd "$(dirname "$0")" && pwd)',
    ]
    meta = result.kernel.get("metadata")
    args = ['"$HERE/scenario.toml"']
    if meta:
        lines.append(f"# kernel: {q(str(meta))}")
    tree_path = _tree(result)
    if tree_path:
        args.append(f"--tree {q(tree_path)}")
    lines += [
        'OUT_ARGS=""',
        'if [ $# -ge 1 ]; then OUT_ARGS="--out $1"; fi',
        f"# shellcheck disable=SC2086\nexec pgo-orch run {' '.join(args)} $OUT_ARGS",
    ]
    path = result.run_dir / "reproducer.sh"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o755)


def _tree(result: RunResult) -> str | None:
    import json
    from pathlib import Path

    meta = result.kernel.get("metadata")
    if not meta:
        return None
    try:
        return str(json.loads(Path(str(meta)).read_text())["tree"])
    except (OSError, ValueError, KeyError):
        return None
