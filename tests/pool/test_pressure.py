"""A starved host is noticed (PSI, else load average) and its lockup findings are marked."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.pool import pressure
from orchestrator.pool.annotate import annotate


def _psi(tmp_path: Path, avg10: float) -> Path:
    f = tmp_path / "cpu"
    f.write_text(f"some avg10={avg10:.2f} avg60=1.00 avg300=0.50 total=123\n"
                 "full avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
    return f


def test_psi_above_the_threshold_is_starved(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pressure, "PSI_CPU", _psi(tmp_path, 80.5))
    with pressure.PressureWatch(cpus=2, interval=0.05) as w:
        pass
    assert w.max_psi == 80.5 and w.starved


def test_low_psi_is_not_starved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pressure, "PSI_CPU", _psi(tmp_path, 12.0))
    with pressure.PressureWatch(cpus=2, interval=0.05) as w:
        pass
    assert not w.starved


def test_without_psi_the_load_average_decides(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pressure, "PSI_CPU", tmp_path / "missing")
    load = tmp_path / "loadavg"
    load.write_text("3.50 1.00 0.50 3/100 123\n")
    monkeypatch.setattr(pressure, "LOADAVG", load)
    with pressure.PressureWatch(cpus=2, interval=0.05) as w:
        pass
    assert w.max_psi is None and w.max_load1 == 3.5 and w.starved


def test_a_starved_run_marks_only_stall_class_findings() -> None:
    result = {"findings": [{"class": "rcu-stall", "key": "rcu-stall|INFO: rcu stall"},
                           {"class": "hung-task", "key": "hung-task|INFO: task hung"},
                           {"class": "kasan", "key": "kasan|KASAN: x"}]}
    annotate(result, {"overcommitted": False, "starved": True, "cpu_pressure_max": 72.0})
    notes = [f.get("host_note") for f in result["findings"]]
    assert notes[0] == notes[1] and notes[0] is not None and notes[2] is None
    assert "starved host (CPU pressure up to 72%)" in notes[0]
    assert result["pool"]["suspect_findings"] == ["rcu-stall|INFO: rcu stall",
                                                  "hung-task|INFO: task hung"]
    calm = {"findings": [{"class": "soft-lockup", "key": "s"}]}
    annotate(calm, {"overcommitted": False, "starved": False})
    assert "host_note" not in calm["findings"][0] and calm["pool"]["host_note"] is None
