"""The reproduce workflow end to end with a fake runner: scenario, verdicts, patch, proof."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest

from orchestrator.job import Job
from orchestrator.scenario.loader import loads
from orchestrator.workflows.reproduce.workflow import ReproduceOptions, reproduce
from tests.reproduce.conftest import MAILS, git
from tests.reproduce.fakes import FakeRunner, result

TITLE = "BUG: sleeping function called from invalid context in prf_open"


def _opts(tmp_path: Path, mail: Path, tree: Path, runner: Any, **kw: Any) -> ReproduceOptions:
    return ReproduceOptions(mail=str(mail), out=tmp_path / "out", tree=tree, runs=3,
                            duration=3, runner=runner, **kw)


def test_write_only_writes_a_normal_scenario(tmp_path: Path, seed: Path, fake_tree: Path) -> None:
    runner = FakeRunner(lambda j: result(j))
    out = reproduce(_opts(tmp_path, seed, fake_tree, runner, write_only=True))
    assert out.exit_code == 0 and runner.jobs == []
    text = (tmp_path / "out" / "scenario.toml").read_text()
    sc = tomllib.loads(text)
    assert sc["expect"]["titles"] == [TITLE]
    assert sc["kernel"]["require"] == ["CONFIG_DEBUG_ATOMIC_SLEEP=y", "CONFIG_PGO_CLANG=y",
                                       "CONFIG_DEBUG_FS=y"]
    assert sc["machine"]["cpus"] == 2
    reader = sc["readers"][0]
    assert reader["command"] == "cat /sys/kernel/debug/pgo/vmlinux.profraw"
    assert reader["parallel"] == 3 and reader["duration"] == 3
    assert sc["readers"][1]["name"] == "profile-proof" and sc["readers"][1]["keep_max"] == 1
    assert any("mount -t debugfs" in s for s in sc["setup"])
    assert sc["loads"][0]["command"].startswith("stress-ng")
    for name in ("extracted.json", "report.json", "report.html"):
        assert (tmp_path / "out" / name).is_file()
    loaded = loads(text, origin="gen")
    assert loaded.name == "reproduce-prf_open"
    assert loaded.expect.titles == [TITLE]


def test_reproduced_in_every_run_exits_1(tmp_path: Path, seed: Path, fake_tree: Path) -> None:
    runner = FakeRunner(lambda j: result(j, titles=[TITLE], verdict="fail",
                                         reason_code="kernel-finding"))
    out = reproduce(_opts(tmp_path, seed, fake_tree, runner))
    assert out.exit_code == 1
    assert out.headline.startswith("REPRODUCED in 3 of 3 runs")
    assert len({j.attempt_tag for j in runner.jobs}) == 3
    assert all(j.tree == str(fake_tree) and j.rev is None for j in runner.jobs)
    assert out.report["runs"]["reproduced"] == 3


def test_not_reproduced_with_proof_and_other_findings(tmp_path: Path, seed: Path,
                                                      fake_tree: Path) -> None:
    other = "BUG: sleeping function called from invalid context in something_else"
    runner = FakeRunner(lambda j: result(j, titles=[other], verdict="fail", reproduced=False))
    out = reproduce(_opts(tmp_path, seed, fake_tree, runner))
    assert out.exit_code == 0
    assert out.headline.startswith("NOT REPRODUCED in 3 runs")
    assert out.report["runs"]["other_findings"] == {f"sleep-in-atomic|{other}": 3}
    proof = out.report["runs"]["proof"][0]
    assert proof["reads"]["total"] == 42
    if shutil.which("llvm-profdata") or shutil.which("llvm-profdata-14"):
        funcs = {c["function"]: c for c in proof["functions"]}
        assert funcs["prf_open"]["in_profile"] is False  # kernel/pgo is not instrumented
        assert funcs["full_proxy_open"]["in_profile"] and funcs["full_proxy_open"]["ran"]
        assert funcs["full_proxy_open"]["sum"] == 9
    facts = {f["name"]: f for f in out.report["extracted"]["reports"][0]["facts"]}
    assert facts["not-instrumented"]["line"] == "PGO_PROFILE\t:= n"
    assert facts["file"]["value"] == "/sys/kernel/debug/pgo/vmlinux.profraw"
    mail_facts = {f["name"]: f for f in out.report["extracted"]["facts"]}
    assert mail_facts["base-commit-in-tree"]["value"] is False


def test_infra_errors_exit_2(tmp_path: Path, seed: Path, fake_tree: Path) -> None:
    runner = FakeRunner(lambda j: result(j, verdict="error", reason_code="boot-timeout"))
    out = reproduce(_opts(tmp_path, seed, fake_tree, runner))
    assert out.exit_code == 2 and "3 of 3 runs did not complete" in out.headline


def test_seed_patch_does_not_apply_plainly(tmp_path: Path, seed: Path, fake_tree: Path) -> None:
    runner = FakeRunner(lambda j: result(j, titles=[TITLE], verdict="fail"))
    head = git(fake_tree, "rev-parse", "HEAD")
    out = reproduce(_opts(tmp_path, seed, fake_tree, runner, with_patch=True))
    assert out.exit_code == 1
    assert "the mail's patch does not apply" in out.headline
    patch = out.report["patch"]
    assert patch["applied"] is False
    assert "kernel/pgo/fs.c" in patch["message"]  # git's own words name the file
    assert len(runner.jobs) == 3  # no patched runs
    assert git(fake_tree, "rev-parse", "HEAD") == head
    assert git(fake_tree, "status", "--porcelain") == ""


def _fix_mail(tmp_path: Path, tree: Path) -> Path:
    """The seed mail's text with a patch made against ``tree``."""
    fs = tree / "kernel" / "pgo" / "fs.c"
    orig = fs.read_text()
    fs.write_text(orig.replace("\treturn 0;\n}\n\nstatic const struct file_operations prf_fops",
                               "\treturn -EAGAIN;\n}\n\nstatic const struct file_operations "
                               "prf_fops"))
    diff = git(tree, "diff")
    fs.write_text(orig)
    body = (MAILS / "own-fix.eml").read_text()
    mail = tmp_path / "fix.eml"
    mail.write_text(body[: body.index("diff --git")] + diff + "-- \n2.39\n")
    return mail


def test_with_patch_fix_holds(tmp_path: Path, fake_tree: Path) -> None:
    mail = _fix_mail(tmp_path, fake_tree)
    base = git(fake_tree, "rev-parse", "HEAD").strip()

    def decide(job: Job) -> dict[str, Any]:
        return result(job) if job.rev else result(job, titles=[TITLE], verdict="fail")

    runner = FakeRunner(decide)
    out = reproduce(_opts(tmp_path, mail, fake_tree, runner, with_patch=True))
    assert out.exit_code == 1
    assert "the fix holds" in out.headline
    patch = out.report["patch"]
    assert patch["applied"] is True and patch["files"] == ["kernel/pgo/fs.c"]
    commit = patch["commit"]
    assert git(fake_tree, "rev-parse", f"{commit}^").strip() == base
    assert "-EAGAIN" in git(fake_tree, "show", f"{commit}:kernel/pgo/fs.c")
    assert git(fake_tree, "rev-parse", "HEAD").strip() == base  # the checkout is untouched
    assert git(fake_tree, "status", "--porcelain") == ""
    assert [j.rev for j in runner.jobs] == [None] * 3 + [commit] * 3
    assert out.report["patched"]["fix_holds"] is True


def test_with_patch_fix_does_not_hold(tmp_path: Path, fake_tree: Path) -> None:
    mail = _fix_mail(tmp_path, fake_tree)
    seen = {"n": 0}

    def decide(job: Job) -> dict[str, Any]:
        seen["n"] += 1
        if job.rev and seen["n"] == 5:  # once in three patched runs
            return result(job, titles=[TITLE], verdict="fail")
        return result(job) if job.rev else result(job, titles=[TITLE], verdict="fail")

    out = reproduce(_opts(tmp_path, mail, fake_tree, FakeRunner(decide), with_patch=True))
    assert "still reproduced in 1 of 3 runs (the fix does not hold)" in out.headline
    assert out.report["patched"]["fix_holds"] is False


def test_with_patch_needs_a_patch(tmp_path: Path, fake_tree: Path) -> None:
    from orchestrator.errors import InvalidInput

    mail = tmp_path / "nopatch.eml"
    body = (MAILS / "seed-quoted-reply.eml").read_text()
    mail.write_text(body[: body.index("> diff --git")])
    with pytest.raises(InvalidInput, match="carries no patch"):
        reproduce(_opts(tmp_path, mail, fake_tree, FakeRunner(result), with_patch=True))


def test_two_traces_read_and_write_two_files(tmp_path: Path, fake_tree: Path) -> None:
    out = reproduce(_opts(tmp_path, MAILS / "two-traces.eml", fake_tree, FakeRunner(result),
                          write_only=True))
    sc = tomllib.loads(out.report["scenario"])
    cmds = [r["command"] for r in sc["readers"]]
    assert cmds[:2] == ["cat /sys/kernel/debug/pgo/vmlinux.profraw",
                        "echo 1 > /sys/kernel/debug/pgo/reset"]
    assert len(sc["expect"]["titles"]) == 2


def test_no_file_found_falls_back_to_the_quoted_path(tmp_path: Path, seed: Path) -> None:
    empty = tmp_path / "empty"
    (empty / "kernel").mkdir(parents=True)
    (empty / "kernel" / "x.c").write_text("int x;\n")
    git(empty, "init", "-q")
    git(empty, "add", ".")
    git(empty, "commit", "-q", "-m", "x")
    out = reproduce(_opts(tmp_path, seed, empty, FakeRunner(result), write_only=True))
    fact = next(f for f in out.report["extracted"]["reports"][0]["facts"] if f["name"] == "file")
    assert fact["how"] == "text" and fact["value"] == "/sys/kernel/debug/pgo/vmlinux.profraw"
    assert "$cat /sys/kernel/debug/pgo/vmlinux.profraw" in fact["line"]
