"""Run reports: findings.json, report.json, junit.xml, report.html and reproducer.sh."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.workflows.run import RunResult


def write_all(result: RunResult) -> None:
    from orchestrator.report import html, jsonreport, junit, reproducer

    jsonreport.write(result)
    junit.write(result)
    html.write(result)
    reproducer.write(result)
