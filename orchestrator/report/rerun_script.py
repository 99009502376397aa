"""reproducer.sh beside every run: reruns this scenario on the same tree, commit and options.

``reproducer.sh [OUT]`` reruns the run (``pgo-orch run``'s exit code). ``reproducer.sh
--bisect [OUT_ROOT]`` is for ``git bisect run``: it tests the tree as checked out now (no
``--rev``, no commit check) and maps the verdict to what git bisect expects:

====================================  =====  ==============================
pgo-orch                              exit   git bisect
====================================  =====  ==============================
pass                                  0      good
fail (the kernel shows the problem)   1      bad
error (2) or invalid input (3)        125    skip this commit
interrupted, internal error, signal   128    abort the bisection
====================================  =====  ==============================
"""

from __future__ import annotations

import shlex

from orchestrator.results import RunResult
from orchestrator.rundir import RunDir

#: git bisect run's meaning of exit codes
BISECT_GOOD, BISECT_BAD, BISECT_SKIP, BISECT_ABORT = 0, 1, 125, 128


def text(result: RunResult) -> str:
    q = shlex.quote
    lines = [
        "#!/bin/sh",
        f"# Reruns scenario {q(result.scenario)} (verdict here: {result.verdict}).",
        "# Usage: reproducer.sh [OUT]            rerun (default: a new runs/ directory)",
        "#        reproducer.sh --bisect [ROOT]  for 'git bisect run': the tree as checked",
        "#          out; exit 0 pass, 1 fail, 125 error/invalid (skip), 128 interrupted (abort)",
        "set -eu",
        'HERE=$(cd "$(dirname "$0")" && pwd)',
        "bisect=0",
        'if [ "${1:-}" = "--bisect" ]; then bisect=1; shift; fi',
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
                'if [ "$bisect" = 0 ] && [ "$have" != "$want" ]; then',
                '    echo "warning: the tree is at $have; this run used $want" >&2',
                "fi",
            ]
    for opt in result.options.extra_options:
        args.append(f"-K {q(opt)}")
    if result.options.accel:
        args.append(f"--accel {q(result.options.accel)}")
    rev = f" --rev {q(result.options.rev)}" if result.options.rev else ""
    cmd = f'pgo-orch run {" ".join(args)}'
    lines += [
        'if [ "$bisect" = 0 ]; then',
        '    if [ $# -ge 1 ]; then set -- --out "$1"; fi',
        f'    exec {cmd}{rev} "$@"',
        "fi",
        'root=${1:-${TMPDIR:-/tmp}}',
        'mkdir -p "$root"',
        'out=$(mktemp -d "$root/pgo-bisect.XXXXXX")',
        "set +e",
        f'{cmd} --out "$out/run"',
        "code=$?",
        "set -e",
        'echo "reproducer: exit $code, run directory $out/run" >&2',
        'if [ -f "$out/run/result.json" ] && grep -q \'"reason_code": "interrupted"\' '
        '"$out/run/result.json"; then',
        f"    exit {BISECT_ABORT}",
        "fi",
        'case "$code" in',
        f"    0) exit {BISECT_GOOD} ;;",
        f"    1) exit {BISECT_BAD} ;;",
        f'    3) exit {BISECT_SKIP} ;;',
        f'    2) if [ -f "$out/run/result.json" ]; then exit {BISECT_SKIP}; fi; '
        f"exit {BISECT_ABORT} ;;",
        f"    *) exit {BISECT_ABORT} ;;",
        "esac",
    ]
    return "\n".join(lines) + "\n"


def write(result: RunResult, rd: RunDir) -> None:
    rd.write_atomic(rd.rerun_script, text(result))
    rd.rerun_script.chmod(0o755)
