"""report.html, rendered with jinja2 (autoescaped: console text is untrusted)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import jinja2

from orchestrator.report.jsonreport import full

if TYPE_CHECKING:
    from orchestrator.workflows.run import RunResult

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("orchestrator.report", "templates"),
    autoescape=True, undefined=jinja2.StrictUndefined)


def write(result: RunResult) -> None:
    data = full(result)
    html = _ENV.get_template("report.html.j2").render(r=data)
    (result.run_dir / "report.html").write_text(html)
