"""``python -m tests.model.fake_run TMP -- ARGS``: ``pgo-orch ARGS`` with the fake build and
guest of :mod:`tests.model.fakes`; the readers block until the process gets a signal (after
writing ``TMP/driver-started``), so a test can interrupt a run at a known point."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from orchestrator import cli
from tests.model import fakes


def main() -> int:
    tmp = Path(sys.argv[1])
    args = sys.argv[sys.argv.index("--") + 1:]

    def block() -> None:
        (tmp / "driver-started").write_text("1")
        time.sleep(120)

    fakes.install(pytest.MonkeyPatch(), tmp, on_driver=block)
    return cli.main(args)


if __name__ == "__main__":
    sys.exit(main())
