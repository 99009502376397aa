"""An interrupted ``pgo-orch run`` (SIGTERM, SIGHUP, SIGINT) leaves its reports, exit 2."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.model import fakes

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize("sig,times", [(signal.SIGTERM, 1), (signal.SIGHUP, 1),
                                       (signal.SIGINT, 1), (signal.SIGTERM, 3)])
def test_signal_during_run_writes_interrupted_reports(tmp_path: Path, sig: signal.Signals,
                                                      times: int) -> None:
    sc = tmp_path / "fake.toml"
    sc.write_text(fakes.SCENARIO)
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "tests.model.fake_run", str(tmp_path), "--",
                             "run", str(sc), "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "driver-started").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        for _ in range(times):  # impatient callers signal again while reports are written
            proc.send_signal(sig)
            time.sleep(0.05)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:  # a failed test must not leave its run behind
            proc.kill()
            proc.wait()
    assert proc.returncode == 2, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    res = json.loads((out / "result.json").read_text())
    assert (res["verdict"], res["reason_code"], res["exit_code"]) == ("error", "interrupted", 2)
    rep = json.loads((out / "report.json").read_text())
    assert rep["verdict"] == "error" and rep["reason_code"] == "interrupted"
    suite = ET.parse(out / "junit.xml").getroot()
    assert suite.get("failures") == "1"
    assert (out / "console.log").read_bytes() == b"Linux version 6.9\n"
