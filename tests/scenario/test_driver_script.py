"""The guest driver script, run for real on the host with busybox-compatible sh."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from orchestrator.scenario import driver
from orchestrator.scenario.model import Load, Reader, Scenario

pytestmark = pytest.mark.skipif(shutil.which("setsid") is None, reason="needs setsid")


def _run(tmp_path: Path, sc: Scenario, profile: Path) -> str:
    out = tmp_path / "guest"
    out.mkdir()
    (out / "config.sh").write_text(driver.config_text(sc, profile=str(profile),
                                                      reset=str(tmp_path / "reset"),
                                                      out=str(out)))
    shutil.copy(driver.DRIVER_SCRIPT, out / "driver.sh")
    proc = subprocess.run(["sh", str(out / "driver.sh"), "main"], capture_output=True,
                          text=True, timeout=60, check=True)
    return proc.stdout


def test_readers_count_failures_short_reads_and_keep(tmp_path: Path) -> None:
    profile = tmp_path / "profile"
    profile.write_bytes(b"x" * 100)
    sc = Scenario("t", "t", tmp_path / "t.toml", readers=[
        Reader("cat", 'cat "$PROFILE"', parallel=2, iterations=10, keep_every=5),
        Reader("flaky", 'if [ -e "$RESET" ]; then echo "cat: read error: Resource temporarily '
               'unavailable" >&2; exit 1; fi; touch "$RESET"; cat "$PROFILE"', iterations=3),
        Reader("short", "printf ab", iterations=2, min_bytes=10),
    ], loads=[Load("spin", "while :; do sleep 0.1; done")])
    out = _run(tmp_path, sc, profile)
    stats = {f"{s.name}.{s.worker}": s for s in driver.parse_output(out)}
    assert stats["cat.0"].reads == 10 and stats["cat.1"].reads == 10
    assert stats["cat.0"].failures == 0 and stats["cat.0"].bytes == 1000
    assert stats["cat.0"].kept == 2
    assert len(list((tmp_path / "guest" / "keep").glob("cat.*"))) == 4
    assert stats["flaky.0"].reads == 3 and stats["flaky.0"].failures == 2
    assert stats["flaky.0"].errors == ["Resource temporarily unavailable"]
    assert stats["short.0"].short == 2 and stats["short.0"].events[0] == "short 1 size=2"
    assert "driver: done" in out


def test_duration_bounded_and_loads_stopped(tmp_path: Path) -> None:
    profile = tmp_path / "profile"
    profile.write_bytes(b"y")
    marker = tmp_path / "load-ran"
    sc = Scenario("t", "t", tmp_path / "t.toml",
                  readers=[Reader("cat", 'cat "$PROFILE"', duration=2)],
                  loads=[Load("tick", f"touch {marker}", interval=0.2)])
    out = _run(tmp_path, sc, profile)
    (st,) = driver.parse_output(out)
    assert st.reads > 5
    assert marker.exists()
    ps = subprocess.run(["pgrep", "-f", str(tmp_path / "guest" / "driver.sh")],
                        capture_output=True, text=True, check=False)
    assert ps.stdout.strip() == "", "loads must be stopped"


def test_config_quotes_untrusted_text(tmp_path: Path) -> None:
    sc = Scenario("t", "t", tmp_path / "t.toml",
                  readers=[Reader("r", "echo '$(touch /tmp/pwned)'; cat x", iterations=1)])
    text = driver.config_text(sc, profile="/p'; rm -rf /", reset="/r")
    env = subprocess.run(["sh", "-c", text + '\nprintf %s "$PROFILE"'], capture_output=True,
                         text=True, check=True)
    assert env.stdout == "/p'; rm -rf /"
