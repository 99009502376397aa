"""``pgo-orch detect --explain``: how each finding was read, rule by rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator import cli
from orchestrator.detect import Detector
from tests.detect.corpus import CORPUS, load


def _explain(name: str) -> list[str]:
    det = Detector(explain=True)
    found = det.feed_text(load(CORPUS / name).body) + det.close()
    assert found  # the first report (repeats of a stall are explained alike)
    assert found[0].explanation is not None
    return found[0].explanation


def test_explain_names_header_skips_and_winner() -> None:
    notes = _explain("pgo-sleep-in-atomic.log")
    assert notes[0].startswith("header: line ")
    assert "class sleep-in-atomic" in notes[0]
    assert "BUG: sleeping function called from invalid context at mm/vmalloc.c" in notes[0]
    assert "  skip __might_resched: family might-sleep" in notes
    assert "  skip vzalloc: family allocators" in notes
    assert any(n.startswith("  skip ? prf_open+") and "unreliable" in n for n in notes)
    assert notes[-1] == "guilty prf_open: first frame kept (rule 2)"


def test_explain_stall_rule_and_class_skip() -> None:
    notes = _explain("real-softlockup.log")
    assert "guilty lkdtm_SOFTLOCKUP: the frame before dispatch point lkdtm_do_action" in "\n".join(
        notes
    )
    kasan = _explain("kasan-uaf.log")
    assert any(": family sanitizers" in n for n in kasan)


def test_explain_says_why_corrupted() -> None:
    notes = _explain("pgo-sleep-in-atomic-cut.log")
    assert any(n.startswith("corrupted: ") for n in notes), notes


def test_without_explain_nothing_is_kept() -> None:
    det = Detector()
    (f,) = det.feed_text(load(CORPUS / "pgo-sleep-in-atomic.log").body) + det.close()
    assert f.explanation is None
    assert "explanation" not in f.to_json()


def test_cli_explain(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "console.log"
    log.write_text(load(CORPUS / "pgo-sleep-in-atomic.log").body)
    assert cli.main(["detect", "--explain", str(log)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("sleep-in-atomic\tBUG: sleeping function called from invalid")
    assert "    guilty prf_open: first frame kept (rule 2)" in out
    assert cli.main(["detect", "--explain", "--json", str(log)]) == 1
    (f,) = json.loads(capsys.readouterr().out)["findings"]
    assert f["explanation"][-1] == "guilty prf_open: first frame kept (rule 2)"
