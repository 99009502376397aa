"""``runner_for``: the one way commands and workflows get a Runner for an engine."""

from __future__ import annotations

from orchestrator.errors import InvalidInput
from orchestrator.job import Runner

ENGINES = ("local", "dask")


def runner_for(engine: str = "local", slots: int | None = None, scheduler: str | None = None,
               overcommit: bool = False) -> Runner:
    """A Runner: ``local`` (this host, ``slots`` guests at a time; default CPUs // guest
    vCPUs) or ``dask`` (the scheduler at ``scheduler``, else a LocalCluster of ``slots``)."""
    if engine not in ENGINES:
        raise InvalidInput(f"unknown engine {engine!r} (local or dask)", field="--engine")
    if slots is not None and slots < 1:
        raise InvalidInput(f"must be at least 1, got {slots}", field="--slots")
    if engine == "local":
        if scheduler:
            raise InvalidInput("--scheduler needs --engine dask", field="--scheduler")
        from orchestrator.pool.local import LocalPool

        return LocalPool(slots, overcommit=overcommit)
    if scheduler is not None and not scheduler.startswith(("tcp://", "tls://", "ws://",
                                                           "wss://", "inproc://")):
        raise InvalidInput(f"scheduler address {scheduler!r} must look like tcp://HOST:8786",
                           field="--scheduler")
    from orchestrator.pool.dask_engine import DaskRunner

    return DaskRunner(scheduler, slots, overcommit=overcommit)
