"""``report.json`` and ``report.html`` of ``pgo-orch reproduce`` (jinja2, autoescaped: mail
text is untrusted)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(str(Path(__file__).parent)),
    autoescape=True, undefined=jinja2.ChainableUndefined)


def write(out: Path, exit_code: int, headline: str, data: dict[str, Any]) -> None:
    data = data | {"exit_code": exit_code, "headline": headline}
    (out / "report.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    html = _ENV.get_template("report.html.j2").render(r=data)
    (out / "report.html").write_text(html)
