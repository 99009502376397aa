"""The pool on real guests (one host, TCG, 2 CPUs): slots, two processes, the budget.

Cost on a 2-core TCG machine with the default kernel cached: about 1.5 min each for the
first two tests (4 short guests, 2 at a time).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from orchestrator.kernel import build as kbuild
from orchestrator.paths import SCENARIOS_DIR

pytestmark = [pytest.mark.vm, pytest.mark.slow, pytest.mark.usefixtures("no_leaked_qemu")]


def short_scenarios(tmp_path: Path, names: list[str]) -> list[str]:
    """Copies of proc-version with one vCPU and two reads each."""
    base = (SCENARIOS_DIR / "proc-version.toml").read_text()
    out = []
    for n in names:
        text = base.replace('name = "proc-version"', f'name = "{n}"')
        text = text.replace("iterations = 5", "iterations = 2")
        f = tmp_path / f"{n}.toml"
        f.write_text(text + "\n[machine]\ncpus = 1\nmemory_mb = 512\n")
        out.append(str(f))
    return out


def pgo_orch(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "orchestrator.cli", "run", "--json", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str], timeout: float = 900) -> tuple[int, dict[str, Any], str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, (json.loads(out) if out.strip() else {}), err


def results(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [json.loads((Path(r["run_dir"]) / "result.json").read_text()) for r in runs]


def max_overlap(res: list[dict[str, Any]]) -> int:
    """Most guests that held a lease at the same moment."""
    events = sorted([(r["pool"]["started_at"], 1) for r in res]
                    + [(r["pool"]["ended_at"], -1) for r in res], key=lambda e: (e[0], e[1]))
    now = peak = 0
    for _, d in events:
        now += d
        peak = max(peak, now)
    return peak


def ssh_port(result: dict[str, Any]) -> int:
    """The host port QEMU bound for the guest's SSH (the command line asks for port 0 and
    pgo-orch reads the bound one back, so it is in the result, not in qemu.cmdline)."""
    port = result["boot"]["ssh_port"]
    assert isinstance(port, int) and port > 0, result["run_dir"]
    assert "hostfwd=tcp:127.0.0.1:0-:22" in (Path(result["run_dir"]) / "qemu.cmdline").read_text()
    return port


def check_no_collision(res: list[dict[str, Any]]) -> None:
    """Guests that ran at the same time had their own ports; all booted the same kernel."""
    for a in res:
        for b in res:
            if a is b:
                continue
            overlap = (a["pool"]["started_at"] < b["pool"]["ended_at"]
                       and b["pool"]["started_at"] < a["pool"]["ended_at"])
            if overlap:
                assert ssh_port(a) != ssh_port(b)
    assert len({r["kernel"]["key"] for r in res}) == 1
    assert all(r["kernel"]["ok"] for r in res)


def test_slots_2_runs_four_short_scenarios_two_at_a_time(
        default_kernel: kbuild.BuildResult, tmp_path: Path) -> None:
    files = short_scenarios(tmp_path, ["pa", "pb", "pc", "pd"])
    code, data, err = finish(pgo_orch(*files, "--slots", "2", "--out", str(tmp_path / "b")))
    assert code == 0, err
    runs = data["runs"]
    assert [r["verdict"] for r in runs] == ["pass"] * 4, err
    assert [Path(r["scenario"]).stem for r in runs] == ["pa", "pb", "pc", "pd"]
    res = results(runs)
    assert max_overlap(res) == 2  # two at once, never three
    assert {r["pool"]["slot"] for r in res} == {0, 1}
    assert not any(r["pool"]["overcommitted"] for r in res)
    check_no_collision(res)
    # progress: one [pool] line per guest event with the job id, no guest phase noise
    for r in runs:
        assert len([ln for ln in err.splitlines() if r["job_id"] in ln]) == 2, err
    assert "[run] booting" not in err and "[vm] accelerator" not in err


def test_two_processes_on_one_cache_share_the_budget(
        default_kernel: kbuild.BuildResult, tmp_path: Path) -> None:
    files = short_scenarios(tmp_path, ["qa", "qb", "qc", "qd"])
    p1 = pgo_orch(*files[:2], "--slots", "2", "--out", str(tmp_path / "b1"))
    p2 = pgo_orch(*files[2:], "--slots", "2", "--out", str(tmp_path / "b2"))
    (c1, d1, e1), (c2, d2, e2) = finish(p1), finish(p2)
    assert (c1, c2) == (0, 0), e1 + e2
    runs = d1["runs"] + d2["runs"]
    assert [r["verdict"] for r in runs] == ["pass"] * 4
    res = results(runs)
    assert max_overlap(res) <= 2  # the two processes never ran more than 2 vCPUs together
    assert max(r["pool"]["running_vcpus"] for r in res) <= 2
    check_no_collision(res)


def test_a_plain_run_waits_for_a_slot_held_by_another_process(
        default_kernel: kbuild.BuildResult, tmp_path: Path) -> None:
    """`pgo-orch run X` (no batch) takes a lease too: with the host's 2 CPUs leased by
    another process, it waits, and boots once they are free."""
    from orchestrator.pool.host import Demand
    from orchestrator.pool.slots import SlotBook

    book = SlotBook()
    with book.acquire(Demand(2, 512), label="test holds the host"):
        (f,) = short_scenarios(tmp_path, ["plain"])
        proc = pgo_orch(f, "--out", str(tmp_path / "run"))
        time.sleep(8)
        assert proc.poll() is None
        assert not (tmp_path / "run" / "console.log").exists()  # not booted while held
    code, data, err = finish(proc)
    assert code == 0 and data["verdict"] == "pass", err
    assert "waited" in err
