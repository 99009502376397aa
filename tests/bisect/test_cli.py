"""The commands end to end in subprocesses with the fake runner (PGO_ORCH_RUNNER): exit
codes, resume after a kill, and ``bisect-step`` under a real ``git bisect run``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.bisect.conftest import ENV, SCENARIO, git, make_history

ROOT = Path(__file__).resolve().parents[2]


def pgo(args: list[str], cache: Path, cwd: Path | None = None, **env: str,
        ) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ, PYTHONPATH=str(ROOT), PGO_ORCH_CACHE=str(cache),
                PGO_ORCH_RUNNER="tests.bisect.fake_runner:run", **env)
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], cwd=cwd or ROOT,
                          env=full, capture_output=True, text=True, timeout=120, check=False)


def test_bisect_command_prints_result_and_exit_codes(fake_tree: Path, cache: Path,
                                                     tmp_path: Path) -> None:
    c = make_history(fake_tree, n=8, bug_at=6)
    out = tmp_path / "b1"
    p = pgo(["bisect", str(SCENARIO), "--tree", str(fake_tree), "--good", c[0], "--bad",
             c[8], "--runs", "2", "--out", str(out)], cache)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith(f"first bad commit: {c[6]}")
    assert (out / "result.txt").read_text() == p.stdout
    p = pgo(["bisect", str(SCENARIO), "--tree", str(fake_tree), "--good", c[0], "--bad",
             c[8], "--out", str(out)], cache)
    assert p.returncode == 3 and "already holds a bisection" in p.stderr
    # wrong ends: exit 3 with what was seen
    p = pgo(["bisect", str(SCENARIO), "--tree", str(fake_tree), "--good", c[7], "--bad",
             c[8], "--json", "--out", str(tmp_path / "b2")], cache)
    assert p.returncode == 3 and json.loads(p.stdout)["status"] == "wrong-ends"
    assert "is not clean" in p.stderr
    # invalid input: not an ancestor, unknown revision, bad regex; never a traceback
    for extra, msg in ((["--good", c[8], "--bad", c[0]], "not an ancestor"),
                       (["--good", "nope", "--bad", c[8]], "--good: 'nope' is not a commit"),
                       (["--good", c[0], "--bad", c[8], "--match", "("], "--match"),
                       (["--good", c[0], "--bad", c[8], "--confidence", "1.5"],
                        "--confidence")):
        p = pgo(["bisect", str(SCENARIO), "--tree", str(fake_tree), *extra, "--out",
                 str(tmp_path / "b3")], cache)
        assert p.returncode == 3 and msg in p.stderr and "Traceback" not in p.stderr, p.stderr


def test_resume_after_a_kill_reruns_nothing(fake_tree: Path, cache: Path,
                                            tmp_path: Path) -> None:
    c = make_history(fake_tree, n=16, bug_at=11, bug={"hit": 0.5, "seed": "a"})
    out = tmp_path / "b"
    log = tmp_path / "jobs.log"
    args = ["bisect", str(SCENARIO), "--tree", str(fake_tree), "--good", c[0], "--bad",
            c[16], "--runs", "6", "--out", str(out)]
    p = pgo(args, cache, FAKE_RUNNER_LOG=str(log), FAKE_RUNNER_KILL_AFTER="27")
    assert p.returncode == -9  # SIGKILL, mid-way
    assert not (out / "result.json").exists()
    steps_before = (out / "steps.jsonl").read_text().splitlines()
    assert any(json.loads(s)["role"] == "step" for s in steps_before)
    assert "git bisect" in (out / "bisect.log").read_text()
    p = pgo(["bisect", "--resume", str(out)], cache,
            FAKE_RUNNER_LOG=str(log))
    assert p.returncode == 0, p.stderr
    d = json.loads((out / "result.json").read_text())
    assert d["culprit"]["commit"] == c[11]
    jobs = [ln.split()[0] for ln in log.read_text().splitlines()]
    assert len(jobs) == len(set(jobs)), "a job ran twice"
    # the same bisection without a kill asks for exactly the same jobs
    log2 = tmp_path / "jobs2.log"
    p = pgo([*args[:-1], str(tmp_path / "fresh")], cache, FAKE_RUNNER_LOG=str(log2))
    assert p.returncode == 0, p.stderr
    fresh = json.loads((tmp_path / "fresh" / "result.json").read_text())
    assert fresh["culprit"] == d["culprit"] and fresh["runs"] == d["runs"]
    assert [s["commit"] for s in fresh["steps"]] == [s["commit"] for s in d["steps"]]


def test_bisect_step_under_git_bisect_run(fake_tree: Path, cache: Path,
                                          tmp_path: Path) -> None:
    extra = {4: {"build": "fail"}, 12: {"other": "WARNING: CPU: 0 PID: 1 at x.c in other"}}
    c = make_history(fake_tree, n=16, bug_at=6, extra=extra)
    script = tmp_path / "step.sh"
    script.write_text(f"#!/bin/sh\nexec {sys.executable} -m orchestrator.cli bisect-step "
                      f"{SCENARIO} --match 'in prf_open$' --runs 2 --out {tmp_path / 'runs'}\n")
    script.chmod(0o755)
    env = dict(os.environ, **ENV, PYTHONPATH=str(ROOT), PGO_ORCH_CACHE=str(cache),
               PGO_ORCH_RUNNER="tests.bisect.fake_runner:run")
    env["PATH"] = os.environ["PATH"]
    git(fake_tree, "bisect", "start", c[16], c[0])
    p = subprocess.run(["git", "bisect", "run", str(script)], cwd=fake_tree, env=env,
                       capture_output=True, text=True, timeout=300, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"{c[6]} is the first bad commit" in p.stdout
    log = git(fake_tree, "bisect", "log")
    git(fake_tree, "bisect", "reset")
    # every commit git asked about got the right answer
    for line in log.splitlines():
        if line.startswith("git bisect ") and len(line.split()) == 4:
            _, _, term, commit = line.split()
            i = c.index(commit)
            want = "skip" if i in (4, 12) else ("bad" if i >= 6 else "good")
            assert term == want, (i, term)


def test_bisect_step_exit_codes(fake_tree: Path, cache: Path, tmp_path: Path) -> None:
    c = make_history(fake_tree, n=4, bug_at=3, extra={2: {"config": "mismatch"}})
    codes = {}
    for i in range(5):
        git(fake_tree, "checkout", "-q", c[i])
        p = pgo(["bisect-step", str(SCENARIO), "--runs", "2", "--out", str(tmp_path / "r")],
                cache, cwd=fake_tree)
        codes[i] = p.returncode
    assert codes == {0: 0, 1: 0, 2: 125, 3: 1, 4: 1}
    git(fake_tree, "checkout", "-q", c[4])
    p = pgo(["bisect-step", str(SCENARIO), "--fix", "--out", str(tmp_path / "r")], cache,
            cwd=fake_tree)
    assert p.returncode == 0  # a fix bisection: the bug still shows = the old term
    p = pgo(["bisect-step", str(tmp_path / "missing.toml")], cache, cwd=fake_tree)
    assert p.returncode == 128 and "not found" in p.stderr
