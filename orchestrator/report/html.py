"""report.html, rendered with jinja2 (autoescaped: console text is untrusted)."""

from __future__ import annotations

import jinja2

from orchestrator.report.jsonreport import full
from orchestrator.report.text import clean
from orchestrator.results import RunResult
from orchestrator.rundir import RunDir

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("orchestrator.report", "templates"),
    autoescape=True, undefined=jinja2.StrictUndefined)


def render(result: RunResult) -> str:
    return clean(_ENV.get_template("report.html.j2").render(r=full(result)))


def write(result: RunResult, rd: RunDir) -> None:
    rd.write_atomic(rd.html, render(result))
