"""pgo-orch run end to end on real kernels: verdicts, run directory, live detection."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from orchestrator.kernel import build as kbuild
from orchestrator.kernel.default_tree import ensure_default_tree
from orchestrator.paths import SCENARIOS_DIR

pytestmark = [pytest.mark.vm, pytest.mark.slow, pytest.mark.usefixtures("no_leaked_qemu")]


def _run(args: list[str], timeout: float = 600) -> tuple[int, dict[str, object], str]:
    proc = subprocess.run([sys.executable, "-m", "orchestrator.cli", "run", "--json", *args],
                          capture_output=True, text=True, timeout=timeout, check=False)
    data = json.loads(proc.stdout) if proc.stdout.strip() else {}
    return proc.returncode, data, proc.stderr


def test_proc_version_passes_with_full_run_dir(default_kernel: kbuild.BuildResult,
                                               tmp_path: Path) -> None:
    out = tmp_path / "run"
    code, rep, err = _run(["proc-version", "--out", str(out)])
    assert code == 0, err
    assert rep["verdict"] == "pass" and rep["findings"] == [] and rep["run_dir"] == str(out)
    for name in ("console.log", "scenario.toml", "scenario.resolved.json",
                 "kernel-metadata.json", "findings.json", "report.json", "junit.xml",
                 "report.html", "reproducer.sh", "dmesg.txt"):
        assert (out / name).is_file(), name
    full = json.loads((out / "report.json").read_text())
    (reader,) = full["readers"]
    assert reader["reads"] == 5 and reader["failures"] == 0
    suite = ET.parse(out / "junit.xml").getroot()
    assert suite.get("failures") == "0" and int(suite.get("tests", "0")) >= 2
    assert "PASS" in (out / "report.html").read_text().upper()


def test_missing_profile_interface_is_a_clear_error(tmp_path: Path) -> None:
    """On a kernel without the PGO series, a scenario needing the profile says so (exit 2)."""
    plain = ensure_default_tree(())
    sc = tmp_path / "needs-profile.toml"
    sc.write_text((SCENARIOS_DIR / "smoke.toml").read_text().replace(
        'require = ["CONFIG_PGO_CLANG=y"]',
        'fragments = ["base", "debug-atomic-sleep"]\nrequire = []'))
    code, rep, err = _run([str(sc), "--tree", str(plain), "--out", str(tmp_path / "run")],
                          timeout=3600)
    assert code == 2 and rep["verdict"] == "error", err
    assert "profile-interface-missing" in str(rep["reason"])
    assert "/sys/kernel/debug/pgo/vmlinux.profraw" in str(rep["reason"])


def test_pgo_scenario_on_a_tree_without_the_series_is_exit_3(tmp_path: Path) -> None:
    code, _, err = _run(["smoke", "--tree", str(ensure_default_tree(())), "--out",
                         str(tmp_path / "run")])
    assert code == 3
    assert "CONFIG_PGO_CLANG is not defined in this tree" in err
    assert "PGO patch series" in err


@pytest.mark.parametrize("kind,klass,title", [
    ("warning", "warning", "WARNING in lkdtm_WARNING"),
    ("bug", "bug", "kernel BUG in lkdtm_BUG"),
    ("exception", "null-deref", r"BUG: unable to handle kernel NULL pointer dereference in "
     "lkdtm_EXCEPTION"),
    # a CPU spinning with preemption off: the soft lockup detector (20 s) or the RCU stall
    # detector (21 s) speaks first, and both must name the spinning function
    ("softlockup", "soft-lockup|rcu-stall", "(BUG: soft lockup|INFO: rcu detected stall) in "
     "lkdtm_SOFTLOCKUP"),
])
def test_lkdtm_splats_fail_with_class_and_title(lkdtm_kernel: kbuild.BuildResult,
                                                tmp_path: Path, kind: str, klass: str,
                                                title: str) -> None:
    code, rep, err = _run([f"lkdtm-{kind}", "--out", str(tmp_path / "run")])
    assert rep.get("verdict") == "fail", err
    assert code == 1
    titles = {(f["class"], f["title"]) for f in rep["findings"]}  # type: ignore[union-attr]
    assert any(re.fullmatch(klass, c) and re.fullmatch(title, t) for c, t in titles), titles
    junit = (tmp_path / "run" / "junit.xml").read_text()
    assert "<failure" in junit and "lkdtm" in junit


def test_allowlisted_splat_passes_as_expected(lkdtm_kernel: kbuild.BuildResult,
                                              tmp_path: Path) -> None:
    text = (SCENARIOS_DIR / "lkdtm-warning.toml").read_text()
    text += '\n[[verdict.allow]]\npattern = "WARNING in lkdtm_.*"\nreason = "provoked"\n'
    sc = tmp_path / "lkdtm-warning-allowed.toml"
    sc.write_text(text.replace('name = "lkdtm-warning"', 'name = "lkdtm-warning-allowed"'))
    code, rep, err = _run([str(sc), "--out", str(tmp_path / "run")])
    assert code == 0 and rep["verdict"] == "pass", err
    (f,) = rep["findings"]  # type: ignore[misc]
    assert f["expected"] is True and f["expected_reason"] == "provoked"
