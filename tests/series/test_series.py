"""The series workflow end to end on the fake kernel tree, with a fake runner."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from orchestrator import cli
from orchestrator.commands import series as series_cmd
from orchestrator.errors import InvalidInput
from orchestrator.workflows.series.workflow import SeriesOptions, run_series
from tests.series.conftest import (
    SPLAT_TITLE,
    FakeRunner,
    export_mbox,
    git,
    make_series,
    user_state,
)

CLEAN = "int driver(void) { return 1; }\n"
FIXTURES = [  # the pgo-fixtures story on the fake kernel
    ("pgo: allocate under the lock", CLEAN + "/* SPLAT */\n"),
    ("pgo: return -EAGAIN instead", CLEAN + "/* READERR */\n"),
    ("pgo: retry (the fix)", CLEAN + "/* retry */\n"),
]


def _run(tmp_path: Path, tree: Path, series: str, scenario: Path, runner: Any,
         **kw: Any) -> dict[str, Any]:
    opts = SeriesOptions(series=series, out=tmp_path / "out", tree=tree,
                         scenarios=[str(scenario)], **kw)
    outcome = run_series(opts, runner)
    return outcome.summary


def _by_title(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["title"]: f for f in summary["findings"]}


def test_per_patch_all_blames_each_patch(tmp_path: Path, cache: Path, fake_tree: Path,
                                         scenario_file: Path) -> None:
    base = make_series(fake_tree, FIXTURES)
    mbox = export_mbox(fake_tree, "HEAD..topic", tmp_path / "s.mbox", f"--base={base}")
    before = user_state(fake_tree)
    runner = FakeRunner(fake_tree)
    s = _run(tmp_path, fake_tree, str(mbox), scenario_file, runner, kcidb=tmp_path / "k.json")
    assert (s["verdict"], s["exit_code"]) == ("fail", 1)
    f = _by_title(s)
    assert (f[SPLAT_TITLE]["status"], f[SPLAT_TITLE]["patch"],
            f[SPLAT_TITLE]["fixed_by"]) == ("new", 1, 2)
    reads = f["profile reads failed"]
    assert (reads["status"], reads["patch"], reads["fixed_by"]) == ("new", 2, 3)
    cells = [p["cells"]["fake-series"]["status"] for p in s["prefixes"]]
    assert cells == ["pass", "new-finding", "new-finding", "pass"]
    assert [p["subject"] for p in s["patches"]] == [t for t, _ in FIXTURES]
    assert s["base"] == {"commit": base, "source": "base-commit"}
    # confirmation: each new finding was rerun where it appeared and on the prefix before
    tags = {(j.rev, j.attempt_tag) for j in runner.jobs}
    commits = [p["commit"] for p in s["prefixes"]]
    for prefix in (0, 1, 2):
        assert (commits[prefix], "confirm1") in tags
    assert user_state(fake_tree) == before
    assert "refs/pgo-orch/series/" in git(fake_tree, "for-each-ref")
    out = tmp_path / "out"
    series = json.loads((out / "series.json").read_text())
    assert [p["commit"] for p in series["patches"]] == commits[1:]
    assert len(series["patchset_hash"]) == 64
    suites = ET.parse(out / "junit.xml").getroot().findall("testsuite")
    assert [su.get("name") for su in suites][1] == "patch 1: pgo: allocate under the lock"
    assert suites[1].get("failures") == "2"  # run1 and confirm1 both show the new splat
    html = (out / "report.html").read_text()
    assert html.index('class="matrix"') < html.index("New findings")
    assert "introduced by patch 1" in html
    assert s["clean_again_at"] == 3 and "Patch 3 (pgo: retry (the fix)) leaves none" in html
    assert "=== [2/3] pgo: return -EAGAIN instead" in (out / "apply.log").read_text()
    kcidb = json.loads((tmp_path / "k.json").read_text())
    assert len(kcidb["checkouts"]) == 4 and kcidb["checkouts"][0]["patchset_hash"] == ""
    assert all(x["id"].startswith("pgo_orch:") for x in kcidb["tests"] + kcidb["issues"])
    assert len(kcidb["incidents"]) == sum(f["hits"] for f in s["findings"])
    assert [i["culprit"]["code"] for i in kcidb["issues"]] == [True, True]  # both new


def test_thread_mbox_goes_through_b4(tmp_path: Path, cache: Path, fake_tree: Path,
                                     scenario_file: Path) -> None:
    base = make_series(fake_tree, FIXTURES)
    mbox = export_mbox(fake_tree, "HEAD..topic", tmp_path / "t.mbox", "--thread",
                       "--cover-letter", f"--base={base}")
    s = _run(tmp_path, fake_tree, str(mbox), scenario_file, FakeRunner(fake_tree))
    assert s["series"]["kind"] == "thread"
    assert any("b4 am" in n for n in s["series"]["notes"])
    assert [p["subject"] for p in s["patches"]] == [t for t, _ in FIXTURES]
    series = json.loads((tmp_path / "out" / "series.json").read_text())
    assert all(p["message_id"] for p in series["patches"])
    assert s["exit_code"] == 1


def test_per_patch_tip_clean_ends(tmp_path: Path, cache: Path, fake_tree: Path,
                                  scenario_file: Path) -> None:
    make_series(fake_tree, FIXTURES)
    runner = FakeRunner(fake_tree)
    s = _run(tmp_path, fake_tree, "HEAD..topic", scenario_file, runner, per_patch="tip")
    assert (s["verdict"], s["exit_code"]) == ("pass", 0)
    assert len(runner.jobs) == 2  # base and tip, nothing to bisect
    assert [p["built"] for p in s["prefixes"]] == [True] * 4
    assert [p["cells"]["fake-series"]["status"] for p in s["prefixes"]] == \
        ["pass", "not-run", "not-run", "pass"]


def test_per_patch_tip_bisects_inside_the_series(tmp_path: Path, cache: Path, fake_tree: Path,
                                                 scenario_file: Path) -> None:
    contents = [(f"step {i}", CLEAN + f"/* {i} */\n" + ("/* SPLAT */\n" if i >= 3 else ""))
                for i in range(1, 6)]
    make_series(fake_tree, contents)
    runner = FakeRunner(fake_tree)
    s = _run(tmp_path, fake_tree, "HEAD..topic", scenario_file, runner, per_patch="tip")
    f = _by_title(s)[SPLAT_TITLE]
    assert (f["status"], f["patch"], s["exit_code"]) == ("new", 3, 1)
    # base, tip, two bisection steps, then confirmations at 3 and 2: far fewer than 6 + 5
    assert len(runner.jobs) <= 7


def test_pre_existing_and_fixed(tmp_path: Path, cache: Path, fake_tree: Path,
                                scenario_file: Path) -> None:
    from tests.series.conftest import commit_change
    commit_change(fake_tree, "base has the bug", CLEAN + "/* SPLAT */\n/* READERR */\n")
    make_series(fake_tree, [("neutral 1", CLEAN + "/* SPLAT */\n/* READERR */\n/* a */\n"),
                            ("fix reads", CLEAN + "/* SPLAT */\n/* b */\n")])
    s = _run(tmp_path, fake_tree, "HEAD..topic", scenario_file, FakeRunner(fake_tree),
             kcidb=tmp_path / "k.json")
    f = _by_title(s)
    assert f[SPLAT_TITLE]["status"] == "pre-existing"
    issues = json.loads((tmp_path / "k.json").read_text())["issues"]
    assert {(i["misc"]["status"], i["culprit"]["code"]) for i in issues} == \
        {("pre-existing", False), ("fixed", False)}  # the series' code is not the culprit
    assert (f["profile reads failed"]["status"], f["profile reads failed"]["fixed_by"]) == \
        ("fixed", 2)
    assert (s["verdict"], s["exit_code"]) == ("pass", 0)
    assert [p["cells"]["fake-series"]["status"] for p in s["prefixes"]] == \
        ["pre-existing", "pre-existing", "pre-existing"]


def test_flaky_is_reported_not_blamed(tmp_path: Path, cache: Path, fake_tree: Path,
                                      scenario_file: Path) -> None:
    make_series(fake_tree, [("maybe", CLEAN + "/* FLAKY */\n")])
    s = _run(tmp_path, fake_tree, "HEAD..topic", scenario_file, FakeRunner(fake_tree),
             kcidb=tmp_path / "k.json")
    f = _by_title(s)["WARNING in flaky_fn"]
    (issue,) = json.loads((tmp_path / "k.json").read_text())["issues"]
    assert issue["culprit"]["code"] is False
    assert (f["status"], f["patch"], f["hits"], f["runs"]) == ("flaky", 1, 1, 2)
    assert s["exit_code"] == 0


def test_build_failure_and_new_warnings(tmp_path: Path, cache: Path, fake_tree: Path,
                                        scenario_file: Path) -> None:
    make_series(fake_tree, [("warns", CLEAN + "/* FAKE_BUILD_WARNING */\n"),
                            ("breaks", CLEAN + "/* FAKE_BUILD_ERROR */\n"),
                            ("repairs", CLEAN + "/* ok */\n")])
    runner = FakeRunner(fake_tree)
    s = _run(tmp_path, fake_tree, "HEAD..topic", scenario_file, runner)
    p1, p2, p3 = s["patches"]
    assert p1["built"] and p1["new_warnings"] == \
        [f"{p1['new_warnings'][0].split(':')[0]}:2:5: warning: fake build warning"]
    assert p1["new_warnings"][0].split(":")[0].endswith("drivers/fake.c")
    assert p2["built"] is False and "fake build error" in p2["build"]["error"]
    assert p2["cells"]["fake-series"]["status"] == "build-failure"
    assert p3["built"] and not p3["new_warnings"]
    assert (s["verdict"], s["exit_code"]) == ("fail", 1)
    assert "patch 2 breaks the build" in s["reason"] and "patch 1 adds 1 warning" in s["reason"]
    assert not any(j.attempt_tag and j.rev == p2["commit"] for j in runner.jobs)


def test_finding_after_a_build_break_names_both_suspects(tmp_path: Path, cache: Path,
                                                         fake_tree: Path,
                                                         scenario_file: Path) -> None:
    make_series(fake_tree, [("breaks", CLEAN + "/* FAKE_BUILD_ERROR SPLAT */\n"),
                            ("repairs the build", CLEAN + "/* SPLAT */\n")])
    s = _run(tmp_path, fake_tree, "HEAD..topic", scenario_file, FakeRunner(fake_tree))
    f = _by_title(s)[SPLAT_TITLE]
    assert (f["status"], f["patch"], f["suspects"]) == ("new", 2, [1, 2])
    assert "any of patches 1, 2 may have brought it" in \
        (tmp_path / "out" / "report.html").read_text()


def test_apply_failure_exit_3_and_tree_untouched(tmp_path: Path, cache: Path,
                                                 fake_tree: Path, scenario_file: Path) -> None:
    base = make_series(fake_tree, FIXTURES[:2])
    mbox = export_mbox(fake_tree, "HEAD..topic", tmp_path / "s.mbox")
    text = mbox.read_text().replace("+/* READERR */", "+/* READERR */\n+x").replace(
        " int driver(void) { return 1; }\n-/* SPLAT */", " int nope(void);\n-/* SPLAT */")
    mbox.write_text(text)
    (fake_tree / "init" / "main.c").write_text("dirty\n")  # uncommitted user work
    (fake_tree / "untracked.txt").write_text("mine\n")
    before = user_state(fake_tree)
    s = _run(tmp_path, fake_tree, str(mbox), scenario_file, FakeRunner(fake_tree), base=base)
    assert (s["verdict"], s["exit_code"]) == ("error", 3)
    assert s["apply_failure"]["number"] == 2
    assert s["apply_failure"]["subject"] == "pgo: return -EAGAIN instead"
    assert s["apply_failure"]["message"]
    assert [p["applied"] for p in s["prefixes"]] == [True, True, False]
    assert s["prefixes"][2]["cells"]["fake-series"]["status"] == "not-applied"
    assert user_state(fake_tree) == before
    assert "does not apply" in (tmp_path / "out" / "apply.log").read_text()


def test_interrupted_series_leaves_a_report_and_the_tree(tmp_path: Path, cache: Path,
                                                         fake_tree: Path,
                                                         scenario_file: Path) -> None:
    make_series(fake_tree, FIXTURES)
    git(fake_tree, "stash", "list")
    (fake_tree / "init" / "main.c").write_text("stashed\n")
    git(fake_tree, "stash", "-q")
    before = user_state(fake_tree)

    def interrupted(jobs: Any) -> list[dict[str, Any]]:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, fake_tree, "HEAD..topic", scenario_file, interrupted)
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["interrupted"] and s["verdict"] == "error" and s["exit_code"] == 2
    assert "interrupted" in (tmp_path / "out" / "report.html").read_text()
    assert user_state(fake_tree) == before


def test_infra_errors_are_not_blamed(tmp_path: Path, cache: Path, fake_tree: Path,
                                     scenario_file: Path) -> None:
    make_series(fake_tree, [("boots badly", CLEAN + "/* INFRA */\n")])
    s = _run(tmp_path, fake_tree, "HEAD..topic", scenario_file, FakeRunner(fake_tree))
    assert (s["verdict"], s["exit_code"], s["findings"]) == ("error", 2, [])
    assert s["patches"][0]["cells"]["fake-series"]["status"] == "error"


def test_base_from_option_and_missing_base(tmp_path: Path, cache: Path, fake_tree: Path,
                                           scenario_file: Path) -> None:
    base = make_series(fake_tree, FIXTURES[:1])
    mbox = export_mbox(fake_tree, "HEAD..topic", tmp_path / "s.mbox")
    with pytest.raises(InvalidInput, match="pass --base"):
        _run(tmp_path, fake_tree, str(mbox), scenario_file, FakeRunner(fake_tree))
    assert not (tmp_path / "out" / "summary.json").exists()
    s = _run(tmp_path, fake_tree, str(mbox), scenario_file, FakeRunner(fake_tree), base=base)
    assert s["base"] == {"commit": base, "source": "--base"}
    bad = export_mbox(fake_tree, "HEAD..topic", tmp_path / "b.mbox", "--base=" + base)
    bad.write_text(bad.read_text().replace(base, "1" * 40))
    with pytest.raises(InvalidInput, match="base-commit 1111"):
        _run(tmp_path, fake_tree, str(bad), scenario_file, FakeRunner(fake_tree))


def test_cli_exit_codes(tmp_path: Path, cache: Path, fake_tree: Path, scenario_file: Path,
                        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                        ) -> None:
    base = make_series(fake_tree, FIXTURES)

    monkeypatch.setattr(series_cmd, "runner_from_args", lambda args: FakeRunner(fake_tree))
    monkeypatch.chdir(tmp_path)  # the default series directory is relative
    common = ["--tree", str(fake_tree), "-s", str(scenario_file)]
    rc = cli.main(["series", "HEAD..topic", *common, "--out", str(tmp_path / "a"), "--json"])
    assert rc == 1 and json.loads(capsys.readouterr().out)["exit_code"] == 1
    assert cli.main(["series", "HEAD..topic", *common, "--per-patch", "tip",
                     "--out", str(tmp_path / "b")]) == 0
    assert "PASS: nothing new" in capsys.readouterr().out
    empty = tmp_path / "empty.mbox"
    empty.write_text("")
    assert cli.main(["series", str(empty), *common, "--base", base]) == 3
    assert "empty mbox" in capsys.readouterr().err
    garbage = tmp_path / "garbage.mbox"
    garbage.write_text("this is not mail\n")
    assert cli.main(["series", str(garbage), *common, "--base", base]) == 3
    assert "garbage.mbox:1: not an mbox" in capsys.readouterr().err
    nothing = tmp_path / "nodiff.mbox"
    nothing.write_text("From x Mon Sep 17 00:00:00 2001\nSubject: hi\n\nno patch here\n")
    assert cli.main(["series", str(nothing), *common, "--base", base]) == 3
    assert "no patches" in capsys.readouterr().err
    assert cli.main(["series", str(tmp_path / "nope"), *common]) == 3


def test_interrupted_while_applying(tmp_path: Path, cache: Path, fake_tree: Path,
                                    scenario_file: Path, monkeypatch: pytest.MonkeyPatch,
                                    ) -> None:
    from orchestrator.workflows.series import apply
    base = make_series(fake_tree, FIXTURES)
    mbox = export_mbox(fake_tree, "HEAD..topic", tmp_path / "s.mbox", f"--base={base}")
    before = user_state(fake_tree)
    real = apply.git_try
    broken = tmp_path / "broken.patch"
    broken.write_text(git(fake_tree, "format-patch", "--stdout", "-1", "topic").replace(
        " int driver(void) { return 1; }", " int other(void);"))
    ams = []

    def flaky_git(repo: Path, *args: str, **kw: Any) -> Any:
        if args[:2] == ("am", "-3"):
            ams.append(args)
            if len(ams) == 2:  # Ctrl-C while git am stands in a conflict
                assert real(repo, "am", "-3", str(broken), **kw).returncode != 0
                assert "am session" in real(repo, "status").stdout
                raise KeyboardInterrupt
        return real(repo, *args, **kw)

    monkeypatch.setattr(apply, "git_try", flaky_git)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, fake_tree, str(mbox), scenario_file, FakeRunner(fake_tree))
    assert user_state(fake_tree) == before
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["interrupted"] and s["exit_code"] == 2
    wt = apply.scratch_path(fake_tree)
    assert "am session" not in git(wt, "status")  # aborted on the way out
    monkeypatch.setattr(apply, "git_try", real)
    s = _run(tmp_path, fake_tree, str(mbox), scenario_file, FakeRunner(fake_tree))
    assert s["exit_code"] == 1  # the same directory again: a clean start


@pytest.mark.parametrize("flag", ["--confirm", "--runs", "--jobs"])
@pytest.mark.parametrize("value", ["0", "-1"])
def test_counts_below_one_are_refused(tmp_path: Path, cache: Path, fake_tree: Path,
                                      scenario_file: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str], flag: str,
                                      value: str) -> None:
    make_series(fake_tree, [("maybe", CLEAN + "/* FLAKY */\n")])
    runner = FakeRunner(fake_tree)
    monkeypatch.setattr(series_cmd, "runner_from_args", lambda args: runner)
    rc = cli.main(["series", "HEAD..topic", "--tree", str(fake_tree), "-s",
                   str(scenario_file), "--out", str(tmp_path / "o"), flag, value])
    assert rc == 3
    assert flag in capsys.readouterr().err
    assert not runner.jobs and not (tmp_path / "o" / "summary.json").exists()


def test_series_directory_is_claimed(tmp_path: Path, cache: Path, fake_tree: Path,
                                     scenario_file: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    import fcntl
    import os
    make_series(fake_tree, FIXTURES)
    runner = FakeRunner(fake_tree)
    monkeypatch.setattr(series_cmd, "runner_from_args", lambda args: runner)
    out = tmp_path / "o"
    (out / "patches").mkdir(parents=True)
    (out / "patches" / "0001.patch").write_text("the other series' patch\n")
    common = ["series", "HEAD..topic", "--tree", str(fake_tree), "-s", str(scenario_file)]
    fd = os.open(out / ".pgo-orch-series.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another series holds it
        assert cli.main([*common, "--out", str(out)]) == 3
        assert "in use by another pgo-orch series" in capsys.readouterr().err
        assert (out / "patches" / "0001.patch").read_text() == "the other series' patch\n"
        assert not runner.jobs
    finally:
        os.close(fd)
    # a leftover temp name of another writer does not stop this one
    (out / ".summary.json.tmp").mkdir()
    assert cli.main([*common, "--out", str(out)]) == 1
    assert json.loads((out / "summary.json").read_text())["exit_code"] == 1
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp") and p.is_file()]
    # the default directory names the process: two series started in one second differ
    monkeypatch.chdir(tmp_path)
    assert cli.main(common) == 1
    (default,) = (tmp_path / "series").iterdir()
    assert default.name.endswith(f"-{os.getpid()}")


def test_warning_in_a_file_the_base_log_did_not_compile_is_unverified(
        tmp_path: Path, cache: Path, fake_tree: Path, scenario_file: Path) -> None:
    from tests.series.conftest import commit_change
    warned = "int other(void) { return 2; }\n/* FAKE_BUILD_WARNING */\n"
    commit_change(fake_tree, "other.c warns (pre-existing)", warned, "drivers/other.c")
    make_series(fake_tree, [("elsewhere 1", CLEAN + "/* a */\n"),
                            ("elsewhere 2", CLEAN + "/* b */\n")], branch="side")
    # a first series builds every file at side~1; the base below then rebuilds only fake.c,
    # so its log (and the cache's) lacks other.c and its pre-existing warning
    first = _run(tmp_path / "1", fake_tree, "side~1..side", scenario_file,
                 FakeRunner(fake_tree))
    assert first["exit_code"] == 0
    git(fake_tree, "checkout", "-q", "-b", "topic")
    commit_change(fake_tree, "touches other.c", warned + "/* touched */\n", "drivers/other.c")
    git(fake_tree, "checkout", "-q", "-")
    s = _run(tmp_path / "2", fake_tree, "HEAD..topic", scenario_file, FakeRunner(fake_tree))
    assert "CC      drivers/other.o" not in Path(s["prefixes"][0]["build"]["log"]).read_text()
    last = s["patches"][-1]
    assert last["new_warnings"] == []
    assert [w.split(":", 1)[0].endswith("drivers/other.c")
            for w in last["unverified_warnings"]] == [True]
    assert (s["verdict"], s["exit_code"]) == ("pass", 0)
    assert "not known to be new" in (tmp_path / "2" / "out" / "report.html").read_text()


def test_no_prefix_is_pruned_before_its_runs(tmp_path: Path, cache: Path, fake_tree: Path,
                                             scenario_file: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from orchestrator.kernel import build as kbuild
    from orchestrator.scenario import loader
    from orchestrator.workflows.run import RunOptions, build_request
    monkeypatch.setenv("PGO_ORCH_CACHE_KEEP", "1")  # one result per slot, no grace period
    monkeypatch.setenv("PGO_ORCH_CACHE_GRACE_S", "0")
    make_series(fake_tree, [(f"step {i}", CLEAN + f"/* {i} */\n") for i in range(1, 5)])
    fake = FakeRunner(fake_tree)
    cached: dict[str, bool] = {}

    def runner(jobs: Any) -> list[dict[str, Any]]:
        for job in jobs:  # what run_job does first: the kernel, through the cache
            sc = loader.loads(job.scenario_text, origin=job.scenario_origin)
            req = build_request(sc, RunOptions(tree=Path(job.tree or ""), jobs=job.jobs,
                                               extra_options=list(job.options)))
            cached[job.rev] = kbuild.build(dataclasses.replace(req, rev=job.rev)).cached
        return fake(jobs)

    s = _run(tmp_path, fake_tree, "HEAD..topic", scenario_file, runner)
    assert s["exit_code"] == 0
    assert cached == {p["commit"]: True for p in s["prefixes"]}  # none was built again
