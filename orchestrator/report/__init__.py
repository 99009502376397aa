"""Run reports, written from a :class:`~orchestrator.results.RunResult` into its run directory.

findings.json, report.json, result.json (``jsonreport``), junit.xml (``junit``), report.html
(``html``) and reproducer.sh (``rerun_script``). Reports depend on the result model only;
whoever runs a scenario calls :func:`write_all`.
"""

from __future__ import annotations

from orchestrator.results import RunResult
from orchestrator.rundir import RunDir


def write_all(result: RunResult, rd: RunDir) -> None:
    """Every report of ``result``; result.json last (its presence means "complete")."""
    from orchestrator.report import html, jsonreport, junit, rerun_script

    jsonreport.write(result, rd)
    junit.write(result, rd)
    html.write(result, rd)
    rerun_script.write(result, rd)
    jsonreport.write_result(result, rd)
