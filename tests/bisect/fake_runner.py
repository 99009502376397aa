"""A fake Runner for the bisect tests: answers jobs like ``run_job`` on a fake history.

A commit's behaviour is the JSON file ``bug.json`` at that revision of the job's tree
(absent: clean):

* ``{"hit": 0.4, "title": "..."}``: the finding shows with that probability, decided by the
  commit's subject and the attempt tag (deterministic); ``"only_tags": ["step"]`` limits hits to
  jobs whose attempt tag starts with one of them; ``"seed"`` changes the draw
* ``{"build": "fail"}``: the build fails; ``{"config": "mismatch"}``: the config proof fails
* ``{"other": "WARNING: ... in f"}``: a different splat; ``"also"``: one more finding beside
  the hit
* ``{"infra": N}``: the first N jobs of that commit end in an infrastructure error

``vmlinux_sha256`` is the blob id of the file ``code`` at that revision, so a commit that
does not change ``code`` is a no-op change. Like ``run_job``, a job whose result.json exists
is answered from it. Each job really run is appended to ``$FAKE_RUNNER_LOG``;
``$FAKE_RUNNER_KILL_AFTER=N`` SIGKILLs the process after its Nth real run.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orchestrator.job import Job

DEFAULT_TITLE = "BUG: sleeping function called from invalid context in prf_open"
_count = 0


def _show(tree: str, rev: str, path: str) -> str | None:
    proc = subprocess.run(["git", "-C", tree, "show", f"{rev}:{path}"], capture_output=True,
                          text=True, check=False)
    return proc.stdout if proc.returncode == 0 else None


def _blob(tree: str, rev: str, path: str) -> str:
    proc = subprocess.run(["git", "-C", tree, "rev-parse", f"{rev}:{path}"],
                          capture_output=True, text=True, check=False)
    return hashlib.sha256(proc.stdout.encode()).hexdigest()


def _u(tree: str, commit: str, tag: str, seed: str = "") -> float:
    """Deterministic "random" number per (commit subject, attempt): the same on every run
    and machine (commit ids are not: the fake tree's base commit has today's date)."""
    subject = subprocess.run(["git", "-C", tree, "log", "-1", "--format=%s", commit],
                             capture_output=True, text=True, check=True).stdout.strip()
    return int(hashlib.sha256(f"{seed}{subject}:{tag}".encode()).hexdigest()[:8], 16) / 2**32


def _finding(klass: str, title: str) -> dict[str, Any]:
    return {"key": f"{klass}|{title}", "class": klass, "title": title, "guilty": "",
            "count": 1, "corrupted": False, "fatal": False, "expected": False,
            "expected_reason": None, "report": title}


def run_one(job: Job) -> dict[str, Any]:
    global _count
    assert job.tree and job.rev
    run_dir = Path(job.out_root) / job.job_id
    done = run_dir / "result.json"
    if done.exists():
        old: dict[str, Any] = json.loads(done.read_text())
        if old["reason_code"] != "interrupted":
            return old
    run_dir.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "-C", job.tree, "rev-parse", job.rev], capture_output=True,
                            text=True, check=True).stdout.strip()
    spec = json.loads(_show(job.tree, commit, "bug.json") or "{}")
    built_mark = Path(job.out_root) / ".fake-built" / commit
    cached = built_mark.exists()
    verdict, code, reason, findings = "pass", "", "", []
    ok = True
    infra_mark = Path(job.out_root) / ".fake-infra" / commit
    infra_seen = len(infra_mark.read_text()) if infra_mark.exists() else 0
    if spec.get("build") == "fail":
        verdict, code, reason, ok = "error", "build-failed", "make failed: error: x", False
    elif spec.get("config") == "mismatch":
        verdict, code, reason, ok = "error", "config-mismatch", "CONFIG_X not set", False
    elif infra_seen < int(spec.get("infra", 0)):
        infra_mark.parent.mkdir(parents=True, exist_ok=True)
        infra_mark.write_text("x" * (infra_seen + 1))
        verdict, code, reason = "error", "boot-timeout", "no userspace in 90 s"
    elif spec.get("other"):
        verdict, code, reason = "fail", "kernel-finding", spec["other"]
        findings = [_finding("WARNING", spec["other"])]
    elif "hit" in spec:
        tags = spec.get("only_tags")
        allowed = tags is None or any(job.attempt_tag.startswith(t) for t in tags)
        draw = _u(job.tree, commit, job.attempt_tag, str(spec.get("seed", "")))
        if allowed and draw < float(spec["hit"]):
            title = spec.get("title", DEFAULT_TITLE)
            verdict, code, reason = "fail", "kernel-finding", title
            findings = [_finding(title.split(":")[0], title)]
        if spec.get("also"):
            verdict, code, reason = "fail", "kernel-finding", reason or spec["also"]
            findings.append(_finding("WARNING", spec["also"]))
    if ok and not cached:
        built_mark.parent.mkdir(parents=True, exist_ok=True)
        built_mark.touch()
    result = {
        "job_id": job.job_id, "scenario": job.scenario_origin, "run_dir": str(run_dir),
        "verdict": verdict, "exit_code": {"pass": 0, "fail": 1}.get(verdict, 2),
        "reason": reason, "reason_code": code, "reproduced": None, "findings": findings,
        "reads": {"total": 1, "failed": 0, "short": 0}, "profiles": [],
        "kernel": {"ok": ok, "error": reason if not ok else None, "key": f"key-{commit[:12]}",
                   "cached": cached if ok else None, "result_dir": None, "log": None,
                   "tree": job.tree, "commit": commit, "rev": job.rev, "vmlinux": None,
                   "vmlinux_sha256": _blob(job.tree, commit, "code") if ok else None,
                   "warnings": 0},
        "hang": None, "timings_s": {"total": 0.0},
    }
    done.write_text(json.dumps(result))
    log = os.environ.get("FAKE_RUNNER_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"{job.job_id} {commit[:12]} {job.attempt_tag}\n")
    _count += 1
    kill_after = int(os.environ.get("FAKE_RUNNER_KILL_AFTER", "0"))
    if kill_after and _count >= kill_after:
        os.kill(os.getpid(), signal.SIGKILL)
    return result


def run(jobs: Sequence[Job]) -> list[dict[str, Any]]:
    return [run_one(j) for j in jobs]
