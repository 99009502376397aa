"""findings.json and report.json."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.workflows.run import RunResult


def summary(result: RunResult) -> dict[str, object]:
    expected = {id(f): reason for f, reason in result.expected}
    return {
        "scenario": result.scenario.name,
        "verdict": result.verdict,
        "reason": result.reason,
        "exit_code": result.exit_code,
        "run_dir": str(result.run_dir),
        "findings": [{"class": f.klass, "title": f.title, "count": f.count,
                      "corrupted": f.corrupted, "expected": id(f) in expected,
                      "expected_reason": expected.get(id(f))} for f in result.findings],
        "hang": result.hang,
    }


def full(result: RunResult) -> dict[str, object]:
    expected = {id(f): reason for f, reason in result.expected}
    data = summary(result)
    data.update({
        "description": result.scenario.description,
        "timings_s": result.timings,
        "boot": result.boot,
        "kernel": result.kernel,
        "profile_path": result.profile_path,
        "readers": [r.to_json() for r in result.readers],
        "profiles": result.profiles,
        "checks": [{"name": c.name, "ok": c.ok, "message": c.message} for c in result.checks],
        "findings": [{**f.to_json(), "expected": id(f) in expected,
                      "expected_reason": expected.get(id(f))} for f in result.findings],
    })
    return data


def write(result: RunResult) -> None:
    d = result.run_dir
    rep = full(result)
    (d / "findings.json").write_text(json.dumps(rep["findings"], indent=2) + "\n")
    (d / "report.json").write_text(json.dumps(rep, indent=2) + "\n")
