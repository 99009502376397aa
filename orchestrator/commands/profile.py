"""``pgo-orch profile check FILE...``: validate LLVM raw profiles (header + llvm-profdata)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from orchestrator.errors import InvalidInput


def register(sub: Any) -> None:
    p = sub.add_parser("profile", help="work with PGO profiles")
    psub = p.add_subparsers(dest="profile_command", metavar="ACTION")
    psub.required = True
    c = psub.add_parser("check", help="validate raw profiles (.profraw); exit 1 if any is bad",
                        description="Check each file's raw profile header (magic, version, "
                        "sizes against the file length), then llvm-profdata merge and show.")
    c.add_argument("files", nargs="+", type=Path, metavar="FILE")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    from orchestrator.profile.check import check_file

    for f in args.files:
        if not f.is_file():
            raise InvalidInput(f"{f} does not exist", field="FILE")
    verdicts = [check_file(f) for f in args.files]
    if args.json:
        print(json.dumps([v.to_json() for v in verdicts]))
    else:
        for v in verdicts:
            extra = f" (raw v{v.version}, {v.functions} functions)" if v.valid else ""
            print(f"{'ok ' if v.valid else 'BAD'} {v.file}: {v.message}{extra}")
    return 0 if all(v.valid for v in verdicts) else 1
