"""report.html of a series: the patches x scenarios matrix first, then the new findings.

Rendered with jinja2, autoescaped: patch subjects, authors and kernel reports are untrusted.
Links to run directories are relative to the series directory.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import jinja2

if TYPE_CHECKING:
    from orchestrator.workflows.series.state import SeriesState

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("orchestrator.workflows.series", "templates"),
    autoescape=True, undefined=jinja2.StrictUndefined)

LEGEND = {
    "pass": "pass",
    "new-finding": "new finding",
    "pre-existing": "pre-existing finding",
    "fixed": "finding fixed later",
    "flaky": "flaky finding",
    "build-failure": "build failure",
    "not-applied": "not applied",
    "not-built": "not built",
    "not-run": "not run (tip mode)",
    "error": "infrastructure error",
}


def render(state: SeriesState, summary: dict[str, Any]) -> str:
    def rel(path: str) -> str:
        return os.path.relpath(path, state.out) if path else ""

    return _ENV.get_template("series.html.j2").render(
        s=summary, scenarios=summary["scenarios"], legend=LEGEND, rel=rel,
        new=[f for f in summary["findings"] if f["status"] == "new"],
        others=[f for f in summary["findings"] if f["status"] != "new"])
