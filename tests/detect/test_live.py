"""The live detector of a run: repeats merged as they stream, each title printed once."""

from __future__ import annotations

from pytest import CaptureFixture

from orchestrator.workflows.live_detect import LiveDetector
from tests.detect.corpus import CORPUS, load

CUT_SLEEP = (
    "[  200.000000][    T9] BUG: sleeping function called from invalid context at mm/slab.h:1\n"
    "[  200.000001][    T9] Call Trace:\n"
)


def test_repeats_are_merged_while_streaming_and_printed_once(capsys: CaptureFixture[str]) -> None:
    body = load(CORPUS / "real-warning.log").body
    live = LiveDetector(settle_seconds=0.0)
    for _ in range(50):
        live.feed(body.encode())
    live.feed(CUT_SLEEP.encode())
    # memory: one kept finding per title while the run goes on, not one per repeat
    assert len(live._found) <= 2
    found = live.findings()
    assert [(f.title, f.count) for f in found][0] == ("WARNING in lkdtm_WARNING", 50)
    printed = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("[detect]")]
    assert printed.count("[detect] warning: WARNING in lkdtm_WARNING") == 1, printed
    cut = [ln for ln in printed if "sleeping function" in ln]
    assert cut == [
        "[detect] sleep-in-atomic: BUG: sleeping function called from invalid context (corrupted)"
    ], printed
    assert live.seen_any()
