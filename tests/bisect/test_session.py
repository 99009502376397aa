"""Bisections on a fake history with the fake runner: culprit, flaky bugs, skips, ranges,
wrong ends, fix bisection, verification, no-op changes, the user's checkout untouched."""

from __future__ import annotations

import json
import math
from pathlib import Path

from orchestrator.workflows.bisect.decide import p_estimate
from tests.bisect.conftest import Bisector, git, make_history

OTHER = "WARNING: CPU: 0 PID: 1 at kernel/x.c in other_func"


def test_finds_the_culprit_in_log2_steps_and_verifies_it(fake_tree: Path, bisector: Bisector,
                                                        tmp_path: Path) -> None:
    c = make_history(fake_tree, n=16, bug_at=9)
    d = bisector(fake_tree, c[0], c[16], runs=3)
    assert d["status"] == "found" and d["exit_code"] == 0, d["reason"]
    assert d["culprit"]["commit"] == c[9]
    assert d["culprit"]["subject"] == "step 9: change the note"
    assert d["hit_rate"] == {"p": 0.75, "hits": 3, "runs": 3, "ratio": 1.0}
    assert d["runs_for_good"] == 3  # p taken as 0.75: 0.25^3 <= 0.05
    assert d["bisect_steps"] == 4
    # ends + 4 steps; the checks reuse builds
    assert d["builds"] <= math.ceil(math.log2(16)) + 2
    assert d["checks"]["ok"] and not d["noop_change"]
    assert d["checks"]["culprit_check"]["verdict"] == "bad"
    assert d["checks"]["parent_check"]["commit"] == c[8]
    assert d["checks"]["parent_check"]["verdict"] == "good"
    out = tmp_path / "bisect"
    steps = [json.loads(ln) for ln in (out / "steps.jsonl").read_text().splitlines()]
    assert [s["role"] for s in steps] == ["end-bad", "end-good"] + ["step"] * 4 + \
        ["verify-culprit", "verify-parent"]
    s = steps[2]
    assert set(s) >= {"commit", "subject", "verdict", "runs", "hits", "titles", "build_keys",
                      "vmlinux_sha256", "run_dirs"}
    assert all(Path(p, "result.json").exists() for p in s["run_dirs"])
    log = (out / "bisect.log").read_text()
    assert f"git bisect bad {c[9]}" in log and log.count("git bisect ") == 5
    assert log.count(f"# first bad commit: [{c[9]}]") == 1
    text = (out / "result.txt").read_text()
    assert c[9] in text and "BUG: sleeping function called from invalid context in prf_open" \
        in text and "git bisect log:" in text and "pgo-orch run" in text


def test_user_checkout_and_own_bisection_untouched(fake_tree: Path, bisector: Bisector) -> None:
    c = make_history(fake_tree, n=8, bug_at=5)
    git(fake_tree, "checkout", "-q", c[3])
    (fake_tree / "wip.txt").write_text("uncommitted work\n")
    git(fake_tree, "bisect", "start", c[8], c[0])  # the user's own bisection, in progress
    head = git(fake_tree, "rev-parse", "HEAD")
    status = git(fake_tree, "status", "--porcelain")
    user_log = git(fake_tree, "bisect", "log")
    refs = git(fake_tree, "for-each-ref", "refs/bisect")
    d = bisector(fake_tree, c[0], c[8], runs=2)
    assert d["culprit"]["commit"] == c[5]
    assert git(fake_tree, "rev-parse", "HEAD") == head
    assert git(fake_tree, "status", "--porcelain") == status
    assert git(fake_tree, "bisect", "log") == user_log
    assert git(fake_tree, "for-each-ref", "refs/bisect") == refs
    assert (fake_tree / "wip.txt").read_text() == "uncommitted work\n"
    # the scratch worktree is gone again
    assert git(fake_tree, "worktree", "list").count("\n") == 0


def test_flaky_bug_uses_k_from_the_hit_rate(fake_tree: Path, bisector: Bisector) -> None:
    c = make_history(fake_tree, n=16, bug_at=7, bug={"hit": 0.5, "seed": "a"})
    d = bisector(fake_tree, c[0], c[16], runs=8, confidence=0.95)
    hr = d["hit_rate"]
    assert 0 < hr["hits"] < 8
    p = p_estimate(hr["hits"], 8)
    assert hr["p"] == round(p, 4) < hr["hits"] / 8
    assert d["runs_for_good"] == min(10, math.ceil(math.log(0.05) / math.log(1 - p) - 1e-9))
    assert d["status"] == "found", d["reason"]
    assert d["culprit"]["commit"] == c[7]
    goods = [s for s in d["steps"] if s["role"] == "step" and s["verdict"] == "good"]
    assert goods and all(s["clean"] == d["runs_for_good"] for s in goods)
    want = 1.0
    for _ in goods:
        want *= 1 - (1 - p) ** d["runs_for_good"]
    assert d["confidence"]["overall"] == round(want, 4) and d["confidence"]["overall"] < 1


def test_flaky_misjudgement_is_caught_by_verification(fake_tree: Path,
                                                     bisector: Bisector) -> None:
    # this draw shows the bug on 7 of 8 BAD runs: p is overestimated, k = 3 is too few, a
    # bad commit passes as good and the answer is wrong; rerunning the parent catches it
    c = make_history(fake_tree, n=16, bug_at=7, bug={"hit": 0.5})
    d = bisector(fake_tree, c[0], c[16], runs=8)
    assert d["hit_rate"]["hits"] == 7 and d["runs_for_good"] == 3
    assert d["culprit"]["commit"] != c[7]
    assert d["status"] == "unverified" and d["exit_code"] == 1
    assert "its parent was bad on rerun" in d["reason"]


def test_build_failure_and_other_splat_are_skipped_and_listed(fake_tree: Path,
                                                               bisector: Bisector) -> None:
    extra = {8: {"build": "fail"}, 4: {"other": OTHER}, 12: {"config": "mismatch"}}
    c = make_history(fake_tree, n=16, bug_at=10, extra=extra)
    d = bisector(fake_tree, c[0], c[16], runs=2)
    assert d["status"] == "found" and d["culprit"]["commit"] == c[10], d["reason"]
    skipped = {s["commit"]: s for s in d["skipped"]}
    assert c[8] in skipped and skipped[c[8]]["reason"] == "build-failed"
    if c[4] in skipped:
        assert skipped[c[4]]["reason"] == "other-splat" and skipped[c[4]]["titles"] == [OTHER]
        assert OTHER in d["other_splats"]
    assert f"git bisect skip {c[8]}" in d["bisect_log"]


def test_only_skipped_commits_left_is_a_range(fake_tree: Path, bisector: Bisector) -> None:
    extra = {8: {"build": "fail"}, 9: {"build": "fail"}}
    c = make_history(fake_tree, n=16, bug_at=9, extra=extra)
    d = bisector(fake_tree, c[0], c[16], runs=2)
    assert d["status"] == "range" and d["exit_code"] == 1
    assert {x["commit"] for x in d["candidates"]} == {c[8], c[9], c[10]}
    assert d["culprit"] is None


def test_wrong_ends_exit_3_with_what_was_seen(fake_tree: Path, bisector: Bisector,
                                             tmp_path: Path) -> None:
    c = make_history(fake_tree, n=8, bug_at=4)
    d = bisector(fake_tree, c[0], c[3], runs=2, out=tmp_path / "a")  # BAD is clean
    assert d["status"] == "wrong-ends" and d["exit_code"] == 3
    assert "did not show any finding in 2 runs" in d["reason"] and "clean" in d["reason"]
    d = bisector(fake_tree, c[5], c[8], runs=2, out=tmp_path / "b")  # GOOD has the bug
    assert d["status"] == "wrong-ends" and d["exit_code"] == 3
    assert "is not clean" in d["reason"] and "prf_open" in d["reason"]
    d = bisector(fake_tree, c[0], c[8], runs=2, match="no such title", out=tmp_path / "c")
    assert d["exit_code"] == 3 and "/no such title/" in d["reason"]


def test_fix_bisection_finds_the_first_good_commit(fake_tree: Path,
                                                   bisector: Bisector) -> None:
    c = make_history(fake_tree, n=16, bug_at=2, fixed_at=11)
    # --bad is the old end (bug present), --good the new one (fixed)
    d = bisector(fake_tree, c[16], c[2], runs=2, fix=True)
    assert d["status"] == "found", d["reason"]
    assert d["culprit"]["commit"] == c[11]
    assert d["checks"]["culprit_check"]["verdict"] == "good"
    assert d["checks"]["parent_check"]["verdict"] == "bad"
    assert "first fixed commit" in d["bisect_log"] or "git bisect fixed" in d["bisect_log"]


def test_verification_failure_is_inconclusive(fake_tree: Path, bisector: Bisector) -> None:
    # the bug shows only in the bisection's own runs, never when the culprit is rerun
    c = make_history(fake_tree, n=8, bug_at=5, bug={"hit": 1.0,
                                                   "only_tags": ["end-bad", "step"]})
    d = bisector(fake_tree, c[0], c[8], runs=2)
    assert d["culprit"]["commit"] == c[5]
    assert d["status"] == "unverified" and d["exit_code"] == 1
    assert "the culprit was good on rerun" in d["reason"]


def test_noop_culprit_is_flagged(fake_tree: Path, bisector: Bisector, tmp_path: Path) -> None:
    # the "bug" commit does not change the code: identical vmlinux to its parent
    c = make_history(fake_tree, n=8, bug_at=5, code_at=set())
    d = bisector(fake_tree, c[0], c[8], runs=2)
    assert d["culprit"]["commit"] == c[5]
    assert d["noop_change"] is True and d["status"] == "unverified"
    assert "no-op change" in d["reason"]
    assert "IDENTICAL" in (tmp_path / "bisect" / "result.txt").read_text()


def test_infra_errors_are_retried_then_skipped(fake_tree: Path, bisector: Bisector) -> None:
    extra = {8: {"infra": 1}, 12: {"infra": 5, "hit": 1.0}}
    c = make_history(fake_tree, n=16, bug_at=10, extra=extra)
    d = bisector(fake_tree, c[0], c[16], runs=2, retries=1)
    assert d["status"] == "found" and d["culprit"]["commit"] == c[10], d["reason"]
    by = {s["commit"]: s for s in d["steps"] if s["role"] == "step"}
    if c[8] in by:  # one boot timeout, then a clean run: good
        assert by[c[8]]["verdict"] == "good" and by[c[8]]["runs"] == 1 + d["runs_for_good"]
    if c[12] in by:
        assert by[c[12]]["verdict"] == "skip" and by[c[12]]["skip_reason"] == "infra"


def test_finding_on_both_ends_suggests_match(fake_tree: Path, bisector: Bisector,
                                             tmp_path: Path) -> None:
    # BAD shows the bug and a pre-existing warning; GOOD shows the warning only
    old = {"other": OTHER}
    both = {"hit": 1.0, "also": OTHER}
    c = make_history(fake_tree, n=8, bug_at=5, bug=both,
                     extra={i: old for i in range(0, 5)})
    d = bisector(fake_tree, c[1], c[8], runs=2, out=tmp_path / "a")
    assert d["status"] == "wrong-ends" and "--match" in d["reason"]
    assert "in prf_open" in d["reason"].split("--match", 1)[1]
