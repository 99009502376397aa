"""One job on a pool slot: lease, watch the host, run, annotate; infra retries by attempt.

Both engines run a job through :func:`execute`, the local pool in a thread per slot, Dask in
a worker task. Retries are attempts of their own: attempt ``k > 0`` is the same job with
``attempt_tag`` ``"<tag>+infra-retry-k"`` (so its own job id and run directory). Which
attempt comes next is read from the stored results, so running the same job again (Dask
reruns a task whose worker died) returns the stored result instead of running twice.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator import ui
from orchestrator.job import Job
from orchestrator.pool.annotate import annotate, store
from orchestrator.pool.host import demand_of_scenario
from orchestrator.pool.pressure import PressureWatch
from orchestrator.pool.slots import SlotBook

RunOne = Callable[[Job], dict[str, Any]]
#: error reasons that another attempt may not repeat (host trouble, not the kernel or input)
TRANSIENT_PREFIXES = ("qemu-", "ssh-")
TRANSIENT_REASONS = frozenset({"boot-timeout", "interrupted", "infra", "ssh-not-ready"})


class InfraRetry(Exception):
    """Raised by a Dask task to have Dask run it again (the next attempt)."""


def is_transient(result: dict[str, Any]) -> bool:
    if result.get("verdict") != "error":
        return False
    code = str(result.get("reason_code") or "")
    return code in TRANSIENT_REASONS or code.startswith(TRANSIENT_PREFIXES)


def attempt(job: Job, k: int) -> Job:
    """The k-th attempt of ``job`` (0: the job itself)."""
    if k == 0:
        return job
    return dataclasses.replace(job, attempt_tag=f"{job.attempt_tag}+infra-retry-{k}",
                               job_id="")


def stored_result(job: Job) -> dict[str, Any] | None:
    """The job's stored result.json, unless missing, unreadable or interrupted."""
    try:
        data = json.loads((Path(job.out_root) / job.job_id / "result.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("reason_code") == "interrupted":
        return None
    return data


def log_sink(job: Job) -> Callable[[str], None]:
    """Progress lines of one job go to ``<out_root>/pool-logs/<job_id>.log``."""
    path = Path(job.out_root) / "pool-logs" / f"{job.job_id}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = threading.Lock()

    def sink(line: str) -> None:
        with lock, open(path, "a") as fh:
            fh.write(f"{time.strftime('%H:%M:%S')} {line}\n")
    return sink


def execute(job: Job, run_one: RunOne, book: SlotBook, *, overcommit: bool = False,
            engine: str = "local", max_retries: int = 0, raise_for_retry: bool = False,
            cancel: threading.Event | None = None,
            on_start: Callable[[Job, int], None] | None = None,
            worker: str = "") -> dict[str, Any]:
    """Run ``job`` (or its next attempt) on a leased slot and return the annotated result.

    With ``raise_for_retry`` (Dask), a transient infrastructure error with attempts left
    raises :class:`InfraRetry` so the engine schedules the task again; otherwise the next
    attempt runs here, up to ``max_retries``.
    """
    earlier: list[dict[str, Any]] = []
    for k in range(max_retries + 1):
        current = attempt(job, k)
        done = stored_result(current)
        if done is not None:
            if is_transient(done) and k < max_retries:
                earlier.append({"job_id": current.job_id, "reason_code": done["reason_code"]})
                continue
            return _with_attempts(done, earlier)
        result = _run_on_slot(current, run_one, book, overcommit=overcommit, engine=engine,
                              cancel=cancel, on_start=on_start, worker=worker)
        if is_transient(result) and k < max_retries:
            earlier.append({"job_id": current.job_id, "reason_code": result["reason_code"]})
            if raise_for_retry:
                raise InfraRetry(f"job {job.job_id}: {result.get('reason_code')}: "
                                 f"{result.get('reason')}")
            continue
        return _with_attempts(result, earlier)
    raise AssertionError("unreachable")  # pragma: no cover


def _with_attempts(result: dict[str, Any], earlier: list[dict[str, Any]]) -> dict[str, Any]:
    if earlier:
        result["attempts"] = [*earlier, {"job_id": result.get("job_id"),
                                         "reason_code": result.get("reason_code")}]
    return result


def _run_on_slot(job: Job, run_one: RunOne, book: SlotBook, *, overcommit: bool,
                 engine: str, cancel: threading.Event | None,
                 on_start: Callable[[Job, int], None] | None, worker: str) -> dict[str, Any]:
    demand = demand_of_scenario(job.scenario_text, job.accel)
    label = f"{job.job_id} {job.scenario_origin}"
    with book.acquire(demand, overcommit=overcommit, label=label, cancel=cancel) as lease:
        if on_start is not None:
            on_start(job, lease.slot)
        t0, started_at = time.monotonic(), time.time()
        with ui.route(log_sink(job)), PressureWatch(book.host.cpus) as watch:
            result = run_one(job)
        info: dict[str, Any] = {
            "engine": engine, "worker": worker, "slot": lease.slot,
            "vcpus": lease.demand.vcpus, "memory_mb": lease.demand.memory_mb,
            "host_cpus": book.host.cpus, "running_vcpus": lease.running_vcpus,
            "overcommitted": lease.overcommitted, "waited_s": lease.waited_s,
            "held_s": round(time.monotonic() - t0, 3),
            "started_at": round(started_at, 3), "ended_at": round(time.time(), 3),
            "cpu_pressure_max": watch.max_psi, "load1_max": watch.max_load1,
            "starved": watch.starved,
        }
    annotate(result, info)
    store(result)
    return result


def error_result(job: Job, reason_code: str, reason: str) -> dict[str, Any]:
    """A result (contract shape) for a job the engine lost before it produced one."""
    run_dir = str(Path(job.out_root) / job.job_id)
    kernel = dict.fromkeys(("error", "key", "cached", "result_dir", "log", "tree", "commit",
                            "rev", "vmlinux", "vmlinux_sha256", "warnings"))
    return {"job_id": job.job_id, "scenario": job.scenario_origin, "run_dir": run_dir,
            "verdict": "error", "exit_code": 2, "reason": reason, "reason_code": reason_code,
            "reproduced": None, "findings": [], "reads": {"total": 0, "failed": 0, "short": 0},
            "profiles": [], "kernel": {"ok": False, **kernel}, "hang": None,
            "timings_s": {"total": 0.0}}
