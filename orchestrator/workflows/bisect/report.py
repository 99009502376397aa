"""result.json and result.txt of a bisection: the outcome, the evidence and how to rerun it.

``result.txt`` is meant to be pasted into a reply to a bug report: the culprit's hash and
subject, the target title, the hit rate and confidence, the checks of the culprit and its
parent, one line per tested commit (runs and hits), git's bisect log and the commands that
reproduce the bisection and the culprit's run.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from orchestrator.workflows.bisect.decide import Target
from orchestrator.workflows.bisect.record import Inputs, StepRecord
from orchestrator.workflows.bisect.scratch import Terms


def reproducer(inputs: Inputs) -> list[str]:
    argv = ["pgo-orch", "bisect", inputs.scenario_origin, "--tree", inputs.tree,
            "--good", inputs.good, "--bad", inputs.bad, "--runs", str(inputs.runs),
            "--confidence", str(inputs.confidence)]
    if inputs.fix:
        argv.append("--fix")
    if inputs.match:
        argv += ["--match", inputs.match]
    for opt in inputs.options:
        argv += ["-K", opt]
    return argv


def run_command(inputs: Inputs, commit: str) -> list[str]:
    argv = ["pgo-orch", "run", inputs.scenario_origin, "--tree", inputs.tree, "--rev", commit]
    for opt in inputs.options:
        argv += ["-K", opt]
    return argv


def build_result(inputs: Inputs, records: Sequence[StepRecord], *, status: str, reason: str,
                 exit_code: int, target: Target | None, p: float, k: int, confidence: float,
                 terms: Terms, first: str | None, candidates: list[str],
                 checks: dict[str, Any] | None, bisect_log: str, subjects: dict[str, str],
                 duration_s: float) -> dict[str, Any]:
    """The content of result.json."""
    culprit = None
    if first:
        rec = next((r for r in records if r.commit == first), None)
        culprit = {"commit": first, "subject": rec.subject if rec else ""}
    bad_end = next((r for r in records if r.role == "end-bad"), None)
    steps = [r for r in records if r.role == "step"]
    builds = sum(r.builds for r in records)
    built = sorted({r.commit for r in records if r.builds})
    return {
        "status": status,
        "exit_code": exit_code,
        "reason": reason,
        "fix": inputs.fix,
        "terms": {"old": terms.old, "new": terms.new},
        "scenario": inputs.scenario_origin,
        "tree": inputs.tree,
        "good": inputs.good,
        "bad": inputs.bad,
        "commits_in_range": inputs.commits_in_range,
        "culprit": culprit,
        "candidates": [{"commit": c, "subject": subjects.get(c, "")} for c in candidates],
        "target": target.to_json() if target else None,
        "hit_rate": {"p": round(p, 4), "hits": bad_end.hits if bad_end else 0,
                     "runs": bad_end.runs if bad_end else 0,
                     "ratio": round(bad_end.hits / bad_end.runs, 4)
                     if bad_end and bad_end.runs else 0.0},
        "runs_for_good": k,
        "confidence": {"wanted": inputs.confidence, "overall": round(confidence, 4)},
        "checks": checks,
        "noop_change": bool(checks and checks.get("noop")),
        "skipped": [{"commit": r.commit, "subject": r.subject, "reason": r.skip_reason,
                     "titles": r.other_titles} for r in steps if r.verdict == "skip"],
        "other_splats": sorted({t for r in records for t in r.other_titles}),
        "steps": [r.to_json() for r in records],
        "bisect_steps": len(steps),
        "builds": builds,
        "built_commits": built,
        "runs": sum(r.runs for r in records),
        "bisect_log": bisect_log,
        "reproducer": shlex.join(reproducer(inputs)),
        "culprit_run": shlex.join(run_command(inputs, first)) if first else None,
        "duration_s": duration_s,
    }


def result_text(d: dict[str, Any]) -> str:
    """result.txt: what a maintainer pastes into a reply."""
    lines: list[str] = []
    what = "first fixed commit" if d["fix"] else "first bad commit"
    status = d["status"]
    if d["culprit"]:
        c = d["culprit"]
        head = f"{what}: {c['commit']}" if status == "found" else \
            f"{what} (NOT VERIFIED): {c['commit']}"
        lines += [head, f"    {c['subject']}", ""]
    elif status == "range":
        lines += [f"inconclusive: the {what} is one of (only skipped commits left):"]
        lines += [f"    {c['commit'][:12]} {c['subject']}" for c in d["candidates"]]
        lines.append("")
    else:
        lines += [f"bisection {status}: {d['reason']}", ""]
    if d["reason"] and d["culprit"]:
        lines += [d["reason"], ""]
    if d["target"]:
        lines.append(f"target: {d['target']['description']}")
    hr = d["hit_rate"]
    if hr["runs"]:
        lines.append(f"hit rate on BAD: {hr['hits']}/{hr['runs']} (p taken as {hr['p']:.2f}, "
                     "the cautious end); a good "
                     f"verdict takes {d['runs_for_good']} clean run(s); confidence "
                     f"{d['confidence']['overall']:.3f} (per good step "
                     f">= {d['confidence']['wanted']})")
    chk = d.get("checks")
    if chk and "culprit_check" in chk:
        cc, pc = chk["culprit_check"], chk["parent_check"]
        lines.append(f"checks: culprit {cc['hits']} hits in {cc['runs']} runs ({cc['verdict']}); "
                     f"parent {pc['commit'][:12]} {pc['hits']} hits in {pc['runs']} runs "
                     f"({pc['verdict']}); vmlinux "
                     + ("IDENTICAL to the parent's (no-op change)" if chk["noop"] else
                        "differs from the parent's"))
    lines.append(f"builds: {d['builds']}, runs: {d['runs']}, bisection steps: "
                 f"{d['bisect_steps']}, commits in range: {d['commits_in_range']}, "
                 f"{d['duration_s']:.0f} s")
    lines += ["", "tested commits (role, commit, verdict, hits/runs, titles):"]
    for s in d["steps"]:
        extra = "; ".join(s["titles"] or s["other_titles"])
        if s["skip_reason"]:
            extra = f"[{s['skip_reason']}] {extra}".strip()
        lines.append(f"  {s['role']:<14} {s['commit'][:12]} {s['verdict'] or '-':<5} "
                     f"{s['hits']}/{s['runs']}  {s['subject'][:60]}"
                     + (f"  {extra}" if extra else ""))
    if d["skipped"]:
        lines += ["", "skipped (not this bug or not judgeable):"]
        lines += [f"  {s['commit'][:12]} {s['reason']}"
                  + (f": {'; '.join(s['titles'])}" if s["titles"] else "")
                  + f"  {s['subject'][:60]}" for s in d["skipped"]]
    if d["bisect_log"]:
        lines += ["", "git bisect log:"] + ["  " + ln for ln in d["bisect_log"].splitlines()]
    lines += ["", "reproduce:", f"  {d['reproducer']}"]
    if d["culprit_run"]:
        lines.append(f"  {d['culprit_run']}")
    return "\n".join(lines) + "\n"
