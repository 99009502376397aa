"""Builds racing each other on one cache: --rev checkouts, default-tree resets (issue 9: 1, 8).

The fake tree's compile step sleeps FAKE_MAKE_DELAY seconds before reading its source, so
a checkout or reset under a running make shows up as a kernel built from mixed sources.
"""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest

from orchestrator.kernel import build as kbuild
from orchestrator.kernel import default_tree as dt
from tests.kernel.test_default_tree import PATCH, _tarball

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"}


def _commit(tree: Path, version: str) -> str:
    (tree / "drivers" / "fake.c").write_text(f"int driver(void) {{ return {version}; }}\n")
    (tree / "init" / "main.c").write_text(f"int start_kernel(void) {{ return {version}; }}\n")
    subprocess.run(["git", "commit", "-qam", version], cwd=tree, env=GIT_ENV, check=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=tree, capture_output=True,
                          text=True, check=True).stdout.strip()


def _run_threads(marker: Path, first: tuple[str, object],
                 second: tuple[str, object]) -> dict[str, object]:
    """Run ``first``, wait until its make is compiling (FAKE_MAKE_MARKER), then run ``second``;
    ``out["overlapped"]`` says whether the first was still running when the second began."""
    out: dict[str, object] = {}

    def run(name: str, fn: object) -> None:
        try:
            out[name] = fn()  # type: ignore[operator]
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            out[name] = exc

    t1 = threading.Thread(target=run, args=first)
    t1.start()
    deadline = time.monotonic() + 60
    while not (marker.is_file() and "start" in marker.read_text()):
        assert t1.is_alive(), f"{first[0]} ended before its make compiled anything: {out}"
        assert time.monotonic() < deadline, "the first build never reached a compile step"
        time.sleep(0.01)
    t2 = threading.Thread(target=run, args=second)
    t2.start()
    out["overlapped"] = t1.is_alive()
    for t in (t1, t2):
        t.join(timeout=120)
    return out


def test_concurrent_rev_builds_each_use_their_own_commit(
    cache: Path, fake_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c1 = _commit(fake_tree, "111")
    c2 = _commit(fake_tree, "222")
    frag = tmp_path / "dbg.config"
    frag.write_text("CONFIG_DEBUG_KERNEL=y\n")
    monkeypatch.setenv("FAKE_MAKE_DELAY", "0.4")
    marker = tmp_path / "make-started"
    monkeypatch.setenv("FAKE_MAKE_MARKER", str(marker))
    # different fragment sets: different slots, so only the scratch worktree is shared
    a = kbuild.BuildRequest(tree=fake_tree, rev=c1, jobs=1)
    b = kbuild.BuildRequest(tree=fake_tree, rev=c2, fragments=[str(frag)], jobs=1)
    assert kbuild.prepare(a).slot != kbuild.prepare(b).slot
    assert kbuild.prepare(a).tree == kbuild.prepare(b).tree
    out = _run_threads(marker, ("a", lambda: kbuild.build(a)), ("b", lambda: kbuild.build(b)))
    assert out["overlapped"] is True, "b started after a had finished: no race was tested"
    ra, rb = out["a"], out["b"]
    assert isinstance(ra, kbuild.BuildResult) and isinstance(rb, kbuild.BuildResult), out
    va, vb = ra.vmlinux.read_bytes(), rb.vmlinux.read_bytes()
    assert b"return 111" in va and b"return 222" not in va, va
    assert b"return 222" in vb and b"return 111" not in vb, vb
    assert ra.metadata_json()["commit"] == c1 and rb.metadata_json()["commit"] == c2


def test_default_tree_reset_waits_for_running_builds(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tb = _tarball(tmp_path)
    patches = tmp_path / "patches" / "demo"
    patches.mkdir(parents=True)
    (patches / "0001-demo.patch").write_text(PATCH.format(value=5))

    def ensure() -> Path:
        return dt.ensure_default_tree(("demo",), tarball=tb, root=cache,
                                      patches_root=tmp_path / "patches")

    tree = ensure()
    monkeypatch.setenv("FAKE_MAKE_DELAY", "0.5")
    marker = tmp_path / "make-started"
    monkeypatch.setenv("FAKE_MAKE_MARKER", str(marker))
    (patches / "0001-demo.patch").write_text(PATCH.format(value=7))
    req = kbuild.BuildRequest(tree=tree, jobs=1)
    out = _run_threads(marker, ("build", lambda: kbuild.build(req)), ("reset", ensure))
    assert out["overlapped"] is True, "the reset started after the build: no race was tested"
    res = out["build"]
    assert isinstance(res, kbuild.BuildResult), out
    assert out["reset"] == tree
    assert "return 7" in (tree / "drivers" / "fake.c").read_text(), "the reset happened"
    vmlinux = res.vmlinux.read_bytes()
    assert b"return 5" in vmlinux and b"return 7" not in vmlinux, "built from one state"
    meta = res.metadata_json()
    assert meta["dirty"] is False
