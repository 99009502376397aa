"""pgo-orch build on the fake kernel tree: config proof, cache, incremental builds, errors."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from orchestrator import cli
from orchestrator.errors import ExitCode, InfraError, InvalidInput
from orchestrator.kernel import build as kbuild


def _frag(tmp_path: Path, name: str, text: str) -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def _req(tree: Path, *frags: str, options: list[str] | None = None) -> kbuild.BuildRequest:
    return kbuild.BuildRequest(tree=tree, fragments=list(frags), options=options or [], jobs=2)


def test_build_then_cache_hit(cache: Path, fake_tree: Path, tmp_path: Path) -> None:
    frag = _frag(tmp_path, "dbg.config", "CONFIG_DEBUG_KERNEL=y\nCONFIG_DEBUG_ATOMIC_SLEEP=y\n")
    first = kbuild.build(_req(fake_tree, frag, options=["LOG_BUF_SHIFT=18"]))
    assert not first.cached
    assert first.vmlinux.is_file() and first.bzimage.is_file()
    config = first.config.read_text()
    assert "CONFIG_DEBUG_ATOMIC_SLEEP=y" in config and "CONFIG_LOG_BUF_SHIFT=18" in config
    meta = json.loads(first.metadata.read_text())
    assert meta["commit"] and meta["dirty"] is False
    assert {"option": "CONFIG_LOG_BUF_SHIFT", "value": "18", "source": "-K"} in meta[
        "requested_options"
    ]
    assert set(meta["toolchain"]) == {"clang", "ld.lld", "llvm-ar"}
    assert meta["durations_s"]["make"] >= 0 and meta["objects_built"] >= 3
    assert os.access(first.reproducer, os.X_OK)
    t0 = time.monotonic()
    second = kbuild.build(_req(fake_tree, frag, options=["LOG_BUF_SHIFT=18"]))
    assert time.monotonic() - t0 < 1.0
    assert second.cached and second.result_dir == first.result_dir


def test_key_tracks_tree_fragments_and_options(
    cache: Path, fake_tree: Path, tmp_path: Path
) -> None:
    frag = _frag(tmp_path, "a.config", "CONFIG_DEBUG_FS=y\n")
    base = kbuild.prepare(_req(fake_tree, frag))
    assert kbuild.prepare(_req(fake_tree, frag)).key == base.key
    assert kbuild.prepare(_req(fake_tree, frag, options=["PRINTK=n"])).key != base.key
    Path(frag).write_text("CONFIG_DEBUG_FS=y\nCONFIG_DEBUG_KERNEL=y\n")
    changed = kbuild.prepare(_req(fake_tree, frag))
    assert changed.key != base.key and changed.slot == base.slot
    (fake_tree / "drivers" / "fake.c").write_text("int driver(void) { return 2; }\n")
    dirty = kbuild.prepare(_req(fake_tree, frag))
    assert dirty.state.dirty and dirty.key != changed.key and dirty.slot == base.slot
    (fake_tree / "drivers" / "new.c").write_text("int n;\n")
    assert kbuild.prepare(_req(fake_tree, frag)).key != dirty.key


def test_one_file_change_rebuilds_incrementally(cache: Path, fake_tree: Path) -> None:
    first = kbuild.build(_req(fake_tree))
    (fake_tree / "drivers" / "fake.c").write_text("int driver(void) { return 3; }\n")
    second = kbuild.build(_req(fake_tree))
    assert not second.cached and second.result_dir != first.result_dir
    log = second.log.read_text()
    assert "CC      drivers/fake.o" in log and "CC      init/main.o" not in log
    assert b"return 3" in second.vmlinux.read_bytes()
    assert b"return 3" not in first.vmlinux.read_bytes()  # the earlier result is intact
    meta = json.loads(second.metadata.read_text())
    assert meta["dirty"] is True and (second.result_dir / "tree.diff").exists()


def test_config_reused_unless_kconfig_inputs_change(cache: Path, fake_tree: Path) -> None:
    kbuild.build(_req(fake_tree))
    (fake_tree / "drivers" / "fake.c").write_text("int driver(void) { return 4; }\n")
    second = kbuild.build(_req(fake_tree))
    assert "config: reusing" in second.log.read_text()
    kconfig = fake_tree / "Kconfig"
    kconfig.write_text(kconfig.read_text().replace('default 17', 'default 16'))
    third = kbuild.build(_req(fake_tree))
    log = third.log.read_text()
    assert "config: reusing" not in log and "olddefconfig" in log
    assert "CONFIG_LOG_BUF_SHIFT=16" in third.config.read_text()


def test_undefined_option_fails_before_make(cache: Path, fake_tree: Path, tmp_path: Path) -> None:
    frag = _frag(tmp_path, "pgo.config", "CONFIG_PGO_CLANG=y\n")
    with pytest.raises(InvalidInput) as exc:
        kbuild.build(_req(fake_tree, frag))
    msg = exc.value.message
    assert exc.value.exit_code == ExitCode.INVALID_INPUT
    assert "CONFIG_PGO_CLANG: requested =y" in msg and f"{frag}:1" in msg
    assert "not defined in this tree" in msg and "PGO patch series" in msg
    assert not list(cache.glob("builds/*/out/vmlinux")), "make must not run"


def test_unmet_dependency_is_explained(cache: Path, fake_tree: Path, tmp_path: Path) -> None:
    frag = _frag(tmp_path, "f.config", "CONFIG_DEBUG_ATOMIC_SLEEP=y\nCONFIG_PRINTK=y\n")
    with pytest.raises(InvalidInput) as exc:
        kbuild.build(_req(fake_tree, frag))
    msg = exc.value.message
    assert "1 requested option(s)" in msg and "CONFIG_PRINTK:" not in msg
    assert "CONFIG_DEBUG_ATOMIC_SLEEP: requested =y" in msg
    assert "unmet dependency: DEBUG_KERNEL [DEBUG_KERNEL=n]" in msg


def test_selected_option_cannot_be_unset(cache: Path, fake_tree: Path, tmp_path: Path) -> None:
    frag = _frag(
        tmp_path,
        "f.config",
        "CONFIG_DEBUG_KERNEL=y\nCONFIG_DEBUG_ATOMIC_SLEEP=y\n# CONFIG_PREEMPT_COUNT is not set\n",
    )
    with pytest.raises(InvalidInput, match="selected by DEBUG_ATOMIC_SLEEP"):
        kbuild.build(_req(fake_tree, frag))


def test_build_error_reports_first_errors_and_log(cache: Path, fake_tree: Path) -> None:
    (fake_tree / "drivers" / "fake.c").write_text("FAKE_BUILD_ERROR\n")
    with pytest.raises(InfraError) as exc:
        kbuild.build(_req(fake_tree))
    assert exc.value.exit_code == ExitCode.INFRA and exc.value.reason == "build-failed"
    assert "error: fake build error" in exc.value.message
    log = exc.value.message.rsplit("full log: ", 1)[1].strip()
    assert "fake build error" in Path(log).read_text()


def test_reproducer_rebuilds_same_kernel(cache: Path, fake_tree: Path, tmp_path: Path) -> None:
    frag = _frag(tmp_path, "dbg.config", "CONFIG_DEBUG_KERNEL=y\nCONFIG_DEBUG_FS=y\n")
    res = kbuild.build(_req(fake_tree, frag, options=["LOG_BUF_SHIFT=19"]))
    out = tmp_path / "repro-out"
    proc = subprocess.run(
        [str(res.reproducer), str(fake_tree), str(out)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "differs" not in proc.stderr
    assert (out / ".config").read_text() == res.config.read_text()
    assert (out / "vmlinux").read_bytes() == res.vmlinux.read_bytes()


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_json(
    cache: Path, fake_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frag = _frag(tmp_path, "f.config", "CONFIG_DEBUG_KERNEL=y\n")
    argv = ["build", "--tree", str(fake_tree), "-f", frag, "-K", "DEBUG_FS=y", "--json"]
    code, out, _ = _cli(argv, capsys)
    assert code == 0
    data = json.loads(out)
    for k in ("vmlinux", "bzimage", "config", "metadata", "cached"):
        assert k in data
    assert data["cached"] is False
    code, out, _ = _cli(argv, capsys)
    assert json.loads(out)["cached"] is True


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["-f", "no-such-fragment"], "unknown fragment 'no-such-fragment'"),
        (["-K", "NOT AN OPTION"], "bad -K option"),
        (["--config", "nonexistent-base"], "base config 'nonexistent-base'"),
        (["-j", "0"], "jobs must be at least 1"),
    ],
)
def test_cli_invalid_input_exit_3(
    cache: Path, fake_tree: Path, argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _cli(["build", "--tree", str(fake_tree), *argv], capsys)
    assert code == 3
    assert needle in err
    assert len(err.strip().splitlines()) == 1


def test_cli_malformed_fragment_names_line(
    cache: Path, fake_tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frag = _frag(tmp_path, "bad.config", "CONFIG_A=y\nthis is not an option\n")
    code, _, err = _cli(["build", "--tree", str(fake_tree), "-f", frag], capsys)
    assert code == 3 and f"{frag}:2: option: malformed option line" in err


@pytest.mark.parametrize("make_tree", ["missing", "not-kernel"])
def test_cli_bad_tree_exit_3(
    cache: Path, tmp_path: Path, make_tree: str, capsys: pytest.CaptureFixture[str]
) -> None:
    tree = tmp_path / make_tree
    if make_tree == "not-kernel":
        tree.mkdir()
        (tree / "Makefile").write_text("all:\n")
    code, _, err = _cli(["build", "--tree", str(tree)], capsys)
    assert code == 3
    assert ("does not exist" if make_tree == "missing" else "is not a kernel source tree") in err


def test_rev_builds_in_a_scratch_worktree(cache: Path, fake_tree: Path) -> None:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"}
    (fake_tree / "drivers" / "fake.c").write_text("int driver(void) { return 42; }\n")
    subprocess.run(["git", "commit", "-qam", "42"], cwd=fake_tree, env=env, check=True)
    old = kbuild.build(_req_rev(fake_tree, "HEAD~1"))
    assert b"return 1" in old.vmlinux.read_bytes()
    new = kbuild.build(_req_rev(fake_tree, "HEAD"))
    assert b"return 42" in new.vmlinux.read_bytes()
    assert "CC      init/main.o" not in new.log.read_text(), "same worktree: incremental"
    assert kbuild.build(_req_rev(fake_tree, "HEAD~1")).cached
    assert (fake_tree / "drivers" / "fake.c").read_text().endswith("42; }\n"), "tree untouched"
    meta = json.loads(new.metadata.read_text())
    assert meta["repo"] == str(fake_tree) and meta["rev"] == "HEAD"
    with pytest.raises(InvalidInput, match="not a commit"):
        kbuild.build(_req_rev(fake_tree, "no-such-rev"))


def _req_rev(tree: Path, rev: str) -> kbuild.BuildRequest:
    req = _req(tree)
    req.rev = rev
    return req


def test_reproducer_quotes_fragment_names(cache: Path, fake_tree: Path, tmp_path: Path) -> None:
    name = "x$(touch pwned)"
    frag = _frag(tmp_path, name, "CONFIG_DEBUG_KERNEL=y\nCONFIG_DEBUG_FS=y\n")
    res = kbuild.build(_req(fake_tree, frag, options=["LOG_BUF_SHIFT=17"]))
    script = res.reproducer.read_text()
    assert name in script
    syntax = subprocess.run(["sh", "-n", str(res.reproducer)], capture_output=True, text=True,
                            check=False)
    assert syntax.returncode == 0, syntax.stderr
    # run the script (its merge_config line expands the fragment name) from an empty cwd
    work = tmp_path / "cwd"
    work.mkdir()
    out = tmp_path / "repro-out"
    proc = subprocess.run([str(res.reproducer), str(fake_tree), str(out)], cwd=work,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    pwned = [p for d in (work, tmp_path, res.result_dir, res.result_dir / "fragments",
                         fake_tree, out) for p in d.glob("pwned")]
    assert pwned == []
    assert (out / ".config").read_text() == res.config.read_text()
