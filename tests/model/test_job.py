"""Job -> JSON -> run_job with a fake build and guest -> result JSON; idempotent; faults."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from orchestrator.errors import InvalidInput
from orchestrator.job import Job, run_job, run_serial
from orchestrator.results import RunResult
from tests.model import fakes

CONTRACT_KEYS = {"job_id", "scenario", "run_dir", "verdict", "exit_code", "reason",
                 "reason_code", "reproduced", "findings", "reads", "profiles", "kernel",
                 "hang", "timings_s"}
KERNEL_KEYS = {"ok", "error", "key", "cached", "result_dir", "log", "tree", "commit", "rev",
               "vmlinux", "vmlinux_sha256", "warnings"}
FINDING_KEYS = {"key", "class", "title", "guilty", "count", "corrupted", "fatal", "expected",
                "expected_reason", "report"}


def _job(tmp_path: Path, text: str = fakes.SCENARIO, **kw: object) -> Job:
    data = {"scenario_text": text, "out_root": str(tmp_path / "runs"), **kw}
    # through JSON, as a pool or engine would send it
    return Job.from_json(json.loads(json.dumps(data)))


def test_job_json_round_trip_and_stable_id(tmp_path: Path) -> None:
    job = _job(tmp_path, options=["CONFIG_X=y"], rev="v1")
    again = Job.from_json(json.loads(json.dumps(job.to_json())))
    assert again == job and len(job.job_id) == 16
    assert _job(tmp_path, options=["CONFIG_X=y"], rev="v1").job_id == job.job_id
    assert _job(tmp_path, options=["CONFIG_X=y"], rev="v2").job_id != job.job_id
    assert _job(tmp_path, attempt_tag="2").job_id != _job(tmp_path).job_id


@pytest.mark.parametrize("data,field", [
    ({"out_root": "/x"}, "job.scenario_text"),
    ({"scenario_text": "x", "out_root": "/x", "jobs": 0}, "job.jobs"),
    ({"scenario_text": "x", "out_root": "/x", "options": "CONFIG_X=y"}, "job.options"),
    ({"scenario_text": "x", "out_root": "/x", "colour": 1}, "job.colour"),
    ({"scenario_text": "x", "out_root": "/x", "job_id": "../etc"}, "job_id"),
])
def test_bad_job_json_is_invalid_input(data: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as ei:
        Job.from_json(data)
    assert ei.value.field == field


def test_run_job_returns_contract_json_and_is_idempotent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fakes.install(monkeypatch, tmp_path)
    job = _job(tmp_path)
    res = run_job(job)
    assert calls.build == 1 and calls.boot == 1
    assert set(res) >= CONTRACT_KEYS and set(res["kernel"]) >= KERNEL_KEYS
    assert res["verdict"] == "pass" and res["exit_code"] == 0 and res["reason_code"] == ""
    assert res["job_id"] == job.job_id and res["run_dir"] == str(job.run_dir.resolve())
    assert res["reads"] == {"total": 3, "failed": 0, "short": 0}
    assert res["reproduced"] is None and res["hang"] is None
    assert res["kernel"]["ok"] is True and res["kernel"]["commit"].startswith("c0ffee")
    assert res["kernel"]["warnings"] == 3 and res["kernel"]["vmlinux_sha256"] == "5" * 64
    assert [p["size"] for p in res["profiles"]] == [72]
    assert set(res["timings_s"]) >= {"build", "boot", "total"}
    stored = json.loads((job.run_dir / "result.json").read_text())
    assert stored == res
    assert RunResult.from_json(res).to_json() == res
    # a second call answers from disk: nothing is built or booted
    before = list(calls.commands)
    assert run_job(job) == res
    assert (calls.build, calls.boot) == (1, 1) and calls.commands == before
    assert run_serial([job, job]) == [res, res] and calls.boot == 1


def test_finding_expected_and_reproduced(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    fakes.install(monkeypatch, tmp_path, splat=True)
    expect = f'\n[expect]\ntitles = ["{fakes.SPLAT_TITLE}"]\n'
    res = run_job(_job(tmp_path, fakes.SCENARIO + expect))
    assert res["verdict"] == "fail" and res["reason_code"] == "kernel-finding"
    assert res["reproduced"] is True and res["exit_code"] == 1
    (f,) = res["findings"]
    assert set(f) >= FINDING_KEYS
    assert f["key"] == f"sleep-in-atomic|{fakes.SPLAT_TITLE}" and f["expected"] is False
    allow = (f'\n[[verdict.allow]]\ntitle = "{fakes.SPLAT_TITLE}"\nreason = "known"\n'
             '[expect]\ntitles = ["BUG: something else"]\n')
    res = run_job(_job(tmp_path, fakes.SCENARIO + allow))
    assert res["verdict"] == "pass" and res["reproduced"] is False
    (f,) = res["findings"]
    assert f["expected"] is True and f["expected_reason"] == "known"


def test_host_enospc_copying_a_profile_is_error_not_hang(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fakes.install(monkeypatch, tmp_path,
                  get_error=OSError(errno.ENOSPC, "No space left on device"))
    res = run_job(_job(tmp_path))
    assert res["verdict"] == "error" and res["exit_code"] == 2, res["reason"]
    assert res["reason_code"] == "infra" and "No space left" in res["reason"]
    assert res["hang"] is None


def test_ssh_failure_of_a_responsive_guest_is_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from orchestrator.vm.ssh import SshError

    fakes.install(monkeypatch, tmp_path,
                  get_error=SshError("channel closed", reason="ssh-channel"))
    res = run_job(_job(tmp_path))
    assert (res["verdict"], res["reason_code"]) == ("error", "ssh-channel")
    assert res["hang"] is None


def test_invalid_scenario_text_raises_with_origin(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as ei:
        run_job(_job(tmp_path, 'name = "x"\n', scenario_origin="gen:patch-3"))
    assert str(ei.value).startswith("gen:patch-3")
    assert not (tmp_path / "runs").exists()


def test_interrupted_result_is_rerun(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    fakes.install(monkeypatch, tmp_path, on_driver=interrupt, splat=True)
    job = _job(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run_job(job)
    for name in ("result.json", "report.json", "junit.xml"):
        assert (job.run_dir / name).is_file(), name
    res = json.loads((job.run_dir / "result.json").read_text())
    assert (res["verdict"], res["reason_code"], res["exit_code"]) == ("error", "interrupted", 2)
    assert [f["title"] for f in res["findings"]] == [fakes.SPLAT_TITLE]  # seen before the stop
    assert (job.run_dir / "console.log").is_file()
    calls = fakes.install(monkeypatch, tmp_path)
    again = run_job(job)
    assert again["verdict"] == "pass" and again["findings"] == [] and calls.boot == 1


@pytest.mark.parametrize("verdict,code,reused", [
    ("pass", "", True), ("fail", "kernel-finding", True), ("fail", "guest-hung", True),
    ("error", "build-failed", True), ("error", "config-mismatch", True),
    ("error", "requirement-missing", True), ("error", "profile-interface-missing", True),
    ("error", "boot-timeout", False), ("error", "ssh-timeout", False),
    ("error", "qemu-exited", False), ("error", "interrupted", False),
    ("error", "infra", False), ("error", "run-dir", False),
])
def test_only_final_stored_results_are_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              verdict: str, code: str, reused: bool) -> None:
    fakes.install(monkeypatch, tmp_path)
    job = _job(tmp_path)
    run_job(job)
    path = job.run_dir / "result.json"
    stored = json.loads(path.read_text())
    stored.update(verdict=verdict, reason_code=code, reason="stored")
    path.write_text(json.dumps(stored))
    calls = fakes.install(monkeypatch, tmp_path)
    res = run_job(job)
    if reused:
        assert res == stored and (calls.build, calls.boot) == (0, 0)
    else:
        assert (res["verdict"], res["reason_code"]) == ("pass", "") and calls.boot == 1
        assert json.loads(path.read_text()) == res


def test_unusable_out_root_is_an_error_result_not_an_exception(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fakes.install(monkeypatch, tmp_path)
    (tmp_path / "file").write_text("x")
    job = Job(scenario_text=fakes.SCENARIO, out_root=str(tmp_path / "file" / "runs"))
    res = run_job(job)
    assert (res["verdict"], res["exit_code"], res["reason_code"]) == ("error", 2, "run-dir")
    assert calls.boot == 0


def test_reports_that_cannot_be_written_still_give_the_value(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno as errno_

    from orchestrator.report import jsonreport

    def full_disk(*a: object) -> None:
        raise OSError(errno_.ENOSPC, "No space left on device")

    fakes.install(monkeypatch, tmp_path)
    monkeypatch.setattr(jsonreport, "write_result", full_disk)
    job = _job(tmp_path)
    res = run_job(job)
    assert (res["verdict"], res["reason_code"]) == ("error", "infra")
    assert "No space left" in res["reason"] and not (job.run_dir / "result.json").exists()


def test_same_job_twice_at_once_runs_once(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The second caller waits for the first one's claim, then reads its result."""
    import threading

    started, release = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        assert release.wait(30)

    calls = fakes.install(monkeypatch, tmp_path, on_driver=hold)
    job = _job(tmp_path)
    results: list[dict[str, object]] = []
    first = threading.Thread(target=lambda: results.append(run_job(job)))
    first.start()
    assert started.wait(30)
    second = threading.Thread(target=lambda: results.append(run_job(job)))
    second.start()
    second.join(0.5)
    assert second.is_alive()  # waiting for the claim, not running its own copy
    release.set()
    first.join(30)
    second.join(30)
    assert len(results) == 2 and results[0] == results[1] and calls.boot == 1
