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
    KernelInfo,
    ProfileCheck,
    RunCheck,
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
        checks=[RunCheck("kernel: " + NASTY, False, "m" + NASTY, "detail" + NASTY),
                RunCheck("ok one", True, "", "out" + NASTY),
                RunCheck("skipped", True, skipped=True)],
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




FAKE_PGO_ORCH = """#!/bin/sh
# records its argv; writes result.json into --out when RESULT_CODE is set; exits EXIT
echo "$@" > "$ARGV_FILE"
while [ $# -gt 0 ]; do
    if [ "$1" = "--out" ]; then mkdir -p "$2"; out=$2; fi
    shift
done
if [ -n "${RESULT_CODE:-}" ]; then
    printf '{"reason_code": "%s"}\\n' "$RESULT_CODE" > "$out/result.json"
fi
exit "$EXIT"
"""


@pytest.mark.parametrize("exit_code,result_code,want", [
    (0, "", 0), (1, "kernel-finding", 1), (2, "boot-timeout", 125), (3, "", 125),
    (3, "config-mismatch", 125), (2, "interrupted", 128), (2, None, 128), (130, None, 128),
])
def test_rerun_script_bisect_mode_maps_exit_codes(tmp_path: Path, exit_code: int,
                                                  result_code: str | None, want: int) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "pgo-orch"
    fake.write_text(FAKE_PGO_ORCH)
    fake.chmod(0o755)
    rd = RunDir(tmp_path / "run")
    rd.path.mkdir()
    write_all(_result(rd.path), rd)
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "EXIT": str(exit_code),
           "ARGV_FILE": str(tmp_path / "argv")}
    if result_code is not None:
        env["RESULT_CODE"] = result_code
    proc = subprocess.run([str(rd.rerun_script), "--bisect", str(tmp_path / "b")], env=env,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == want, proc.stderr
    argv = (tmp_path / "argv").read_text()
    assert "--rev" not in argv and "-K CONFIG_A=y" in argv and "warning" not in proc.stderr
    assert f"--out {tmp_path / 'b'}/pgo-bisect." in argv
    # plain mode: the same run again, with its revision and the commit check
    env["EXIT"] = "1"
    proc = subprocess.run([str(rd.rerun_script), str(tmp_path / "again")], env=env,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    argv = (tmp_path / "argv").read_text()
    assert "--rev pgo-fixtures/0001" in argv and f"--out {tmp_path / 'again'}" in argv
    assert "warning: the tree is at none; this run used abc" in proc.stderr


def test_minimal_error_result_round_trips_with_contract_defaults(tmp_path: Path) -> None:
    res = RunResult("s", tmp_path, reason="build-failed: x", reason_code="build-failed",
                    kernel=KernelInfo(ok=False, error="e"))
    data = json.loads(json.dumps(res.to_json()))
    assert data["timings_s"] == {"build": 0.0, "boot": 0.0, "total": 0.0}
    assert data["verdict"] == "error" and data["exit_code"] == 2 and data["findings"] == []
    assert data["reads"] == {"total": 0, "failed": 0, "short": 0}
    assert RunResult.from_json(data).to_json() == data


def test_from_json_rejects_what_is_not_a_result() -> None:
    from orchestrator.errors import InvalidInput

    with pytest.raises(InvalidInput):
        RunResult.from_json({"scenario": "s"})
    with pytest.raises(InvalidInput):
        RunResult.from_json({"scenario": "s", "run_dir": "/r", "verdict": "maybe"})
