"""Debug helper: python -m tests.detect.show LOG... prints findings of corpus logs."""

from __future__ import annotations

import sys
from pathlib import Path

from orchestrator.detect import detect_text
from tests.detect.corpus import load


def main() -> None:
    for arg in sys.argv[1:]:
        log = load(Path(arg))
        print(f"== {arg}  want={log.titles}")
        for f in detect_text(log.body):
            print(
                f"  {f.klass} | {f.title} | corrupted={f.corrupted} fatal={f.fatal} "
                f"caller={f.caller} cause={f.cause} lines={len(f.report.splitlines())}"
            )


if __name__ == "__main__":
    main()
