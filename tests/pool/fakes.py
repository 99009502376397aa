"""A fake ``run_job`` for the pool's fast tests: sleeps like a guest, writes result.json,
records how many ran at once, and is idempotent by job id like the real one."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from orchestrator.job import Job

SCENARIO = """name = "{name}"
description = "fake"
[machine]
cpus = {cpus}
memory_mb = 256
"""


def scenario(name: str = "fake", cpus: int = 1) -> str:
    return SCENARIO.format(name=name, cpus=cpus)


class FakeRun:
    def __init__(self, seconds: float = 0.2, results: dict[str, dict[str, Any]] | None = None
                 ) -> None:
        self.seconds = seconds
        self.results = results or {}  # scenario name -> fields to put in the result
        self.lock = threading.Lock()
        self.running = 0
        self.max_running = 0
        self.calls: list[str] = []

    def __call__(self, job: Job) -> dict[str, Any]:
        run_dir = Path(job.out_root) / job.job_id
        stored = run_dir / "result.json"
        if stored.exists():
            data: dict[str, Any] = json.loads(stored.read_text())
            return data
        with self.lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
            self.calls.append(job.job_id)
        try:
            time.sleep(self.seconds)
        finally:
            with self.lock:
                self.running -= 1
        name = job.scenario_text.split('"')[1]
        res: dict[str, Any] = {"job_id": job.job_id, "scenario": name, "run_dir": str(run_dir),
                               "verdict": "pass", "exit_code": 0, "reason": "",
                               "reason_code": "", "reproduced": None, "findings": []}
        over = self.results.get(name, {})
        res.update(json.loads(json.dumps(over)))
        run_dir.mkdir(parents=True, exist_ok=True)
        stored.write_text(json.dumps(res))
        (run_dir / "report.json").write_text(json.dumps({"findings": res["findings"]}))
        return res
