"""``pgo-orch series`` for real: the default tree, real builds, real guests (vm, slow).

Scenario: prf-open-race shortened (readers 3 s, settle 2 s); the prf_open bug fires on the
first open and -EAGAIN shows within the first reads. Kernels come from the cache: the
pgo-fixtures prefixes are the same commits as the tree's pgo-fixtures/000N tags (fixed
committer, author dates), so their builds are the fixture builds; the series' own patches
build incrementally in the shared scratch worktree.

Cost (2 cores, TCG, fixture builds cached): about 7 guest runs for per-patch all, none more
for per-patch tip (same series directory: the base and tip jobs are already done, jobs are
idempotent), 2 runs + 1 incremental build + 1 failing build for the build break, 3 runs + 2
incremental builds for the neutral series. See README "pgo-orch series" for measured times.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from orchestrator.kernel import defaults
from orchestrator.paths import SCENARIOS_DIR

pytestmark = [pytest.mark.vm, pytest.mark.slow]

SPLAT = "BUG: sleeping function called from invalid context in prf_open"
FS_C = "kernel/pgo/fs.c"


@pytest.fixture(scope="module")
def tree() -> Path:
    if not defaults.default_series():
        pytest.skip("the PGO series is not in kernel-patches/")
    return defaults.default_tree()


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory) -> Path:
    text = (SCENARIOS_DIR / "prf-open-race.toml").read_text()
    text = text.replace('name = "prf-open-race"', 'name = "prf-open-race-short"')
    text = text.replace("duration = 60\n", "duration = 3\n").replace("settle = 5", "settle = 2")
    assert "duration = 3\n" in text
    p = tmp_path_factory.mktemp("scenario") / "prf-open-race-short.toml"
    p.write_text(text)
    return p


def _git(tree: Path, *args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True,
                          check=True, env={**os.environ, **(env or {})}).stdout


def _series(out: Path, *args: str) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run([sys.executable, "-m", "orchestrator.cli", "series", *args,
                           "--out", str(out), "--json"], capture_output=True, text=True,
                          timeout=3600, check=False)
    assert proc.stdout.strip(), proc.stderr[-3000:]
    return proc.returncode, json.loads(proc.stdout)


def _commits(tree: Path, base: str, changes: list[tuple[str, str, str]], dest: Path) -> Path:
    """Commit (subject, old, new) edits of kernel/pgo/fs.c on ``base`` with git plumbing (no
    checkout, a private index; only unreferenced objects are added to the repository) and
    export them with format-patch --base."""
    index = dest.with_suffix(".index")
    env = {"GIT_INDEX_FILE": str(index), "GIT_AUTHOR_NAME": "Series Test",
           "GIT_AUTHOR_EMAIL": "series@example.invalid",
           "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+0000", "GIT_COMMITTER_NAME": "Series Test",
           "GIT_COMMITTER_EMAIL": "series@example.invalid",
           "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+0000"}
    parent = _git(tree, "rev-parse", f"{base}^{{commit}}").strip()
    text = _git(tree, "show", f"{parent}:{FS_C}")
    mails = []
    for subject, old, new in changes:
        assert old in text, old
        text = text.replace(old, new, 1)
        blob = subprocess.run(["git", "-C", str(tree), "hash-object", "-w", "--stdin"],
                              input=text, capture_output=True, text=True,
                              check=True).stdout.strip()
        _git(tree, "read-tree", parent, env=env)
        _git(tree, "update-index", "--cacheinfo", f"100644,{blob},{FS_C}", env=env)
        tree_id = _git(tree, "write-tree", env=env).strip()
        commit = _git(tree, "commit-tree", tree_id, "-p", parent, "-m", subject,
                      env=env).strip()
        mails.append(_git(tree, "format-patch", "--stdout", f"--base={base}",
                          f"{parent}..{commit}") if not mails else
                     _git(tree, "format-patch", "--stdout", f"{parent}..{commit}"))
        parent = commit
    index.unlink(missing_ok=True)
    dest.write_text("".join(mails))
    return dest


def _finding(s: dict[str, Any], title: str) -> dict[str, Any]:
    hit = [f for f in s["findings"] if f["title"] == title]
    assert hit, s["findings"]
    return hit[0]


def test_pgo_fixtures_series_all_then_tip(tree: Path, short: Path, tmp_path: Path) -> None:
    mbox = tmp_path / "fixtures.mbox"
    mbox.write_text(_git(tree, "format-patch", "--stdout", "--base=master",
                         "master..pgo-fixtures"))
    out = tmp_path / "series"
    code, s = _series(out, str(mbox), "-s", str(short), "--kcidb", str(tmp_path / "k.json"))
    assert code == 1, s["reason"]
    assert [p["commit"] for p in s["patches"]] == [
        _git(tree, "rev-parse", f"pgo-fixtures/000{i}").strip() for i in (1, 2, 3)]
    splat = _finding(s, SPLAT)
    assert (splat["status"], splat["patch"], splat["fixed_by"]) == ("new", 1, 2)
    reads = _finding(s, "profile reads failed")
    assert (reads["status"], reads["patch"], reads["fixed_by"]) == ("new", 2, 3)
    cells = [p["cells"]["prf-open-race-short"]["status"] for p in s["prefixes"]]
    assert cells == ["pass", "new-finding", "new-finding", "pass"]
    html = (out / "report.html").read_text()
    assert "introduced by patch 1" in html and "fixed again by patch 3" in html
    assert s["clean_again_at"] == 3 and "Patch 3 (pgo: fixture: retry" in html
    assert json.loads((tmp_path / "k.json").read_text())["issues"]
    # the cheap mode on the same series directory: base and tip are clean
    code, tip = _series(out, str(mbox), "-s", str(short), "--per-patch", "tip")
    assert code == 0, tip["reason"]
    assert tip["findings"] == [] and tip["run_count"] == 2


def test_series_whose_patch_2_breaks_the_build(tree: Path, short: Path,
                                               tmp_path: Path) -> None:
    mbox = _commits(tree, "pgo-fixtures/0003", [
        ("pgo: fs: say what the snapshot is for",
         "static int prf_open(", "/* a snapshot for one reader */\nstatic int prf_open("),
        ("pgo: fs: break the build", "static int prf_open(",
         "static int prf_open(int this_breaks_the_build;"),
    ], tmp_path / "broken.mbox")
    code, s = _series(tmp_path / "series", str(mbox), "-s", str(short))
    assert code == 1, s["reason"]
    p1, p2 = s["patches"]
    assert p1["built"] is True and p2["built"] is False
    assert "error" in p2["build"]["error"] and "fs.c" in p2["build"]["error"]
    assert p2["cells"]["prf-open-race-short"]["status"] == "build-failure"
    assert s["findings"] == []
    assert "patch 2 breaks the build" in s["reason"]


def test_neutral_patches_on_a_broken_base_are_not_blamed(tree: Path, short: Path,
                                                         tmp_path: Path) -> None:
    mbox = _commits(tree, "pgo-fixtures/0001", [
        ("pgo: fs: comment the lock", "static int prf_open(",
         "/* takes pgo_lock */\nstatic int prf_open("),
        ("pgo: fs: comment the reader", "static ssize_t prf_read(",
         "/* copies the snapshot */\nstatic ssize_t prf_read("),
    ], tmp_path / "neutral.mbox")
    code, s = _series(tmp_path / "series", str(mbox), "-s", str(short))
    assert code == 0, s["reason"]
    splat = _finding(s, SPLAT)
    assert splat["status"] == "pre-existing" and splat["hits"] == splat["runs"] == 3
    assert [p["cells"]["prf-open-race-short"]["status"] for p in s["prefixes"]] == \
        ["pre-existing"] * 3
