"""KernelCI's results schema (KCIDB v5) for a series, validated with ``kcidb-io``.

One checkout per prefix (the base with an empty patchset, prefix k with patches 1..k and their
patchset hash), one build per built prefix, one test per scenario run, one issue per
classified finding and one incident per occurrence (a run that showed it). Ids are
``pgo_orch:...`` (the schema allows no dash in the origin).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from orchestrator.errors import InfraError
from orchestrator.workflows.series.classify import finding_keys

if TYPE_CHECKING:
    from orchestrator.workflows.series.state import SeriesState

ORIGIN = "pgo_orch"
_STATUS = {"pass": "PASS", "fail": "FAIL", "error": "ERROR"}


def _id(*parts: str) -> str:
    return f"{ORIGIN}:" + hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


def to_kcidb(state: SeriesState, summary: dict[str, Any]) -> dict[str, Any]:
    series_id = state.inp.patchset_hash
    checkouts, builds, tests, issues, incidents = [], [], [], [], []
    for pre in summary["prefixes"]:
        i = pre["index"]
        if not pre["applied"]:
            continue
        patches = state.inp.patches[:i]
        co_id = _id("checkout", series_id, state.base, str(i))
        checkout: dict[str, Any] = {
            "id": co_id, "origin": ORIGIN, "tree_name": state.tree.name,
            "git_commit_hash": state.base,
            "patchset_hash": (hashlib.sha256("".join(p.sha256 + "\n" for p in patches)
                                              .encode()).hexdigest() if patches else ""),
            "patchset_files": [{"name": p.file.name, "url": p.file.resolve().as_uri()}
                               for p in patches],
            "comment": pre["subject"] or "base",
            "valid": True,
            "misc": {"prefix": i, "commit": pre["commit"]},
        }
        if patches and patches[-1].message_id:
            checkout["message_id"] = patches[-1].message_id.strip("<>")
        checkouts.append(checkout)
        b = state.builds.get(i)
        if b is None:
            continue
        build_id = _id("build", co_id, b.key or b.commit)
        build: dict[str, Any] = {
            "id": build_id, "origin": ORIGIN, "checkout_id": co_id,
            "architecture": "x86_64", "compiler": "clang",
            "status": "PASS" if b.ok else "FAIL",
            "duration": round(b.duration_s, 3),
            "misc": {"new_warnings": len(b.new_warnings), "cached": b.cached},
        }
        if b.log:
            build["log_url"] = f"file://{b.log}"
        if b.error:
            build["log_excerpt"] = b.error[:16000]
        builds.append(build)
        for rec in (r for r in state.records if r.prefix == i):
            test_id = _id("test", build_id, rec.scenario, rec.tag)
            tests.append({
                "id": test_id, "origin": ORIGIN, "build_id": build_id,
                "path": "pgo_orch." + "".join(c if c.isalnum() or c in "_-" else "_"
                                              for c in rec.scenario),
                "status": _STATUS.get(rec.verdict, "ERROR"),
                "comment": str(rec.result.get("reason", ""))[:1000] or rec.tag,
                "log_url": f"file://{rec.result.get('run_dir', '')}/console.log",
                "misc": {"attempt": rec.tag, "job_id": rec.result.get("job_id")},
            })
            for key in finding_keys(rec.result):
                incidents.append({
                    "id": _id("incident", test_id, key), "origin": ORIGIN,
                    "issue_id": _id("issue", rec.scenario, key), "issue_version": 1,
                    "test_id": test_id, "build_id": build_id, "present": True,
                })
    for f in summary["findings"]:
        issues.append({
            "id": _id("issue", f["scenario"], f["key"]), "version": 1, "origin": ORIGIN,
            "report_subject": f["title"][:400],
            # only a new finding is the series' code's doing; pre-existing, fixed and flaky
            # ones are not blamed on it
            "culprit": {"code": f["status"] == "new", "tool": False, "harness": False},
            "comment": f"{f['status']} ({f['hits']}/{f['runs']} runs)",
            "misc": {"status": f["status"], "patch": f["patch"], "scenario": f["scenario"]},
        })
    return {"version": {"major": 5, "minor": 3}, "checkouts": checkouts, "builds": builds,
            "tests": tests, "issues": issues, "incidents": incidents}


def validate(data: dict[str, Any]) -> None:
    """Validate against the KCIDB schema with kcidb-io; InfraError if it does not conform."""
    import jsonschema
    import kcidb_io

    try:
        kcidb_io.schema.V5_3.validate(data)
    except jsonschema.exceptions.ValidationError as exc:
        raise InfraError(f"KCIDB output does not validate: {exc.message}",
                         reason="infra") from exc
