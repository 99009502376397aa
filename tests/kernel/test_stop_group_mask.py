"""stop_group holds every signal pgo-orch turns into an interrupt while it cleans up."""

from __future__ import annotations

import signal
import subprocess
from typing import cast

import pytest

from orchestrator.kernel import make


def test_stop_group_holds_sigint_sigterm_sighup(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[set[signal.Signals]] = []

    def fake_stop(proc: object, grace_s: float) -> None:
        seen.append(set(signal.pthread_sigmask(signal.SIG_BLOCK, set())))

    monkeypatch.setattr(make, "_stop", fake_stop)
    before = set(signal.pthread_sigmask(signal.SIG_BLOCK, set()))
    make.stop_group(cast("subprocess.Popen[str]", object()))
    assert seen and {signal.SIGINT, signal.SIGTERM, signal.SIGHUP} <= seen[0]
    assert set(signal.pthread_sigmask(signal.SIG_BLOCK, set())) == before  # restored
