"""A fake history on the fake kernel tree, and helpers to bisect it with the fake runner."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orchestrator.workflows.bisect import scratch
from orchestrator.workflows.bisect.record import BisectDir, Inputs
from orchestrator.workflows.bisect.session import run as run_session
from tests.bisect import fake_runner

ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
       "GIT_COMMITTER_EMAIL": "t@t", "GIT_AUTHOR_DATE": "2024-01-01T00:00:00+0000",
       "GIT_COMMITTER_DATE": "2024-01-01T00:00:00+0000", "PATH": "/usr/bin:/bin"}
SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "smoke.toml"


def git(tree: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(tree), *args], env=ENV, capture_output=True,
                          text=True, check=True).stdout.strip()


def make_history(tree: Path, n: int = 16, bug_at: int = 9,
                 bug: dict[str, Any] | None = None,
                 extra: dict[int, dict[str, Any]] | None = None,
                 fixed_at: int | None = None, code_at: set[int] | None = None) -> list[str]:
    """Commits 1..n on top of the tree's HEAD (returned: [base, c1, ..., cn]). From
    ``bug_at`` (until ``fixed_at``) bug.json holds ``bug``; ``extra`` overrides single
    commits' bug.json. Each commit changes ``note``; commits in ``code_at`` (default: the
    bug commit and the fix) also change ``code`` (what the fake vmlinux hash covers)."""
    bug = bug if bug is not None else {"hit": 1.0}
    code_at = code_at if code_at is not None else {bug_at, *([fixed_at] if fixed_at else [])}
    (tree / "code").write_text("code 0\n")
    git(tree, "add", "code")
    git(tree, "commit", "-qm", "add code")
    commits = [git(tree, "rev-parse", "HEAD")]
    for i in range(1, n + 1):
        (tree / "note").write_text(f"note {i}\n")
        if i in code_at:
            (tree / "code").write_text(f"code {i}\n")
        spec = None
        if i >= bug_at and (fixed_at is None or i < fixed_at):
            spec = bug
        if extra and i in extra:
            spec = extra[i]
        if spec is None:
            (tree / "bug.json").unlink(missing_ok=True)
        else:
            (tree / "bug.json").write_text(json.dumps(spec))
        git(tree, "add", "-A")
        git(tree, "commit", "-qm", f"step {i}: change the note")
        commits.append(git(tree, "rev-parse", "HEAD"))
    return commits


Bisector = Callable[..., dict[str, Any]]


@pytest.fixture
def bisector(cache: Path, tmp_path: Path) -> Bisector:
    """bisector(tree, good, bad, **inputs) runs a bisection with the fake runner in-process."""

    def go(tree: Path, good: str, bad: str, *, out: Path | None = None, resume: bool = False,
           **kw: Any) -> dict[str, Any]:
        g, b, count = scratch.check_range(tree, good, bad, fix=kw.get("fix", False))
        inputs = Inputs(scenario_text=SCENARIO.read_text(), scenario_origin=str(SCENARIO),
                        tree=str(tree), good=g, bad=b, good_rev=good, bad_rev=bad,
                        commits_in_range=count, **kw)
        bdir = BisectDir(out or tmp_path / "bisect")
        return run_session(inputs, bdir, fake_runner.run, resume=resume)

    return go
