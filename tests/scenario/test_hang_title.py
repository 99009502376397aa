"""A report cut by a hang gets its guilty function from the hang forensics."""

from __future__ import annotations

import json
from pathlib import Path

from orchestrator.detect.detector import detect_text
from orchestrator.workflows.hang_title import complete

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "console"


def _hang(tmp_path: Path) -> Path:
    frames = [("rip", "native_queued_spin_lock_slowpath+0x1a4"),
              ("frame-pointer", "_raw_spin_lock_irqsave+0x3d"),
              ("frame-pointer", "__llvm_profile_instrument_target+0x47"),
              ("frame-pointer", "__might_resched+0x2c"),
              ("frame-pointer", "__vmalloc_node_range+0x77"),
              ("frame-pointer", "vzalloc+0x4b"),
              ("frame-pointer", "prf_open+0x9e"),
              ("frame-pointer", "full_proxy_open+0x1a8"),
              ("stack-scan", "do_sys_openat2+0x8c")]
    hang = {"summary": "x", "cpus": [
        {"index": 0, "cpl": 0, "halted": True, "frames": [
            {"address": "0x1", "symbol": "default_idle+0xa", "location": None, "how": "rip"}]},
        {"index": 1, "cpl": 0, "halted": False, "frames": [
            {"address": "0x2", "symbol": s, "location": None, "how": how} for how, s in frames]},
    ]}
    path = tmp_path / "hang.json"
    path.write_text(json.dumps(hang))
    return path


def test_cut_report_named_from_the_hung_cpu(tmp_path: Path) -> None:
    (cut,) = detect_text((CORPUS / "pgo-sleep-in-atomic-cut.log").read_text())
    assert cut.corrupted and cut.guilty is None
    (done,) = complete([cut], _hang(tmp_path))
    assert done.title == "BUG: sleeping function called from invalid context in prf_open"
    assert done.guilty == "prf_open" and done.corrupted
    assert "hang forensics of CPU#1" in done.report


def test_complete_reports_untouched(tmp_path: Path) -> None:
    (full,) = detect_text((CORPUS / "pgo-sleep-in-atomic.log").read_text())
    assert complete([full], _hang(tmp_path)) == [full]
    assert complete([full], tmp_path / "missing.json") == [full]
