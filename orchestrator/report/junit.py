"""junit.xml: one test case per scenario check; failures carry the finding text.

Console text may hold any byte: every string goes through :func:`report.text.clean`, so the
file is always well-formed XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from orchestrator.report.text import clean
from orchestrator.results import RunResult
from orchestrator.rundir import RunDir


def element(result: RunResult) -> ET.Element:
    checks = result.checks
    name = clean(result.scenario)
    fails = sum(1 for c in checks if not c.ok and not c.skipped)
    suite = ET.Element("testsuite", name=f"pgo-orch.{name}",
                       tests=str(len(checks)), failures=str(fails),
                       skipped=str(sum(1 for c in checks if c.skipped)),
                       time=f"{result.timings.total:.3f}")
    props = ET.SubElement(suite, "properties")
    for k, v in (("verdict", str(result.verdict)), ("reason", result.reason),
                 ("reason_code", result.reason_code), ("run_dir", str(result.run_dir))):
        ET.SubElement(props, "property", name=k, value=clean(v))
    for c in checks:
        case = ET.SubElement(suite, "testcase", classname=f"pgo-orch.{name}",
                             name=clean(c.name))
        if c.skipped:
            ET.SubElement(case, "skipped", message=clean(c.message))
        elif not c.ok:
            el = ET.SubElement(case, "failure", message=clean(c.message) or "failed")
            el.text = clean(c.detail)
        elif c.detail:
            ET.SubElement(case, "system-out").text = clean(c.detail[-4000:])
    ET.indent(suite)
    return suite


def write(result: RunResult, rd: RunDir) -> None:
    data = ET.tostring(element(result), encoding="utf-8", xml_declaration=True)
    rd.write_atomic(rd.junit, data.decode("utf-8") + "\n")
