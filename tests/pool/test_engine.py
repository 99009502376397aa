"""Engine selection (runner_for, the CLI arguments) and the Dask plumbing with a fake run."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from orchestrator.commands.engine_args import add_engine_arguments, runner_from_args
from orchestrator.errors import InvalidInput
from orchestrator.job import Job
from orchestrator.pool.dask_engine import DaskRunner
from orchestrator.pool.engine import runner_for
from orchestrator.pool.local import LocalPool
from orchestrator.pool.progress import Progress
from tests.pool.fakes import FakeRun, scenario


def _parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_engine_arguments(p)
    return p.parse_args(list(argv))


def test_engine_arguments() -> None:
    a = _parse()
    assert (a.engine, a.scheduler, a.slots, a.overcommit) == ("local", None, None, False)
    assert isinstance(runner_from_args(a), LocalPool)
    a = _parse("--engine", "dask", "--scheduler", "tcp://10.0.0.1:8786", "--slots", "3",
               "--overcommit")
    r = runner_from_args(a)
    assert isinstance(r, DaskRunner)
    assert (r.scheduler, r.slots, r.overcommit) == ("tcp://10.0.0.1:8786", 3, True)
    with pytest.raises(SystemExit):
        _parse("--slots", "0")


@pytest.mark.parametrize("kw,field", [
    ({"engine": "slurm"}, "--engine"),
    ({"engine": "local", "scheduler": "tcp://h:8786"}, "--scheduler"),
    ({"engine": "dask", "scheduler": "h:8786"}, "--scheduler"),
    ({"engine": "local", "slots": 0}, "--slots"),
])
def test_bad_engine_choices_are_invalid_input(kw: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput, match=field):
        runner_for(**kw)  # type: ignore[arg-type]


def test_dask_runner_runs_jobs_on_workers_with_the_qemu_resource(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    distributed = pytest.importorskip("distributed")
    monkeypatch.setenv("PGO_ORCH_CACHE", str(tmp_path / "cache"))
    run = FakeRun(0.2)
    import orchestrator.job

    monkeypatch.setattr(orchestrator.job, "run_job", run)
    jobs = [Job(scenario_text=scenario(n), out_root=str(tmp_path / "out"),
                scenario_origin=n) for n in ("a", "b", "c")]
    out = io.StringIO()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None, resources={"qemu": 1}) as cluster, \
            distributed.Client(cluster) as client:
        runner = DaskRunner(client=client, progress=Progress([], stream=out, live=False))
        results = runner(jobs)
        again = runner(jobs)  # same job ids: answered from the stored results
    assert [r["scenario"] for r in results] == ["a", "b", "c"]
    assert {r["pool"]["engine"] for r in results} == {"dask"}
    assert all(r["pool"]["worker"].startswith(("inproc://", "tcp://")) for r in results)
    assert len(run.calls) == 3 and [r["job_id"] for r in again] == [j.job_id for j in jobs]
    assert "no Dask worker offers build=1" in out.getvalue()


def test_dask_runner_refuses_workers_without_qemu(tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    from orchestrator.errors import InfraError

    jobs = [Job(scenario_text=scenario("a"), out_root=str(tmp_path))]
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=None) as c, \
            distributed.Client(c) as client, pytest.raises(InfraError, match="qemu=1"):
        DaskRunner(client=client, progress=Progress([], stream=io.StringIO()))(jobs)


def test_dask_invalid_input_is_raised_and_bugs_are_not_retried(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    distributed = pytest.importorskip("distributed")
    monkeypatch.setenv("PGO_ORCH_CACHE", str(tmp_path / "cache"))
    import orchestrator.job

    calls: list[str] = []

    def broken(job: Job) -> dict[str, object]:
        calls.append(job.job_id)
        if '"bad"' in job.scenario_text:
            raise InvalidInput("no such tree", field="job.tree")
        raise RuntimeError("a bug")

    monkeypatch.setattr(orchestrator.job, "run_job", broken)
    mk = lambda n: Job(scenario_text=scenario(n), out_root=str(tmp_path / "o"))  # noqa: E731
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None, resources={"qemu": 1}) as cluster, \
            distributed.Client(cluster) as client:
        runner = DaskRunner(client=client, progress=Progress([], stream=io.StringIO()))
        (res,) = runner([mk("buggy")])
        assert res["verdict"] == "error" and "RuntimeError: a bug" in res["reason"]
        assert len(calls) == 1  # a bug is not an infrastructure error: no retry
        with pytest.raises(InvalidInput, match="no such tree"):
            runner([mk("bad")])
        assert len(calls) == 2
