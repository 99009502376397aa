"""Testing one commit: jobs through the runner until the runs allow a verdict.

Each run is a :class:`~orchestrator.job.Job` for (scenario, tree, commit, options) with an
``attempt_tag`` naming its role and number (``step-3``, ``verify-1``, ...). Jobs are
idempotent by id, so a resumed bisection asks for the same jobs and gets the stored results
back without building or booting anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.errors import InfraError
from orchestrator.job import Job, Runner
from orchestrator.workflows.bisect.decide import (
    Classified,
    Outcome,
    Tally,
    Target,
    Verdict,
    classify,
)


@dataclass(frozen=True)
class JobTemplate:
    """Everything of a job but the commit and the attempt tag."""

    scenario_text: str
    scenario_origin: str
    out_root: str
    tree: str
    options: tuple[str, ...] = ()
    accel: str | None = None
    jobs: int | None = None

    def job(self, commit: str, tag: str) -> Job:
        return Job(scenario_text=self.scenario_text, out_root=self.out_root,
                   scenario_origin=self.scenario_origin, tree=self.tree, rev=commit,
                   options=self.options, accel=self.accel, jobs=self.jobs, attempt_tag=tag)


@dataclass
class Probe:
    """The runs of one commit and what they add up to."""

    commit: str
    tally: Tally = field(default_factory=Tally)
    verdict: Verdict | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)  # per run: dir, outcome, ...
    build_keys: list[str] = field(default_factory=list)
    vmlinux_sha256: str | None = None
    builds: int = 0  # runs whose kernel was built (not a cache hit)

    def record(self, result: dict[str, Any], c: Classified) -> None:
        self.tally.add(c)
        kernel = result.get("kernel") or {}
        key = kernel.get("key")
        if key and key not in self.build_keys:
            self.build_keys.append(str(key))
        if kernel.get("vmlinux_sha256"):
            self.vmlinux_sha256 = str(kernel["vmlinux_sha256"])
        if kernel.get("cached") is False and kernel.get("ok", True):
            self.builds += 1
        self.runs.append({"job_id": result.get("job_id"), "run_dir": result.get("run_dir"),
                          "outcome": str(c.outcome), "titles": list(c.titles),
                          "reason_code": c.reason_code, "reason": c.reason[:300]})


Progress = Callable[[str], None]


def from_results(commit: str, results: list[dict[str, Any]], target: Target) -> Probe:
    """A probe over runs already made (BAD's runs, classified once the target is known)."""
    pr = Probe(commit=commit)
    for result in results:
        pr.record(result, classify(result, target))
    return pr


def probe(runner: Runner, template: JobTemplate, commit: str, target: Target, *,
          prefix: str, k: int, retries: int, batch: int = 1,
          progress: Progress | None = None) -> Probe:
    """Run ``commit`` until a verdict: bad at the first hit, good after ``k`` clean runs,
    skip when a run cannot judge it. An interrupted run raises KeyboardInterrupt; runner
    failures propagate (exit 2)."""
    pr = Probe(commit=commit)
    n = 0
    while True:
        pr.verdict = pr.tally.verdict(k, retries)
        if pr.verdict is not None:
            return pr
        want = max(1, min(batch, k - pr.tally.clean))
        results = run_batch(runner, template, commit, prefix, n, want)
        for result in results:
            n += 1
            c = classify(result, target)
            pr.record(result, c)
            if progress:
                progress(f"{commit[:12]} run {n}: {c.outcome}"
                         + (f" ({'; '.join(c.titles)})" if c.titles else "")
                         + (f" [{c.reason_code}]" if c.outcome in (Outcome.SKIP, Outcome.INFRA)
                            else ""))
            if c.outcome is Outcome.ABORT:
                raise KeyboardInterrupt
            if pr.tally.verdict(k, retries) is not None:
                break  # results beyond the decisive one (a batch) are not counted


def run_batch(runner: Runner, template: JobTemplate, commit: str, prefix: str, done: int,
              count: int) -> list[dict[str, Any]]:
    """Runs ``done+1 .. done+count`` of ``commit`` (tags ``<prefix>-<n>``), in order."""
    jobs = [template.job(commit, f"{prefix}-{done + i + 1}") for i in range(count)]
    results = runner(jobs)
    if len(results) != len(jobs):
        raise InfraError(f"the runner returned {len(results)} results for {len(jobs)} jobs",
                         reason="infra")
    return results
