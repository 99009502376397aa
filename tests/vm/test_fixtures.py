"""The bug of the report, for real: the seed scenario on each regression fixture.

pgo-fixtures/0001 allocates under pgo_lock (the 2021 bug), 0002 returns -EAGAIN when the
profile grew, 0003 retries (the fix). See kernel-patches/README.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.kernel import defaults

pytestmark = [pytest.mark.vm, pytest.mark.slow, pytest.mark.usefixtures("no_leaked_qemu")]


@pytest.fixture(autouse=True, scope="module")
def _needs_fixtures() -> None:
    if not defaults.default_series():
        pytest.skip("the PGO series is not in kernel-patches/")


SEED = Path(__file__).parents[2] / "scenarios" / "prf-open-race.toml"


def _seed(rev: str, out: Path, duration: int = 60) -> tuple[int, dict[str, object]]:
    """The seed scenario at ``rev``; a shorter reader ``duration`` where the bug shows at once
    (the 2021 bug fires on the first open; -EAGAIN on the first read that races a reset)."""
    scenario = "prf-open-race"
    if duration != 60:
        text = SEED.read_text()
        assert text.count("duration = 60") == 1
        short = out.parent / "prf-open-race-short.toml"
        short.write_text(text.replace("duration = 60", f"duration = {duration}"))
        scenario = str(short)
    proc = subprocess.run([sys.executable, "-m", "orchestrator.cli", "run", scenario,
                           "--rev", rev, "--out", str(out), "--json"], capture_output=True,
                          text=True, timeout=1800, check=False)
    assert proc.stdout.strip(), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def test_fixture1_sleep_in_atomic_in_prf_open(tmp_path: Path) -> None:
    code, rep = _seed("pgo-fixtures/0001", tmp_path / "run", duration=8)
    assert code == 1 and rep["verdict"] == "fail"
    findings = rep["findings"]
    assert isinstance(findings, list)
    hit = [f for f in findings if f["class"] == "sleep-in-atomic"]
    assert hit, findings
    assert hit[0]["title"] == "BUG: sleeping function called from invalid context in prf_open"
    full = json.loads((tmp_path / "run" / "report.json").read_text())
    assert "prf_open" in full["findings"][0]["report"]


def test_fixture2_eagain_reported(tmp_path: Path) -> None:
    code, rep = _seed("pgo-fixtures/0002", tmp_path / "run", duration=10)
    assert code == 1 and rep["verdict"] == "fail"
    full = json.loads((tmp_path / "run" / "report.json").read_text())
    errors = {e for r in full["readers"] for e in r["errors"]}
    assert "Resource temporarily unavailable" in errors
    assert sum(r["failures"] for r in full["readers"]) > 0
    assert not [f for f in full["findings"] if f["class"] == "sleep-in-atomic"]


def test_fixture3_passes_60s_with_valid_profiles(tmp_path: Path) -> None:
    code, rep = _seed("pgo-fixtures/0003", tmp_path / "run")
    full = json.loads((tmp_path / "run" / "report.json").read_text())
    assert code == 0 and rep["verdict"] == "pass", full["reason"]
    assert full["timings_s"]["readers"] >= 60
    assert sum(r["reads"] for r in full["readers"]) > 0
    assert full["profiles"] and all(p["valid"] for p in full["profiles"])
