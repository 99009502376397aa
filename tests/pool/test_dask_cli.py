"""``--engine dask --scheduler tcp://...`` against a real ``dask scheduler`` and ``dask worker``
started from their command lines (as on two hosts, here on 127.0.0.1). The job is one that
cannot run (its scenario text is broken), so no kernel or guest is needed: the invalid input
travels from the worker back to ``pgo-orch run`` as exit 3."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("distributed")

from orchestrator.errors import InfraError, InvalidInput  # noqa: E402
from orchestrator.job import Job  # noqa: E402
from orchestrator.pool.dask_engine import DaskRunner  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def scheduler(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    logs = open(tmp_path / "dask.log", "w")  # noqa: SIM115
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler",
                               "--host", "127.0.0.1", "--port", str(port),
                               "--dashboard-address", ":0", "--no-show"],
                              stdout=logs, stderr=logs)]
    procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", addr,
                                   "--nthreads", "1", "--resources", "qemu=1,build=1",
                                   "--no-dashboard", "--host", "127.0.0.1"],
                                  stdout=logs, stderr=logs))
    try:
        yield addr
    finally:
        for p in procs:
            p.kill()
            p.wait()
        logs.close()


def test_invalid_input_on_a_remote_worker_is_invalid_input_here(
        scheduler: str, tmp_path: Path) -> None:
    job = Job(scenario_text='name = "x"\nbogus = 1\n', out_root=str(tmp_path / "out"),
              scenario_origin="broken.toml")
    t0 = time.monotonic()
    with pytest.raises(InvalidInput, match="bogus"):
        DaskRunner(scheduler)([job])
    assert time.monotonic() - t0 < 60


def test_an_unreachable_scheduler_is_an_infrastructure_error(tmp_path: Path) -> None:
    job = Job(scenario_text='name = "x"\n', out_root=str(tmp_path))
    with pytest.raises(InfraError, match="cannot reach the Dask scheduler"):
        DaskRunner(f"tcp://127.0.0.1:{_free_port()}", connect_timeout=2)([job])
