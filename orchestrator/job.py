"""TEMPORARY contract stub (CONTRACT.md, seam v1) so the bisect workflow type-checks before
the model helper's ``orchestrator/job.py`` lands in main. On merge, main's version wins:
this file must be replaced by it, not merged with it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from orchestrator.errors import InfraError, InvalidInput


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
    raise InfraError("run_job is not available before seam-v1", reason="infra")


Runner = Callable[[Sequence[Job]], list[dict[str, Any]]]


def run_serial(jobs: Sequence[Job]) -> list[dict[str, Any]]:
    return [run_job(j) for j in jobs]
