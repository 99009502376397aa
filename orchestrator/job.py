"""TEMPORARY contract stub (CONTRACT.md, seam v1) so the bisect workflow type-checks before
the model helper's ``orchestrator/job.py`` lands in main. On merge, main's version wins:
this file must be replaced by it, not merged with it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from orchestrator.errors import InvalidInput


@dataclass(frozen=True)
class Job:
    scenario_text: str
    out_root: str
    scenario_origin: str = "<job>"
    tree: str | None = None
    rev: str | None = None
    options: tuple[str, ...] = ()
    accel: str | None = None
    jobs: int | None = None
    attempt_tag: str = ""
    job_id: str = ""

    def __post_init__(self) -> None:
        if not self.job_id:
            data = {k: v for k, v in asdict(self).items() if k != "job_id"}
            digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
            object.__setattr__(self, "job_id", digest[:16])

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["options"] = list(self.options)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Job:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InvalidInput(f"unknown job fields {sorted(unknown)}")
        args = dict(data)
        args["options"] = tuple(args.get("options", ()))
        return cls(**args)


def run_job(job: Job) -> dict[str, Any]:
    """Bridge to today's run_scenario until seam-v1 (result JSON per CONTRACT.md)."""
    from pathlib import Path

    from orchestrator.scenario import loader
    from orchestrator.workflows.run import RunOptions, run_scenario

    run_dir = Path(job.out_root) / job.job_id
    done = run_dir / "result.json"
    if done.exists():
        old: dict[str, Any] = json.loads(done.read_text())
        if old.get("reason_code") != "interrupted":
            return old
    src = Path(job.out_root) / f"{job.job_id}.toml"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text(job.scenario_text)
    sc = loader.load(src)
    opts = RunOptions(tree=Path(job.tree) if job.tree else None, jobs=job.jobs,
                      accel=job.accel, extra_options=list(job.options), rev=job.rev)
    base: dict[str, Any] = {"job_id": job.job_id, "scenario": sc.name, "run_dir": str(run_dir),
                            "reproduced": None, "findings": [], "hang": None,
                            "reads": {}, "profiles": [], "timings_s": {}}
    try:
        r = run_scenario(sc, run_dir, opts)
    except InvalidInput as exc:
        if exc.reason not in ("config-mismatch", "requirement-missing"):
            raise
        data = {**base, "verdict": "error", "exit_code": 2, "reason": exc.message,
                "reason_code": exc.reason,
                "kernel": {"ok": exc.reason != "config-mismatch", "error": exc.message}}
    else:
        code = ""
        if r.verdict == "fail":
            code = "kernel-finding" if r.findings else (
                "read-errors" if "failed and" in r.reason else
                "invalid-profile" if "not valid" in r.reason else "guest-hung")
        elif r.verdict == "error":
            head = r.reason.split(":", 1)[0]
            code = head if head and all(c.isalnum() or c == "-" for c in head) else "infra"
        expected = {id(f) for f, _ in r.expected}
        kernel = dict(r.kernel)
        vml = Path(str(kernel.get("vmlinux", ""))) if kernel.get("vmlinux") else None
        kernel["ok"] = code not in ("build-failed",)
        kernel["vmlinux_sha256"] = hashlib.sha256(vml.read_bytes()).hexdigest() \
            if vml and vml.is_file() else None
        data = {**base, "verdict": r.verdict, "exit_code": r.exit_code, "reason": r.reason,
                "reason_code": code, "hang": r.hang, "timings_s": r.timings, "kernel": kernel,
                "findings": [{"key": f"{f.klass}|{f.title}", "class": f.klass,
                              "title": f.title, "expected": id(f) in expected,
                              "report": f.report[:4000]} for f in r.findings]}
    run_dir.mkdir(parents=True, exist_ok=True)
    done.write_text(json.dumps(data, indent=2))
    return data


Runner = Callable[[Sequence[Job]], list[dict[str, Any]]]


def run_serial(jobs: Sequence[Job]) -> list[dict[str, Any]]:
    return [run_job(j) for j in jobs]
