"""Running the reproducer through the run seam and reading the results as answers.

Each run is one ``Job`` (``orchestrator.job``) given to a ``Runner``; runs differ only in
``attempt_tag`` so each is a distinct, idempotent job.  Results are compared on
``findings[].key``: a run *reproduces* when a finding's title is one of the expected titles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from orchestrator.job import Job, Runner, run_serial

__all__ = ["Runner", "RunSummary", "default_runner", "reproduced_in", "run_many",
           "summarize"]


def default_runner() -> Runner:
    return run_serial


@dataclass
class RunSummary:
    """Runs of one kernel (the tree as is, or with the mail's patch)."""

    label: str
    titles: list[str]
    results: list[dict[str, Any]]
    reproduced: int = 0
    errors: int = 0
    other: dict[str, int] = field(default_factory=dict)  # other finding keys -> runs seen in

    @property
    def runs(self) -> int:
        return len(self.results)

    @property
    def clean(self) -> int:
        return self.runs - self.reproduced - self.errors

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "runs": self.runs, "reproduced": self.reproduced,
                "errors": self.errors, "other_findings": self.other,
                "results": [_brief(r) for r in self.results]}


def _brief(r: dict[str, Any]) -> dict[str, Any]:
    return {k: r.get(k) for k in ("job_id", "run_dir", "verdict", "exit_code", "reason",
                                  "reason_code", "reproduced", "reads", "profiles",
                                  "timings_s")} | {
        "findings": [{k: f.get(k) for k in ("key", "class", "title", "count", "expected")}
                     for f in r.get("findings", [])],
        "kernel": {k: (r.get("kernel") or {}).get(k) for k in ("commit", "rev", "cached",
                                                               "result_dir", "ok", "error")}}


def reproduced_in(result: dict[str, Any], titles: Sequence[str]) -> bool:
    """Did this run show an expected title? (``reproduced`` when the runner says it.)"""
    flag = result.get("reproduced")
    if isinstance(flag, bool):
        return flag
    return any(f.get("title") in titles for f in result.get("findings", []))


def summarize(label: str, titles: list[str], results: list[dict[str, Any]]) -> RunSummary:
    s = RunSummary(label, titles, results)
    for r in results:
        if reproduced_in(r, titles):
            s.reproduced += 1
        elif r.get("verdict") == "error":
            s.errors += 1
        for f in r.get("findings", []):
            if f.get("title") not in titles:
                key = str(f.get("key") or f"{f.get('class')}|{f.get('title')}")
                s.other[key] = s.other.get(key, 0) + 1
    return s


def run_many(scenario_text: str, origin: str, out_root: str, *, runs: int, tree: str | None,
             rev: str | None, tag: str, runner: Runner, accel: str | None = None
             ) -> list[dict[str, Any]]:
    """``runs`` jobs of one scenario on one kernel, through ``runner``, results in order."""
    jobs = [Job(scenario_text=scenario_text, out_root=out_root, scenario_origin=origin,
                     tree=tree, rev=rev, accel=accel, attempt_tag=f"{tag}-{i + 1}")
            for i in range(runs)]
    return runner(jobs)
