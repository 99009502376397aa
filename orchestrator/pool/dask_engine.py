"""The Dask engine: jobs as Dask tasks on workers across hosts (``pgo-orch[dist]``).

Every job is a task running :func:`orchestrator.job.run_job` (through ``execute``: a lease
on the worker's host, pressure watch, annotation) that needs the worker resource
``qemu=1``; every distinct kernel is a task of its own needing ``build=1``, which the jobs
that boot it depend on. Workers declare what they offer::

    dask worker tcp://HOST:8786 --nthreads 2 --resources "qemu=2,build=1"

Task keys are ``pgo-run-<job_id>``: the scheduler never runs one job twice at once, and a
task Dask reruns after its worker died finds the stored result (``run_job`` is idempotent by
job id), or reruns a run that never finished. Dask's own retries are used only for
transient infrastructure errors (``execute.InfraRetry``); a worker lost three times with the
same task becomes an ``error`` result, never a kernel verdict.

Without ``--scheduler`` a LocalCluster with one single-threaded worker per slot is started.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from orchestrator.errors import InfraError, InvalidInput, ToolMissing
from orchestrator.job import Job
from orchestrator.pool.execute import InfraRetry, error_result
from orchestrator.pool.host import default_slots, demand_of_scenario
from orchestrator.pool.prebuild import distinct_kernels, kernel_identity
from orchestrator.pool.progress import Progress

if TYPE_CHECKING:
    from distributed import Client

#: transient infrastructure errors get this many more attempts
INFRA_RETRIES = 1
#: a result carrying this key stands for an InvalidInput raised on the worker
INVALID_INPUT_KEY = "_invalid_input"
CONNECT_TIMEOUT_S = 20.0
WORKERS_TIMEOUT_S = 60.0


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ToolMissing("dask distributed",
                          "pip install 'pgo-orch[dist]' (or: pip install 'dask[distributed]')"
                          ) from exc
    return distributed


# -- tasks (run on workers; module-level so workers import them by name) -------------------

def build_task(job_json: dict[str, Any]) -> dict[str, Any]:
    """Build (or find cached) the kernel of a job on this worker's host."""
    from orchestrator.pool.prebuild import build_kernel

    try:
        return build_kernel(Job.from_json(job_json))
    except InvalidInput as exc:  # the run task of this job reports it (never retried)
        return {"ok": False, "reason_code": exc.reason, "error": exc.message}


def run_task(job_json: dict[str, Any], build_status: dict[str, Any] | None,
             overcommit: bool, max_retries: int) -> dict[str, Any]:
    """Run one job on this worker (a lease on this host's budget first)."""
    from orchestrator.job import run_job
    from orchestrator.pool.execute import execute
    from orchestrator.pool.slots import SlotBook

    distributed = _import_distributed()
    try:
        worker = str(distributed.get_worker().address)
    except ValueError:
        worker = ""
    job = Job.from_json(job_json)
    try:
        result = execute(job, run_job, SlotBook(), overcommit=overcommit, engine="dask",
                         max_retries=max_retries, raise_for_retry=True, worker=worker)
    except InfraRetry:
        raise  # the one exception Dask retries
    except InvalidInput as exc:  # never retried; the client raises it again
        result = error_result(job, "invalid-input", exc.message)
        result[INVALID_INPUT_KEY] = {"message": exc.message, "reason": exc.reason}
    except Exception as exc:  # noqa: BLE001 - a pgo-orch bug on a worker: not retried
        result = error_result(job, "infra", f"internal error on worker {worker}: "
                              f"{type(exc).__name__}: {exc}")
    if build_status is not None:
        result.setdefault("pool", {})["build_task"] = build_status
    return result


# -- the Runner ----------------------------------------------------------------------------

class DaskRunner:
    """A :data:`orchestrator.job.Runner` on a Dask scheduler (or a LocalCluster)."""

    def __init__(self, scheduler: str | None = None, slots: int | None = None, *,
                 overcommit: bool = False, max_retries: int = INFRA_RETRIES,
                 client: Client | None = None, progress: Progress | None = None,
                 build: bool = True, connect_timeout: float = CONNECT_TIMEOUT_S) -> None:
        if slots is not None and slots < 1:
            raise InvalidInput(f"slots must be at least 1, got {slots}", field="--slots")
        self.scheduler = scheduler
        self.slots = slots
        self.overcommit = overcommit
        self.max_retries = max_retries
        self.client = client
        self.progress = progress
        self.build = build
        self.connect_timeout = connect_timeout

    @contextlib.contextmanager
    def _client(self, jobs: Sequence[Job]) -> Iterator[Client]:
        distributed = _import_distributed()
        if self.client is not None:
            yield self.client
            return
        if self.scheduler:
            try:
                client = distributed.Client(self.scheduler, timeout=self.connect_timeout)
            except (OSError, TimeoutError) as exc:
                raise InfraError(f"cannot reach the Dask scheduler {self.scheduler}: {exc}",
                                 reason="dask-unreachable") from exc
            with client:
                yield client
            return
        n = self.slots or default_slots(
            max(demand_of_scenario(j.scenario_text, j.accel).vcpus for j in jobs))
        with distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                      host="127.0.0.1", dashboard_address=None,
                                      resources={"qemu": 1, "build": 1}) as cluster, \
                distributed.Client(cluster) as client:
            yield client

    def __call__(self, jobs: Sequence[Job]) -> list[dict[str, Any]]:
        jobs = list(jobs)
        if not jobs:
            return []
        progress = self.progress or Progress(jobs, live=False)
        with self._client(jobs) as client:
            build = _check_workers(client, progress)
            return self._run(client, jobs, progress, build and self.build)

    def _run(self, client: Client, jobs: list[Job], progress: Progress,
             build: bool) -> list[dict[str, Any]]:
        distributed = _import_distributed()
        builds: dict[str, Any] = {}
        if build:
            for rep, _group in distinct_kernels(jobs):
                ident = kernel_identity(rep)
                key = "pgo-build-" + hashlib.sha256(ident.encode()).hexdigest()[:16]
                builds[ident] = client.submit(build_task, rep.to_json(), key=key,
                                              resources={"build": 1}, pure=False)
        futures = []
        for j in jobs:
            dep = builds.get(kernel_identity(j))
            futures.append(client.submit(run_task, j.to_json(), dep, self.overcommit,
                                         self.max_retries, key=f"pgo-run-{j.job_id}",
                                         resources={"qemu": 1}, retries=self.max_retries,
                                         pure=False))
        where = getattr(client.scheduler, "address", "?")
        progress.note(f"{len(jobs)} run(s) submitted to {where}, "
                      f"{len(builds)} kernel build task(s)")
        by_key = {f.key: j for f, j in zip(futures, jobs, strict=True)}
        results: dict[str, dict[str, Any]] = {}
        try:
            for fut in distributed.as_completed(futures):
                job = by_key[fut.key]
                res = _outcome(fut, job)
                results[job.job_id] = res
                progress.finished(job, res)
        except BaseException:  # invalid input or Ctrl-C: nothing more of this batch runs
            client.cancel([*futures, *builds.values()])  # type: ignore[no-untyped-call]
            raise
        return [results[j.job_id] for j in jobs]


def _outcome(fut: Any, job: Job) -> dict[str, Any]:
    """The result of a finished task; a lost worker or an exhausted retry is an error."""
    try:
        res = dict(fut.result())
    except InvalidInput:
        raise
    except Exception as exc:  # noqa: BLE001 - KilledWorker, InfraRetry, worker-side bugs
        name = type(exc).__name__
        code = "dask-killed-worker" if name == "KilledWorker" else "infra"
        return error_result(job, code, f"{name}: {exc}")
    bad = res.pop(INVALID_INPUT_KEY, None)
    if isinstance(bad, dict):
        raise InvalidInput(str(bad.get("message")), reason=str(bad.get("reason")))
    return res


def _check_workers(client: Client, progress: Progress) -> bool:
    """At least one worker offers ``qemu``; returns whether any offers ``build``."""
    try:
        client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S)
    except TimeoutError as exc:
        raise InfraError(f"no Dask worker joined within {WORKERS_TIMEOUT_S:.0f}s",
                         reason="dask-no-workers") from exc
    workers = client.scheduler_info().get("workers", {})
    res = [w.get("resources", {}) for w in workers.values()]
    if not any(r.get("qemu") for r in res):
        raise InfraError("no Dask worker offers the resource qemu: start workers with "
                         "--resources 'qemu=1,build=1'", reason="dask-no-qemu-worker")
    if not any(r.get("build") for r in res):
        progress.note("no Dask worker offers build=1: each run builds its kernel itself")
        return False
    return True
