"""A report cut by a hang gets its guilty function from the hang forensics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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


def _issue_shape() -> dict[str, object]:
    """Issue 9 item 0: CPU#0 is another reader spinning on pgo_lock in path_openat; CPU#1
    is the reporting task, deadlocked in value profiling under the report's printk."""
    reader = [("rip", "native_queued_spin_lock_slowpath+0x1a4"),
              ("frame-pointer", "_raw_spin_lock_irqsave+0x3d"),
              ("frame-pointer", "__llvm_profile_instrument_target+0x47"),
              ("frame-pointer", "path_openat+0x2b1"),
              ("frame-pointer", "do_filp_open+0x9c"),
              ("frame-pointer", "do_sys_openat2+0x8c")]
    reporter = [("rip", "native_queued_spin_lock_slowpath+0x1a4"),
                ("frame-pointer", "_raw_spin_lock_irqsave+0x3d"),
                ("frame-pointer", "__llvm_profile_instrument_target+0x47"),
                ("frame-pointer", "kallsyms_lookup_buildid+0x5e"),
                ("frame-pointer", "symbol_string+0x8a"),
                ("frame-pointer", "vsnprintf+0x2d1"),
                ("frame-pointer", "vprintk_store+0x1c0"),
                ("frame-pointer", "vprintk_emit+0x7a"),
                ("frame-pointer", "_printk+0x58"),
                ("frame-pointer", "show_trace_log_lvl+0x1d5"),
                ("frame-pointer", "dump_stack_lvl+0x42"),
                ("frame-pointer", "__might_resched+0x1b0"),
                ("frame-pointer", "__kmalloc_node+0x5b"),
                ("frame-pointer", "__get_vm_area_node+0x88"),
                ("frame-pointer", "__vmalloc_node_range+0x77"),
                ("frame-pointer", "vzalloc+0x4b"),
                ("frame-pointer", "prf_open+0x9e"),
                ("frame-pointer", "proc_reg_open+0x61"),
                ("frame-pointer", "do_dentry_open+0x1f3"),
                ("frame-pointer", "path_openat+0x2b1"),
                ("frame-pointer", "__x64_sys_openat+0x5d")]

    def cpu(i: int, frames: list[tuple[str, str]]) -> dict[str, object]:
        return {"index": i, "cpl": 0, "halted": False, "rip": "0x1", "rsp": "0x2",
                "rbp": "0x3", "note": "", "frames": [
                    {"address": "0x2", "symbol": s, "location": None, "how": how}
                    for how, s in frames]}
    return {"summary": "x", "cpus": [cpu(0, reader), cpu(1, reporter)]}


def test_title_from_the_cpu_that_prints_the_report(tmp_path: Path) -> None:
    """Not the first busy vCPU: the one whose stack holds the report's printing chain."""
    from orchestrator.vm.forensics import HangReport

    (cut,) = detect_text((CORPUS / "pgo-sleep-in-atomic-cut.log").read_text())
    (done,) = complete([cut], HangReport.from_json(_issue_shape()))
    assert done.title == "BUG: sleeping function called from invalid context in prf_open"
    assert "hang forensics of CPU#1" in done.report
    # the synthetic trace starts at the report's own chain, not at the printk above it
    assert "vsnprintf" not in done.report.split("hang forensics")[1]


def test_title_from_the_cpu_named_by_the_header(tmp_path: Path) -> None:
    """The stack shows no report chain (cut before dump_stack): the header's "CPU: N" line
    names the vCPU; printk, profiling and lock frames above the caller are dropped."""
    from orchestrator.vm.forensics import HangReport

    shape = _issue_shape()
    cpus = shape["cpus"]
    assert isinstance(cpus, list)
    frames = cpus[1]["frames"]
    # keep only the spin, the printk frames and the caller chain below __might_resched
    cpus[1]["frames"] = frames[:9] + frames[12:]
    text = (CORPUS / "pgo-sleep-in-atomic-cut.log").read_text().rstrip() + (
        "\n[    4.514001][  T201] CPU: 1 PID: 201 Comm: cat Not tainted 6.1.192 #1\n")
    (cut,) = detect_text(text)
    (done,) = complete([cut], HangReport.from_json(shape))
    assert "hang forensics of CPU#1" in done.report
    assert done.title == "BUG: sleeping function called from invalid context in prf_open"


def test_live_line_says_corrupted_once(capsys: pytest.CaptureFixture[str]) -> None:
    from orchestrator.workflows.live_detect import LiveDetector

    live = LiveDetector(settle_seconds=0.0)
    live.feed((CORPUS / "pgo-sleep-in-atomic-cut.log").read_bytes())
    live.findings()
    err = capsys.readouterr().err
    assert "(corrupted)" in err and "(corrupted) (corrupted)" not in err


REAL_HANG = Path(__file__).resolve().parent.parent / "data" / "hang" / \
    "pgo-deadlock-first-printk.json"


def test_report_that_never_reached_the_console_is_rebuilt_from_the_stack() -> None:
    """On our PGO kernel the printk core is profiled too: pgo-deadlock/0001 deadlocks in the
    report's first printk and no line of it reaches the console. The reporting vCPU's stack
    (recorded from a real run) still holds __might_resched <- ... <- prf_open."""
    from orchestrator.vm.forensics import HangReport

    hang = HangReport.load(REAL_HANG)
    (found,) = complete([], hang)
    assert found.klass == "sleep-in-atomic" and found.corrupted
    assert found.title == "BUG: sleeping function called from invalid context in prf_open"
    assert "hang forensics of CPU#0" in found.report
    # a report that did reach the console is not duplicated
    (cut,) = detect_text((CORPUS / "pgo-sleep-in-atomic-cut.log").read_text())
    assert [f.title for f in complete([cut], hang)] == [found.title]
