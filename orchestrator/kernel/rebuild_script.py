"""A build's ``reproducer.sh``: rebuild the same kernel with plain make, without pgo-orch.

(Not to be confused with ``report/reproducer.py``, which re-runs a whole scenario.)
"""

from __future__ import annotations

import shlex
from pathlib import Path

from orchestrator.kernel.request import Prepared


def write(path: Path, p: Prepared, fragments: list[Path], env: dict[str, str]) -> None:
    """Write an executable script next to the build; fragments are copies kept beside it."""
    q = shlex.quote
    make_args = " ".join(q(a) for a in p.make_args())
    targets = " ".join(q(t) for t in p.request.targets)
    lines = [
        "#!/bin/sh",
        "# Rebuilds this kernel with plain make, without pgo-orch.",
        "# Usage: reproducer.sh [TREE [OUT]]   (defaults: the tree and a fresh ./out)",
        "set -eu",
        'HERE=$(cd "$(dirname "$0")" && pwd)',
        f"TREE=${{1:-{q(str(p.tree))}}}",
        "OUT=${2:-$PWD/out}",
        'mkdir -p "$OUT"',
    ]
    for k, v in env.items():
        lines.append(f"export {k}={q(v)}")
    if p.state.commit:
        lines += [
            f"want={q(p.state.commit)}",
            'have=$(git -C "$TREE" rev-parse HEAD 2>/dev/null || echo none)',
            'if [ "$have" != "$want" ]; then',
            '    echo "warning: $TREE is at $have, this kernel was built from $want" >&2',
            "fi",
        ]
        if p.state.dirty:
            lines.append('echo "note: the tree had uncommitted changes; see $HERE/tree.diff" >&2')
    if p.base_file is None:
        lines.append(f'make -C "$TREE" O="$OUT" {make_args} {q(p.request.base_config)}')
    else:
        lines.append(f'cp {q(str(p.base_file))} "$OUT/.config"')
    if fragments:
        # file names are quoted: a name like x$(cmd) must stay a name, never run
        frag_args = " ".join(f'"$HERE/fragments/"{q(f.name)}' for f in fragments)
        lines.append(
            f'(cd "$TREE" && LLVM={q(p.tools.llvm)} ARCH=x86_64 '
            f'sh scripts/kconfig/merge_config.sh -m -O "$OUT" "$OUT/.config" '
            f"{frag_args})"
        )
    lines += [
        f'make -C "$TREE" O="$OUT" {make_args} olddefconfig',
        'if ! cmp -s "$OUT/.config" "$HERE/config"; then',
        '    echo "warning: the generated .config differs from $HERE/config" >&2',
        "fi",
        f'make -C "$TREE" O="$OUT" {make_args} -j"$(nproc)" {targets}',
        'echo "built: $OUT/vmlinux $OUT/arch/x86/boot/bzImage"',
    ]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o755)
