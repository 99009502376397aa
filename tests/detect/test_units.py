"""Console, frame, catalogue, allowlist and CLI units."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from orchestrator.commands import detect as detect_cmd
from orchestrator.detect import (
    Allowlist,
    CatalogueError,
    classify,
    default_catalogue,
    load_catalogue,
)
from orchestrator.detect.console import parse_line
from orchestrator.detect.frames import normalize_func, parse_frame, parse_rip
from orchestrator.errors import InvalidInput
from tests.detect.corpus import CORPUS, all_logs, load


@pytest.mark.parametrize(
    ("raw", "msg", "ts", "caller"),
    [
        ("[   12.345678][  T123] hello", "hello", 12.345678, "T123"),
        ("[   12.345678] [T1] hello", "hello", 12.345678, "T1"),
        ("[   12.345678][    C1]  foo+0x1/0x2", " foo+0x1/0x2", 12.345678, "C1"),
        ("[   12.345678] hello\r", "hello", 12.345678, None),
        ("<4>[   12.345678] hello", "hello", 12.345678, None),
        ("6,123,4567,-;hello", "hello", 0.004567, None),
        ("4,124,4568,-,caller=T77; foo+0x1/0x2", " foo+0x1/0x2", 0.004568, "T77"),
        ("plain line", "plain line", None, None),
        ("[Mon Nov 27 12:00:01 2023] hi", "hi", None, None),
    ],
)
def test_parse_line(raw: str, msg: str, ts: float | None, caller: str | None) -> None:
    cl = parse_line(raw)
    assert (cl.msg, cl.ts, cl.caller) == (msg, ts, caller)


def test_kmsg_dictionary_line() -> None:
    assert parse_line(" SUBSYSTEM=pci").dictionary


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("prf_open.llvm.123456", "prf_open"),
        ("foo.isra.0", "foo"),
        ("foo.constprop.0.isra.0", "foo"),
        ("foo.cold", "foo"),
        ("foo.part.3", "foo"),
        ("__x64_sys_openat", "openat"),
        ("__se_sys_ioctl", "ioctl"),
        ("__do_sys_delete_module.constprop.0", "delete_module"),
        ("ksys_write", "write"),
        ("do_syscall_64", "do_syscall_64"),
    ],
)
def test_normalize_func(name: str, want: str) -> None:
    assert normalize_func(name, default_catalogue()) == want


def test_parse_frames() -> None:
    cat = default_catalogue()
    f = parse_frame(" prf_open+0x5c/0x1a0", cat)
    assert f is not None and (f.func, f.offset, f.reliable) == ("prf_open", "0x5c/0x1a0", True)
    f = parse_frame(" ? foo+0x1/0x2", cat)
    assert f is not None and not f.reliable
    f = parse_frame(" foo_irq+0x23/0x90 [foo]", cat)
    assert f is not None and f.module == "foo"
    f = parse_frame(" [<ffffffffa0001234>] foo_open+0x24/0x80 [foo]", cat)
    assert f is not None and f.address == 0xFFFFFFFFA0001234
    f = parse_frame(" __vmalloc_node mm/vmalloc.c:3240 [inline]", cat)
    assert f is not None and f.func == "__vmalloc_node" and f.offset is None
    assert parse_frame(" <IRQ>", cat) is None
    assert parse_frame("Hardware name: QEMU Standard PC", cat) is None
    assert parse_rip("RIP: 0033:0x7f5c8d8b3ef7", cat) == (False, None)
    rip = parse_rip("RIP: 0010:foo_bar.isra.0+0x12/0x34", cat)
    assert rip is not None and rip[0] and rip[1] is not None and rip[1].func == "foo_bar"
    rip = parse_rip("RIP: 0010:0x0", cat)
    assert rip == (True, None)


def test_catalogue_is_data() -> None:
    cat = default_catalogue()
    klasses = set(cat.klasses)
    for needed in [
        "sleep-in-atomic", "scheduling-while-atomic", "preemptible", "invalid-wait-context",
        "lockdep-circular", "lockdep-recursive", "lockdep-inconsistent", "lockdep-bad-unlock",
        "lockdep-held-lock-freed", "lockdep-rcu", "warning", "blocking-ops", "bug", "null-deref",
        "page-fault", "gpf", "invalid-opcode", "divide-error", "double-fault", "stack-protector",
        "stack-guard", "kasan", "kfence", "ubsan", "soft-lockup", "hard-lockup", "rcu-stall",
        "hung-task", "panic", "oom", "list-corruption", "refcount", "kmemleak",
    ]:  # fmt: skip
        assert needed in klasses, needed


def test_malformed_catalogue(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        "version = 1\n[global]\n[[class]]\nid = 'x'\nkeywords = ['A']\nheader = '('\ntitle = 'T'\n"
    )
    with pytest.raises(CatalogueError) as exc:
        load_catalogue(bad)
    assert "class 'x'.header" in exc.value.message and exc.value.exit_code == 3
    bad.write_text(
        "version = 1\n[global]\n[[class]]\nid = 'x'\nkeywords = ['A']\n"
        "header = 'A'\ntitle = '{nope}'\n"
    )
    with pytest.raises(CatalogueError, match="placeholders"):
        load_catalogue(bad)
    bad.write_text("not toml [[[")
    with pytest.raises(CatalogueError, match="TOML"):
        load_catalogue(bad)
    with pytest.raises(CatalogueError, match="not found"):
        load_catalogue(tmp_path / "missing.toml")


def test_allowlist_classify(tmp_path: Path) -> None:
    findings = []
    for name in ("warning-generic.log", "kasan-uaf.log", "oom.log"):
        from orchestrator.detect import detect_text

        findings += detect_text(load(CORPUS / name).body)
    allow = Allowlist()
    allow.add("known flaky flush", title="WARNING in prf_flush_counters")
    allow.add("stress test expects OOM", pattern=r"Out of memory.*", klass="oom")
    unexpected, expected = classify(findings, allow)
    assert [f.title for f in unexpected] == ["KASAN: use-after-free Read in foo_poll_worker"]
    assert [r for _, r in expected] == ["known flaky flush", "stress test expects OOM"]
    f = tmp_path / "allow.toml"
    f.write_text('[[expected]]\npattern = "KASAN: .*"\nreason = "kasan is noisy"\n')
    unexpected, expected = classify(findings, Allowlist.load(f))
    assert len(expected) == 1 and expected[0][1] == "kasan is noisy"
    with pytest.raises(InvalidInput):
        allow.add("", title="x")


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    detect_cmd.register(sub)
    args = parser.parse_args(argv)
    ret: int = args.func(args)
    return ret


def test_cli_human_and_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    log.write_text(load(CORPUS / "pgo-sleep-in-atomic.log").body)
    assert _cli(["detect", str(log)]) == 1
    out = capsys.readouterr().out
    assert (
        "sleep-in-atomic\tBUG: sleeping function called from invalid context in prf_open\tx1" in out
    )
    assert _cli(["detect", str(log), "--json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["findings"][0]["title"].endswith("in prf_open")
    clean = tmp_path / "clean.log"
    clean.write_text(load(CORPUS / "no-splat-lookalikes.log").body)
    assert _cli(["detect", str(clean), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"findings": []}
    with pytest.raises(InvalidInput) as exc:
        _cli(["detect", str(tmp_path / "nope.log")])
    assert exc.value.exit_code == 3


def test_corpus_headers_parse() -> None:
    for path in all_logs():
        log = load(path)
        assert log.none or log.titles, path.name
