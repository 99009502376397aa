"""The local pool with a fake run_job: slots, the shared budget, order, annotation, retries."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from orchestrator.errors import InvalidInput
from orchestrator.job import Job
from orchestrator.pool import execute as pexec
from orchestrator.pool.host import Host
from orchestrator.pool.local import LocalPool
from orchestrator.pool.progress import Progress
from orchestrator.pool.slots import SlotBook
from tests.pool.fakes import FakeRun, scenario

HOST = Host(cpus=2, memory_mb=24 * 1024)


def _jobs(tmp_path: Path, names: list[str], cpus: int = 1) -> list[Job]:
    return [Job(scenario_text=scenario(n, cpus), out_root=str(tmp_path / "out"),
                scenario_origin=f"scenarios/{n}.toml") for n in names]


def _pool(tmp_path: Path, run: FakeRun, slots: int | None, host: Host = HOST,
          **kw: object) -> tuple[LocalPool, io.StringIO]:
    out = io.StringIO()
    book = SlotBook(tmp_path / "pool", host)
    return LocalPool(slots, run_one=run, build_one=None, book=book,
                     progress=Progress([], stream=out, live=False), **kw), out  # type: ignore[arg-type]


def test_two_slots_run_two_at_once_results_in_order(tmp_path: Path) -> None:
    run = FakeRun(0.4)
    pool, out = _pool(tmp_path, run, 2)
    jobs = _jobs(tmp_path, ["a", "b", "c", "d"])
    results = pool(jobs)
    assert [r["scenario"] for r in results] == ["a", "b", "c", "d"]
    assert [r["job_id"] for r in results] == [j.job_id for j in jobs]
    assert run.max_running == 2
    assert {r["pool"]["slot"] for r in results} == {0, 1}
    # one line per guest event, each with its job id; nothing else from the guests
    lines = [ln for ln in out.getvalue().splitlines() if ln]
    for j in jobs:
        mine = [ln for ln in lines if j.job_id in ln]
        assert len(mine) == 2 and "started on slot" in mine[0] and "PASS" in mine[1]
    assert all(ln.startswith("[pool] ") for ln in lines)


def test_the_vcpu_budget_holds_back_a_second_two_vcpu_guest(tmp_path: Path) -> None:
    run = FakeRun(0.3)
    pool, _ = _pool(tmp_path, run, 2)
    pool(_jobs(tmp_path, ["a", "b", "c"], cpus=2))
    assert run.max_running == 1  # 2 + 2 vCPUs do not fit 2 CPUs


def test_overcommit_lets_them_run_and_marks_lockups(tmp_path: Path) -> None:
    lockup = {"verdict": "fail", "findings": [
        {"key": "soft-lockup|watchdog: BUG: soft lockup in f", "class": "soft-lockup",
         "title": "watchdog: BUG: soft lockup in f"},
        {"key": "sleep-in-atomic|BUG: x", "class": "sleep-in-atomic", "title": "BUG: x"}]}
    run = FakeRun(0.4, results={"a": lockup, "b": lockup})
    pool, out = _pool(tmp_path, run, 2, overcommit=True)
    results = pool(_jobs(tmp_path, ["a", "b"], cpus=2))
    assert run.max_running == 2
    over = [r for r in results if r["pool"]["overcommitted"]]
    assert len(over) == 1  # the first fit, the second was the overcommitted one
    r = over[0]
    assert "overcommitted host (4 vCPUs on 2 CPUs)" in r["findings"][0]["host_note"]
    assert "host_note" not in r["findings"][1]  # not a starvation class
    assert r["pool"]["suspect_findings"] == ["soft-lockup|watchdog: BUG: soft lockup in f"]
    assert r["verdict"] == "fail"  # the note never hides a finding
    stored = json.loads((Path(r["run_dir"]) / "result.json").read_text())
    assert stored["pool"]["overcommitted"] is True  # result.json carries the note too
    report = json.loads((Path(r["run_dir"]) / "report.json").read_text())
    assert report["pool"]["overcommitted"] is True
    assert "overcommitted host" in report["findings"][0]["host_note"]
    assert "may be the host's doing" in out.getvalue()


def test_default_slots_follow_the_guests_vcpus(tmp_path: Path) -> None:
    pool, _ = _pool(tmp_path, FakeRun(), None)
    assert pool.slots_for(_jobs(tmp_path, ["a", "b"], cpus=2)) == 1
    assert pool.slots_for(_jobs(tmp_path, ["a", "b"], cpus=1)) == 2


def test_an_invalid_job_cancels_the_rest_and_is_raised(tmp_path: Path) -> None:
    run = FakeRun(0.3)

    def one(job: Job) -> dict[str, object]:
        if '"bad"' in job.scenario_text:
            raise InvalidInput("bad scenario", path="bad.toml", line=1)
        return run(job)

    out = io.StringIO()
    pool = LocalPool(1, run_one=one, build_one=None, book=SlotBook(tmp_path / "p", HOST),
                     progress=Progress([], stream=out, live=False))
    with pytest.raises(InvalidInput, match="bad scenario"):
        pool(_jobs(tmp_path, ["a", "bad", "c", "d"]))
    assert len(run.calls) == 1  # a ran; c and d were never started


def test_rerun_returns_the_stored_result(tmp_path: Path) -> None:
    run = FakeRun(0.05)
    pool, _ = _pool(tmp_path, run, 2)
    jobs = _jobs(tmp_path, ["a", "b"])
    first = pool(jobs)
    second = pool(jobs)
    assert len(run.calls) == 2
    assert [r["job_id"] for r in second] == [r["job_id"] for r in first]


def test_transient_infra_errors_get_another_attempt(tmp_path: Path) -> None:
    calls: list[str] = []

    def flaky(job: Job) -> dict[str, object]:
        calls.append(job.job_id)
        run_dir = Path(job.out_root) / job.job_id
        run_dir.mkdir(parents=True)
        bad = len(calls) == 1
        res = {"job_id": job.job_id, "run_dir": str(run_dir), "findings": [],
               "verdict": "error" if bad else "pass",
               "reason_code": "qemu-failed" if bad else ""}
        (run_dir / "result.json").write_text(json.dumps(res))
        return res

    book = SlotBook(tmp_path / "p", HOST)
    job = _jobs(tmp_path, ["a"])[0]
    res = pexec.execute(job, flaky, book, max_retries=1)
    assert res["verdict"] == "pass" and len(calls) == 2
    assert res["job_id"] == pexec.attempt(job, 1).job_id != job.job_id
    assert [a["reason_code"] for a in res["attempts"]] == ["qemu-failed", ""]
    # the same job again: both attempts are stored, nothing runs
    again = pexec.execute(job, flaky, book, max_retries=1)
    assert len(calls) == 2 and again["verdict"] == "pass"
    # Dask mode raises for the retry instead of looping
    job2 = _jobs(tmp_path, ["b"])[0]
    calls.clear()
    with pytest.raises(pexec.InfraRetry):
        pexec.execute(job2, flaky, book, max_retries=1, raise_for_retry=True)
    res2 = pexec.execute(job2, flaky, book, max_retries=1, raise_for_retry=True)
    assert res2["verdict"] == "pass" and len(calls) == 2


def test_a_kernel_verdict_is_never_retried(tmp_path: Path) -> None:
    run = FakeRun(0.01, results={"a": {"verdict": "fail", "reason_code": "kernel-finding"},
                                 "b": {"verdict": "error", "reason_code": "build-failed"}})
    book = SlotBook(tmp_path / "p", HOST)
    for job in _jobs(tmp_path, ["a", "b"]):
        pexec.execute(job, run, book, max_retries=2)
    assert len(run.calls) == 2


def test_guest_phase_lines_go_to_the_guests_log(tmp_path: Path) -> None:
    from orchestrator import ui

    def chatty(job: Job) -> dict[str, object]:
        ui.say("run", f"booting {job.job_id}")
        return FakeRun(0.01)(job)

    out = io.StringIO()
    pool = LocalPool(2, run_one=chatty, build_one=None, book=SlotBook(tmp_path / "p", HOST),
                     progress=Progress([], stream=out, live=False))
    jobs = _jobs(tmp_path, ["a", "b"])
    pool(jobs)
    assert "booting" not in out.getvalue()
    for j in jobs:
        log = (tmp_path / "out" / "pool-logs" / f"{j.job_id}.log").read_text()
        assert re.search(rf"\[run\] booting {j.job_id}", log)


def test_live_table_on_a_terminal(tmp_path: Path) -> None:
    out = io.StringIO()
    jobs = _jobs(tmp_path, ["a", "b"])
    prog = Progress(jobs, stream=out, live=True)
    prog.started(jobs[0], 0)
    prog.tick()
    prog.finished(jobs[0], {"verdict": "pass", "reason": "ok"})
    text = out.getvalue()
    assert "\x1b[" in text and "1/2 done" in text and f"{jobs[0].job_id} a: PASS" in text
