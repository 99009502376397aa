"""findings.json, report.json (the full report) and result.json (the run as a value)."""

from __future__ import annotations

from typing import Any

from orchestrator.results import RunResult, finding_to_json
from orchestrator.rundir import RunDir


def summary(result: RunResult) -> dict[str, Any]:
    """What ``pgo-orch run --json`` prints."""
    return {
        "scenario": result.scenario,
        "verdict": str(result.verdict),
        "reason": result.reason,
        "reason_code": result.reason_code,
        "exit_code": result.exit_code,
        "run_dir": str(result.run_dir),
        "reproduced": result.reproduced,
        "findings": [{"key": f.key, "class": f.klass, "title": f.title, "count": f.count,
                      "corrupted": f.corrupted, "expected": f.expected is not None,
                      "expected_reason": f.expected} for f in result.findings],
        "hang": result.hang,
    }


def full(result: RunResult) -> dict[str, Any]:
    """report.json: the summary plus everything the run recorded."""
    data = summary(result)
    data.update({
        "description": result.description,
        "timings_s": result.timings.to_json(),
        "boot": result.boot.to_json(),
        "kernel": result.kernel.to_json(),
        "profile_path": result.profile_path,
        "readers": [r.to_json() for r in result.readers],
        "reads": result.reads.to_json(),
        "profiles": [p.to_json() for p in result.profiles],
        "checks": [{"name": c.name, "ok": c.ok, "message": c.message} for c in result.checks],
        "findings": [finding_to_json(f) for f in result.findings],
    })
    return data


def write(result: RunResult, rd: RunDir) -> None:
    rep = full(result)
    rd.write_json(rd.findings_json, rep["findings"])
    rd.write_json(rd.report_json, rep)


def write_result(result: RunResult, rd: RunDir) -> None:
    """result.json, atomically (temp + rename): present means the run's value is complete."""
    rd.write_json(rd.result_json, result.to_json())
