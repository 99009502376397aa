"""The series directory's files: series.json, summary.json, junit.xml, report.html, KCIDB.

Layout of the series directory (``--out``)::

    series.json          base, patches (number, subject, author, message-id, commit, sha256),
                         patchset hash, how the series was read
    apply.log            git am's output, patch by patch
    patches/NNNN.patch   the patches as applied
    prefixes/00-base/    build.json, runs/<job id>/ (one run directory per scenario run)
    prefixes/NN/         the same for the prefix ending at patch NN
    summary.json         per patch: applied, built, new warnings, findings; the verdict
    junit.xml            one testsuite per prefix: a build test case, one per scenario run
    report.html          the patches x scenarios matrix first, then the new findings
    kcidb.json           (--kcidb FILE) KernelCI's results schema, validated

Every file is written whole to a temporary name and renamed, after each step.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from orchestrator.kernel.metadata import write_atomic
from orchestrator.workflows.series import html, kcidb
from orchestrator.workflows.series.classify import finding_keys
from orchestrator.workflows.series.state import SeriesState


def _atomic(path: Path, text: str) -> None:
    write_atomic(path, text)  # a unique temp name in the same directory, then a rename


def series_json(state: SeriesState) -> dict[str, Any]:
    return {
        "tree": str(state.tree),
        "kind": state.inp.kind,
        "source": state.inp.source,
        "notes": state.inp.notes,
        "base": {"commit": state.base, "source": state.base_source},
        "patchset_hash": state.inp.patchset_hash,
        "patches": [p.to_json() for p in state.inp.patches],
        "applied": state.applied,
        "apply_failure": None if state.apply_failure is None else state.apply_failure.to_json(),
    }


def junit(state: SeriesState, summary: dict[str, Any]) -> str:
    statuses = {(f["scenario"], f["key"]): f["status"] for f in summary["findings"]}
    suites = ET.Element("testsuites", name=f"pgo-orch series {state.inp.source}")
    for pre in summary["prefixes"]:
        i = pre["index"]
        name = "base" if i == 0 else f"patch {i}: {pre['subject']}"
        suite = ET.SubElement(suites, "testsuite", name=name)
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}

        def case(title: str, kind: str | None = None, message: str = "", text: str = "",
                 _suite: ET.Element = suite, _counts: dict[str, int] = counts,
                 _label: str = state.label(i)) -> None:
            tc = ET.SubElement(_suite, "testcase", classname=f"series.{_label}",
                               name=title)
            _counts["tests"] += 1
            if kind is not None:
                el = ET.SubElement(tc, kind, message=message[:500])
                el.text = text
                _counts[{"failure": "failures", "error": "errors",
                         "skipped": "skipped"}[kind]] += 1

        b = state.builds.get(i)
        if not pre["applied"]:
            case("apply", "skipped", "not applied")
        elif b is None:
            case("build", "skipped", "not built")
        elif not b.ok:
            case("build", "failure", f"build failed ({b.reason})", b.error or "")
        elif b.new_warnings:
            case("build", "failure", f"{len(b.new_warnings)} new warning(s)",
                 "\n".join(b.new_warnings))
        else:
            case("build")
        for rec in (r for r in state.records if r.prefix == i):
            title = f"{rec.scenario} [{rec.tag}]"
            if rec.verdict == "error":
                case(title, "error", str(rec.result.get("reason", "")))
                continue
            keys = finding_keys(rec.result)
            new = [occ.title for k, occ in keys.items()
                   if statuses.get((rec.scenario, k)) == "new"]
            if new:
                case(title, "failure", "; ".join(new),
                     "\n\n".join(occ.report for occ in keys.values()))
            else:
                case(title)
        for k, v in counts.items():
            suite.set(k, str(v))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def write_all(state: SeriesState, kcidb_file: Path | None = None) -> dict[str, Any]:
    """Write every output file of the series directory; returns the summary."""
    summary = state.summary()
    _atomic(state.out / "series.json", json.dumps(series_json(state), indent=2) + "\n")
    for i, b in state.builds.items():
        d = state.prefix_dir(i)
        d.mkdir(parents=True, exist_ok=True)
        _atomic(d / "build.json", json.dumps(b.to_json(), indent=2) + "\n")
    _atomic(state.out / "summary.json", json.dumps(summary, indent=2) + "\n")
    _atomic(state.out / "junit.xml", junit(state, summary))
    _atomic(state.out / "report.html", html.render(state, summary))
    if kcidb_file is not None:
        data = kcidb.to_kcidb(state, summary)
        kcidb.validate(data)
        _atomic(kcidb_file, json.dumps(data, indent=2) + "\n")
    return summary
