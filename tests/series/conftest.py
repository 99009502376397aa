"""Series test helpers: a fake kernel whose bugs are markers in its source, and a fake runner.

The fake runner plays the run seam: for a job at revision R it reads ``drivers/fake.c`` at R
and reports what the markers say (SPLAT: a kernel finding; READERR: failed profile reads;
FLAKY: a warning on every other run of that revision; INFRA: an infrastructure error).
"""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from orchestrator.workflows.series.seam import Job

ENV = {"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.org",
       "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.org",
       "GIT_AUTHOR_DATE": "2024-01-01T00:00:00+0000",
       "GIT_COMMITTER_DATE": "2024-01-01T00:00:00+0000", "PATH": "/usr/bin:/bin"}

SPLAT_TITLE = "BUG: sleeping function called from invalid context in prf_open"
SCENARIO = """\
name = "fake-series"
description = "a scenario for the fake kernel"

[kernel]
fragments = []
options = ["CONFIG_LOG_BUF_SHIFT=18"]

[[readers]]
name = "cat"
command = "cat /dev/null"
iterations = 1
"""


def git(tree: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(tree), *args], env=ENV, check=True,
                          capture_output=True, text=True).stdout


def commit_change(tree: Path, subject: str, text: str, path: str = "drivers/fake.c") -> str:
    (tree / path).write_text(text)
    git(tree, "add", "-A")
    git(tree, "commit", "-q", "-m", subject)
    return git(tree, "rev-parse", "HEAD").strip()


def make_series(tree: Path, contents: list[tuple[str, str]], *, branch: str = "topic") -> str:
    """Commit ``contents`` (subject, new drivers/fake.c) on ``branch`` off the current branch;
    the user's checkout goes back to it. Returns the base commit."""
    base = git(tree, "rev-parse", "HEAD").strip()
    main = git(tree, "symbolic-ref", "--short", "HEAD").strip()
    git(tree, "checkout", "-q", "-b", branch)
    for subject, text in contents:
        commit_change(tree, subject, text)
    git(tree, "checkout", "-q", main)
    return base


def export_mbox(tree: Path, rng: str, dest: Path, *extra: str) -> Path:
    dest.write_text(git(tree, "format-patch", "--stdout", *extra, rng))
    return dest


class FakeRunner:
    def __init__(self, tree: Path) -> None:
        self.tree = tree
        self.jobs: list[Job] = []
        self.calls: Counter[str] = Counter()

    def __call__(self, jobs: Sequence[Job]) -> list[dict[str, Any]]:
        out = []
        for job in jobs:
            self.jobs.append(job)
            assert job.rev is not None
            self.calls[job.rev] += 1
            out.append(self.result(job))
        return out

    def result(self, job: Job) -> dict[str, Any]:
        assert job.rev is not None
        src = git(self.tree, "show", f"{job.rev}:drivers/fake.c")
        run_dir = str(Path(job.out_root) / (job.attempt_tag or "run"))
        findings: list[dict[str, Any]] = []
        reads = {"total": 10, "failed": 0, "short": 0}
        if "INFRA" in src:
            return {"job_id": job.attempt_tag, "scenario": "fake-series", "run_dir": run_dir,
                    "verdict": "error", "exit_code": 2, "reason": "boot timeout",
                    "reason_code": "boot-timeout", "findings": [], "reads": reads,
                    "profiles": [], "kernel": {"ok": True}, "hang": None, "timings_s": {}}
        if "SPLAT" in src:
            findings.append(_finding("bug", SPLAT_TITLE))
        if "FLAKY" in src and self.calls[job.rev] % 2 == 1:
            findings.append(_finding("warning", "WARNING in flaky_fn"))
        if "READERR" in src:
            reads["failed"] = 3
        failed = bool(findings) or bool(reads["failed"])
        return {"job_id": job.attempt_tag, "scenario": "fake-series", "run_dir": run_dir,
                "verdict": "fail" if failed else "pass", "exit_code": int(failed),
                "reason": "findings" if failed else "",
                "reason_code": ("kernel-finding" if findings else "read-errors")
                if failed else "",
                "reproduced": None, "findings": findings, "reads": reads,
                "profiles": [], "kernel": {"ok": True, "rev": job.rev}, "hang": None,
                "timings_s": {"total": 1.0}}


def _finding(klass: str, title: str) -> dict[str, Any]:
    return {"key": f"{klass}|{title}", "class": klass, "title": title, "guilty": None,
            "count": 1, "corrupted": False, "fatal": False, "expected": False,
            "expected_reason": None, "report": f"{title}\nCall Trace:\n fake_fn+0x1/0x2"}


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    p = tmp_path / "fake-series.toml"
    p.write_text(SCENARIO)
    return p


def user_state(tree: Path) -> dict[str, str]:
    """Everything of the user's repository the series must leave alone."""
    return {"status": git(tree, "status", "--porcelain=v1", "--untracked-files=all"),
            "head": git(tree, "rev-parse", "HEAD"),
            "symbolic": git(tree, "symbolic-ref", "-q", "HEAD"),
            "branches": git(tree, "for-each-ref", "refs/heads"),
            "stash": git(tree, "stash", "list"),
            "index": git(tree, "diff", "--cached"),
            "worktree": git(tree, "diff")}
