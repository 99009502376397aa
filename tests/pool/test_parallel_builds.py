"""Two pgo-orch processes building different revisions with different fragments at the same
time, on one cache and one tree (issue 9 item 1: the shared scratch worktree must be held
from checkout until the artifacts are copied). The fake tree's compile step is slowed so the
two builds really overlap; each kernel must hold its own revision's source only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
       "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"}


def _commit(tree: Path, marker: str) -> None:
    (tree / "drivers" / "fake.c").write_text(f"int driver(void) {{ return 0; }} /* {marker} */\n")
    (tree / "init" / "slow.c").write_text(f"/* {marker} */\n")
    subprocess.run(["git", "add", "-A"], cwd=tree, env=ENV, check=True)
    subprocess.run(["git", "commit", "-qm", marker], cwd=tree, env=ENV, check=True)
    subprocess.run(["git", "tag", marker], cwd=tree, env=ENV, check=True)


def test_concurrent_rev_builds_with_different_fragments_do_not_mix_sources(
        cache: Path, fake_tree: Path, tmp_path: Path) -> None:
    mk = fake_tree / "Makefile"
    mk.write_text(mk.read_text().replace('\t@cat $< > $@', '\t@sleep 0.5; cat $< > $@'))
    subprocess.run(["git", "commit", "-qam", "slow compile"], cwd=fake_tree, env=ENV,
                   check=True)
    _commit(fake_tree, "REV_A")
    _commit(fake_tree, "REV_B")
    frags = {}
    for name, text in (("fa", "CONFIG_DEBUG_FS=y\n"), ("fb", "CONFIG_LOG_BUF_SHIFT=18\n")):
        frags[name] = tmp_path / name
        frags[name].write_text(text)
    procs = {}
    for rev, frag in (("REV_A", "fa"), ("REV_B", "fb")):
        procs[rev] = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli", "build", "--tree", str(fake_tree),
             "--rev", rev, "-f", str(frags[frag]), "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for rev, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        vmlinux = Path(json.loads(out)["vmlinux"]).read_text()
        other = "REV_B" if rev == "REV_A" else "REV_A"
        assert rev in vmlinux and other not in vmlinux, f"{rev} kernel has {other}'s source"
