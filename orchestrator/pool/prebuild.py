"""The kernels a batch of jobs needs: one build per distinct kernel, before guests start.

Builds use every CPU (``make -j``) while guests want the same CPUs, so the local pool builds
first, one kernel after the other, and then runs guests on cache hits. Dask runs the same
:func:`build_kernel` as a task of its own (resource ``build=1``); a worker that lacks the
kernel would build it from the same tree and revision anyway (the cache key makes that exact).

A build that fails here is not fatal: the job's own run reports it (``build-failed`` or
``config-mismatch``) in its result.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from orchestrator.errors import InvalidInput, PgoOrchError
from orchestrator.job import Job

BuildOne = Callable[[Job], dict[str, Any]]


def kernel_identity(job: Job) -> str:
    """A string equal for jobs that need the same kernel (tree, rev, options, [kernel])."""
    import tomllib

    try:
        kernel = tomllib.loads(job.scenario_text).get("kernel", {})
    except tomllib.TOMLDecodeError:
        kernel = {"unparsable": job.scenario_text}
    return json.dumps({"tree": job.tree, "rev": job.rev, "options": list(job.options),
                       "jobs": job.jobs, "kernel": kernel}, sort_keys=True, default=str)


def build_kernel(job: Job) -> dict[str, Any]:
    """Build (or find in the cache) the kernel ``job`` runs on; never raises for a failed
    build, only for a job that cannot be read at all (InvalidInput)."""
    from orchestrator.kernel import build as kbuild
    from orchestrator.results import RunOptions
    from orchestrator.scenario import loader
    from orchestrator.workflows.run import build_request

    sc = loader.loads(job.scenario_text, origin=job.scenario_origin)
    opts = RunOptions(tree=Path(job.tree) if job.tree else None, jobs=job.jobs,
                      accel=job.accel, extra_options=list(job.options), rev=job.rev)
    try:
        res = kbuild.build(build_request(sc, opts))
    except InvalidInput as exc:  # config proof, unknown fragment: the run reports it
        return {"ok": False, "reason_code": exc.reason, "error": exc.message}
    except PgoOrchError as exc:
        return {"ok": False, "reason_code": exc.reason, "error": exc.message}
    return {"ok": True, "key": res.key, "cached": res.cached,
            "result_dir": str(res.result_dir)}


def distinct_kernels(jobs: Sequence[Job]) -> list[tuple[Job, list[Job]]]:
    """Jobs grouped by the kernel they need, in first-seen order: (representative, group)."""
    groups: dict[str, list[Job]] = {}
    for j in jobs:
        groups.setdefault(kernel_identity(j), []).append(j)
    return [(g[0], g) for g in groups.values()]


def prebuild(jobs: Sequence[Job], build_one: BuildOne = build_kernel,
             say: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Build every distinct kernel of ``jobs`` once, serially; returns one status each."""
    out = []
    kernels = distinct_kernels(jobs)
    for n, (rep, group) in enumerate(kernels, start=1):
        if say:
            say(f"kernel {n}/{len(kernels)} for {len(group)} run(s): building (or cached)")
        status = build_one(rep)
        if say:
            if status.get("ok"):
                say(f"kernel {n}/{len(kernels)}: {status.get('key')}"
                    f"{' (cached)' if status.get('cached') else ''}")
            else:
                say(f"kernel {n}/{len(kernels)}: {status.get('reason_code')}: "
                    f"{str(status.get('error', '')).splitlines()[0:1]}")
        out.append(status)
    return out
