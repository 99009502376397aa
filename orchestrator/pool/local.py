"""The local pool: a batch of jobs on this host, ``slots`` guests at a time.

Kernels are built first (``prebuild``), then one thread per slot takes the next job, waits
for a lease (the vCPU and memory budget shared with every pgo-orch process on the host, see
``slots``), runs it and releases the lease. Results come back in the order of the jobs. A job
that cannot be run at all (InvalidInput) cancels the jobs not yet started and is re-raised
once the running ones have finished; Ctrl-C kills the running guests at once.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from orchestrator import ui
from orchestrator.errors import InvalidInput
from orchestrator.job import Job, run_job
from orchestrator.pool.execute import RunOne, execute
from orchestrator.pool.host import default_slots, demand_of_scenario
from orchestrator.pool.prebuild import BuildOne, build_kernel, prebuild
from orchestrator.pool.progress import Progress
from orchestrator.pool.slots import SlotBook

TICK_S = 1.0


class LocalPool:
    """A :data:`orchestrator.job.Runner` running up to ``slots`` guests at once."""

    def __init__(self, slots: int | None = None, *, overcommit: bool = False,
                 run_one: RunOne | None = None, build_one: BuildOne | None = build_kernel,
                 book: SlotBook | None = None, progress: Progress | None = None,
                 max_retries: int = 0) -> None:
        if slots is not None and slots < 1:
            raise InvalidInput(f"slots must be at least 1, got {slots}", field="--slots")
        self.slots = slots
        self.overcommit = overcommit
        self.run_one = run_one or run_job
        self.build_one = build_one
        self.book = book
        self.progress = progress
        self.max_retries = max_retries

    def slots_for(self, jobs: Sequence[Job]) -> int:
        if self.slots is not None:
            return self.slots
        vcpus = max(demand_of_scenario(j.scenario_text, j.accel).vcpus for j in jobs)
        return default_slots(vcpus, (self.book or SlotBook()).host)

    def __call__(self, jobs: Sequence[Job]) -> list[dict[str, Any]]:
        jobs = list(jobs)
        if not jobs:
            return []
        book = self.book or SlotBook()
        slots = min(self.slots_for(jobs), len(jobs))
        progress = self.progress or Progress(jobs)
        progress.note(f"{len(jobs)} run(s) on {slots} slot(s); host {book.host.cpus} CPUs, "
                      f"{book.host.memory_mb} MiB; leases in {book.root}")
        if self.build_one is not None:
            prebuild(jobs, self.build_one, say=progress.note)
        cancel = threading.Event()
        if slots > 1:  # several guests: their phase lines go to their own logs
            ui.set_default_sink(_background_sink(jobs[0]))
        try:
            return self._run(jobs, slots, book, progress, cancel)
        finally:
            ui.set_default_sink(None)

    def _run(self, jobs: list[Job], slots: int, book: SlotBook, progress: Progress,
             cancel: threading.Event) -> list[dict[str, Any]]:
        def one(job: Job) -> dict[str, Any]:
            if cancel.is_set():
                raise _Cancelled
            try:
                res = execute(job, self.run_one, book, overcommit=self.overcommit,
                              max_retries=self.max_retries, cancel=cancel,
                              on_start=progress.started)
            except InvalidInput as exc:
                cancel.set()  # before this thread takes the next job
                progress.failed(job, exc.message)
                raise
            progress.finished(job, res)
            return res

        ex = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="pool-slot")
        futures: list[Future[dict[str, Any]]] = [ex.submit(one, j) for j in jobs]
        try:
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=TICK_S, return_when=FIRST_COMPLETED)
                progress.tick()
                if any(f.exception() is not None for f in done):
                    cancel.set()
        except BaseException:
            cancel.set()
            from orchestrator.vm.machine import kill_all

            kill_all()
            ex.shutdown(wait=True, cancel_futures=True)
            raise
        ex.shutdown(wait=True)
        for f in futures:
            exc = f.exception()
            if exc is not None and not isinstance(exc, _Cancelled):
                raise exc
        return [f.result() for f in futures]


class _Cancelled(Exception):
    """A job not started because another job of the batch was invalid."""


def _background_sink(job: Job) -> ui.Sink:
    """Lines of helper threads (console pumps, tickers) that belong to no slot thread."""
    path = Path(job.out_root) / "pool-logs" / "background.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = threading.Lock()

    def sink(line: str) -> None:
        with lock, open(path, "a") as fh:
            fh.write(line + "\n")
    return sink
