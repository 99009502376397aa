"""The Dask engine on real guests: a LocalCluster of 2 workers, one killed mid-run.

Cost on a 2-core TCG machine with the default kernel cached: about 2-3 min.
"""

from __future__ import annotations

import io
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from orchestrator.job import Job
from orchestrator.kernel import build as kbuild
from orchestrator.pool.dask_engine import DaskRunner
from orchestrator.pool.progress import Progress
from tests.pool.test_pool_real import short_scenarios

pytestmark = [pytest.mark.vm, pytest.mark.slow, pytest.mark.usefixtures("no_leaked_qemu")]


def _wait_for(cond: Any, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_worker_killed_mid_run_the_job_reruns_elsewhere_and_is_reported_once(
        default_kernel: kbuild.BuildResult, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    out = tmp_path / "out"
    files = short_scenarios(tmp_path, ["da", "db"])
    jobs = [Job(scenario_text=Path(f).read_text(), out_root=str(out), scenario_origin=f)
            for f in files]
    victim = jobs[0]
    console = out / victim.job_id / "console.log"
    progress_text = io.StringIO()
    got: dict[str, Any] = {}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None,
                                  resources={"qemu": 1, "build": 1}) as cluster, \
            distributed.Client(cluster) as client:
        runner = DaskRunner(client=client,
                            progress=Progress([], stream=progress_text, live=False))
        t = threading.Thread(target=lambda: got.update(results=runner(jobs)))
        t.start()
        _wait_for(lambda: console.exists() and console.stat().st_size > 200, 300,
                  "the victim's guest to boot")
        key = f"pgo-run-{victim.job_id}"
        where = [a for a, keys in client.processing().items() if key in map(str, keys)]
        assert len(where) == 1, client.processing()
        killed = where[0]
        pid = client.run(os.getpid, workers=[killed])[killed]
        os.kill(pid, signal.SIGKILL)
        t.join(900)
        assert not t.is_alive()
    res = got["results"]
    assert [r["verdict"] for r in res] == ["pass", "pass"], res
    assert [r["job_id"] for r in res] == [j.job_id for j in jobs]
    assert res[0]["pool"]["worker"] != killed  # rerun on another (or a restarted) worker
    assert res[0]["pool"]["engine"] == "dask"
    # reported once: one line for the victim, one run directory with one result
    lines = [ln for ln in progress_text.getvalue().splitlines() if victim.job_id in ln]
    assert len(lines) == 1 and "PASS" in lines[0], progress_text.getvalue()
    stored = json.loads((out / victim.job_id / "result.json").read_text())
    assert stored["verdict"] == "pass" and stored["job_id"] == victim.job_id
    assert sorted(p.name for p in out.iterdir() if p.name != "pool-logs") == \
        sorted(j.job_id for j in jobs)
