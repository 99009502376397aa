"""``pgo-orch detect LOGFILE``: find kernel splats in a console log.

``--explain`` prints, under each finding, how the detector read it: the header line and class,
headers it absorbed, how the report ended, every candidate frame with the skip rule that
dropped it (``family NAME`` from catalogue.toml's skip families, ``class ID`` for a class's own
skip_frames, ``unreliable``), and the rule that made the guilty frame win.

Exit codes: 0 no finding, 1 findings, 3 the log (or vmlinux) does not exist.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from orchestrator.detect.detector import Detector, Finding, FindingSet
from orchestrator.errors import ExitCode, InvalidInput

CHUNK = 1 << 20


def register(subparsers: Any) -> None:
    """Add the ``detect`` subcommand to an argparse subparsers object."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "detect",
        help="find kernel splats (BUG, WARNING, lockdep, KASAN, panic ...) in a console log",
        description="Find kernel splats in a console log and print one stable title for each.",
    )
    p.add_argument("logfile", metavar="LOGFILE", help="console log (serial, dmesg or /dev/kmsg)")
    p.add_argument("--vmlinux", metavar="FILE", help="vmlinux with symbols, to symbolize frames")
    p.add_argument("--json", action="store_true", help='print {"findings": [...]} as JSON')
    p.add_argument(
        "--explain",
        action="store_true",
        help="for each finding: the lines that made its header, the frames skipped and by which "
        "rule, and why the guilty frame won",
    )
    p.set_defaults(func=run)


def scan_file(path: Path, *, explain: bool = False) -> list[Finding]:
    """Stream a log file through the detector; findings merged by title as they come, so
    memory does not grow with the number of repeated splats."""
    det = Detector(explain=explain)
    found = FindingSet()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            found.extend(det.feed(chunk))
    found.extend(det.close())
    return found.findings()


def run(args: argparse.Namespace) -> int:
    path = Path(args.logfile)
    if not path.is_file():
        raise InvalidInput("log file not found", path=str(path), reason="no-such-file")
    findings = scan_file(path, explain=args.explain)
    if args.vmlinux:
        vmlinux = Path(args.vmlinux)
        if not vmlinux.is_file():
            raise InvalidInput("vmlinux not found", path=str(vmlinux), reason="no-such-file")
        from orchestrator.detect.symbolize import symbolize_findings

        symbolize_findings(findings, vmlinux)
    out = sys.stdout
    if args.json:
        json.dump({"findings": [f.to_json() for f in findings]}, out, indent=2)
        out.write("\n")
    elif not findings:
        out.write("no kernel splats found\n")
    else:
        for f in findings:
            flags = []
            if f.fatal:
                flags.append("fatal")
            if f.corrupted:
                flags.append("corrupted")
            extra = f" [{', '.join(flags)}]" if flags else ""
            cause = f" (caused by: {f.cause})" if f.cause else ""
            out.write(f"{f.klass}\t{f.title}\tx{f.count}{extra}{cause}\n")
            for note in f.explanation or []:
                out.write(f"    {note}\n")
    return int(ExitCode.KERNEL_PROBLEM) if findings else int(ExitCode.OK)
