"""A fake runner for the reproduce workflow: results shaped like the run seam's result JSON."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from typing import Any

from orchestrator.job import Job
from orchestrator.paths import PROJECT_ROOT

PROFILE = PROJECT_ROOT / "tests" / "data" / "profiles" / "guest-v8.profraw"


def result(job: Job, *, titles: Sequence[str] = (), verdict: str = "pass",
           reason_code: str = "", reproduced: bool | None = None) -> dict[str, Any]:
    """A result JSON for ``job`` with findings of the given titles and a kept profile."""
    run_dir = job.run_dir
    (run_dir / "profiles").mkdir(parents=True, exist_ok=True)
    prof = run_dir / "profiles" / "profile-proof.0.1.profraw"
    shutil.copyfile(PROFILE, prof)
    findings = [{"key": f"sleep-in-atomic|{t}", "class": "sleep-in-atomic", "title": t,
                 "guilty": t.rsplit(" ", 1)[-1], "count": 2, "corrupted": False, "fatal": False,
                 "expected": False, "expected_reason": None, "report": t} for t in titles]
    return {"job_id": job.job_id, "scenario": "reproduce-prf_open", "run_dir": str(run_dir),
            "verdict": verdict, "exit_code": {"pass": 0, "fail": 1, "error": 2}[verdict],
            "reason": reason_code, "reason_code": reason_code, "reproduced": reproduced,
            "findings": findings, "reads": {"total": 42, "failed": 0, "short": 0},
            "profiles": [{"file": str(prof), "size": prof.stat().st_size, "valid": True,
                          "message": "valid"}],
            "kernel": {"ok": True, "error": None, "key": None, "cached": True,
                       "result_dir": None, "log": None, "tree": job.tree, "commit": job.rev,
                       "rev": job.rev, "vmlinux": None, "vmlinux_sha256": None,
                       "warnings": 0},
            "hang": None, "timings_s": {"total": 1.0}}


class FakeRunner:
    """Records the jobs it gets; ``decide(job)`` returns each result."""

    def __init__(self, decide: Callable[[Job], dict[str, Any]]) -> None:
        self.decide = decide
        self.jobs: list[Job] = []

    def __call__(self, jobs: Sequence[Job]) -> list[dict[str, Any]]:
        self.jobs.extend(jobs)
        return [self.decide(j) for j in jobs]
