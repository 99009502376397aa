"""The series workflow's view of the run seam: ``Job``, ``Runner`` and the default runner.

Until the run seam (``orchestrator.job``, tag ``seam-v1``) is in main this module mirrors the
contract's ``Job`` fields the series uses; afterwards it only re-exports.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from orchestrator.errors import InfraError


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
            data = asdict(self)
            data.pop("job_id")
            digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
            object.__setattr__(self, "job_id", digest[:16])


Runner = Callable[[Sequence[Job]], list[dict[str, Any]]]


def run_serial(jobs: Sequence[Job]) -> list[dict[str, Any]]:
    raise InfraError("the run seam (orchestrator.job) is not available in this build",
                     reason="infra")
