"""junit.xml: one test case per scenario check; failures carry the finding text."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from orchestrator.workflows.run import RunResult


def write(result: RunResult) -> None:
    checks = result.checks
    fails = sum(1 for c in checks if not c.ok and not c.skipped)
    suite = ET.Element("testsuite", name=f"pgo-orch.{result.scenario.name}",
                       tests=str(len(checks)), failures=str(fails),
                       skipped=str(sum(1 for c in checks if c.skipped)),
                       time=f"{result.timings.get('total', 0):.3f}")
    props = ET.SubElement(suite, "properties")
    for k, v in (("verdict", result.verdict), ("reason", result.reason),
                 ("run_dir", str(result.run_dir))):
        ET.SubElement(props, "property", name=k, value=v)
    for c in checks:
        case = ET.SubElement(suite, "testcase", classname=f"pgo-orch.{result.scenario.name}",
                             name=c.name)
        if c.skipped:
            ET.SubElement(case, "skipped", message=c.message)
        elif not c.ok:
            el = ET.SubElement(case, "failure", message=c.message or "failed")
            el.text = c.detail
        elif c.detail:
            ET.SubElement(case, "system-out").text = c.detail[-4000:]
    ET.indent(suite)
    ET.ElementTree(suite).write(result.run_dir / "junit.xml", encoding="utf-8",
                                xml_declaration=True)
