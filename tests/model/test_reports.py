"""Every report writer on synthetic results (no VM); every file must parse."""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from orchestrator.detect.detector import Finding
from orchestrator.report import write_all
from orchestrator.report.rerun_script import text as rerun_text
from orchestrator.results import (
    Check,
    KernelInfo,
    ProfileCheck,
    RunOptions,
    RunResult,
    Timings,
    Verdict,
)
from orchestrator.rundir import RunDir
from orchestrator.scenario.driver import ReaderStats

#: every C0 control character, DEL, and undecodable bytes kept by surrogateescape
NASTY = "".join(chr(c) for c in range(32)) + "\x7f" + b"\xff\xfe\xc3(".decode(
    "utf-8", "surrogateescape") + " </failure> ]]> & <x>"


def _result(tmp_path: Path, verdict: Verdict = Verdict.FAIL) -> RunResult:
    f = Finding(klass="warning", title="WARNING in foo" + NASTY, report="trace" + NASTY,
                frames=[], guilty="foo", corrupted=False, fatal=False, caller=None,
                first_time=None, last_time=None)
    g = Finding(klass="bug", title="kernel BUG in bar", report="r", frames=[], guilty="bar",
                corrupted=True, fatal=True, caller="T1", first_time=1.0, last_time=2.0,
                expected="known")
    return RunResult(
        scenario="synthetic", run_dir=tmp_path, description="d" + NASTY, verdict=verdict,
        reason="WARNING in foo" + NASTY, reason_code="kernel-finding", findings=[f, g],
        readers=[ReaderStats("r", 0, reads=5, failures=1, short=1, events=["x" + NASTY])],
        profiles=[ProfileCheck(file=str(tmp_path / "p.profraw"), size=3, valid=False,
                               message="bad" + NASTY)],
        checks=[Check("kernel: " + NASTY, False, "m" + NASTY, "detail" + NASTY),
                Check("ok one", True, "", "out" + NASTY), Check("skipped", True, skipped=True)],
        kernel=KernelInfo(tree="/src/it's linux", commit="abc", key="k"),
        timings=Timings({"build": 1.0, "total": 2.5}),
        options=RunOptions(rev="pgo-fixtures/0001", extra_options=["CONFIG_A=y"],
                           accel="tcg"))


def test_every_report_file_parses_with_hostile_console_text(tmp_path: Path) -> None:
    res = _result(tmp_path)
    rd = RunDir(tmp_path)
    write_all(res, rd)
    suite = ET.parse(rd.junit).getroot()
    assert suite.get("tests") == "3" and suite.get("failures") == "1"
    assert suite.get("skipped") == "1" and suite.get("time") == "2.500"
    fail = suite.find("testcase/failure")
    assert fail is not None and "\\x00" in (fail.text or "") and "\\xff" in (fail.text or "")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["verdict"] == "fail" and props["reason_code"] == "kernel-finding"
    report = json.loads(rd.report_json.read_text())
    assert report["verdict"] == "fail" and len(report["findings"]) == 2
    assert report["findings"][1]["expected_reason"] == "known"
    assert json.loads(rd.findings_json.read_text()) == report["findings"]
    result = json.loads(rd.result_json.read_text())
    assert RunResult.from_json(result).to_json() == result
    html = rd.html.read_text(encoding="utf-8")
    assert "&lt;x&gt;" in html and "<x>" not in html and "FAIL" in html.upper()
    assert "\x00" not in html
    sh = rd.rerun_script
    assert os.access(sh, os.X_OK)
    subprocess.run(["sh", "-n", str(sh)], check=True)


def test_rerun_script_quotes_and_carries_options(tmp_path: Path) -> None:
    text = rerun_text(_result(tmp_path))
    assert "--tree '/src/it'\"'\"'s linux'" in text
    assert "--rev pgo-fixtures/0001" in text and "-K CONFIG_A=y" in text
    assert "--accel tcg" in text and "want=abc" in text


@pytest.mark.parametrize("verdict,code", [(Verdict.PASS, 0), (Verdict.FAIL, 1),
                                          (Verdict.ERROR, 2)])
def test_verdict_exit_codes(verdict: Verdict, code: int) -> None:
    assert int(verdict.exit_code) == code and str(verdict) == verdict.value


