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
    detect_text,
    load_catalogue,
)
from orchestrator.detect.console import parse_line
from orchestrator.detect.frames import normalize_func, parse_frame, parse_rip
from orchestrator.detect.symbolize import _frame_pc, _location
from orchestrator.errors import InvalidInput
from tests.detect.corpus import CORPUS, all_logs, load


@pytest.mark.parametrize(
    ("raw", "msg", "ts", "caller"),
    [
        ("[   12.345678][  T123] hello", "hello", 12.345678, "T123"),
        ("[   12.345678] [T1] hello", "hello", 12.345678, "T1"),
        ("[   12.345678][    C1]  foo+0x1/0x2", " foo+0x1/0x2", 12.345678, "C1"),
        ("[    0.000000] [pid:0,cpu0,swapper/0]BUG: x", "BUG: x", 0.0, "T0"),
        ("[    1.5] [pid:12,cpu3,kworker/3:1] hi", "hi", 1.5, "T12"),
        ("[    1.5] [pid:x] hi", "[pid:x] hi", 1.5, None),
        ("[  183.060000][0]WARNING: at x", "WARNING: at x", 183.06, "C0"),
        ("[  183.060000] [0] x", "[0] x", 183.06, None),
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


_FAULT = """\
[    2.31][   T68] BUG: unable to handle page fault for address: ffffffff81348200
[    2.31][   T68] #PF: supervisor {access} in kernel mode
[    2.31][   T68] Oops: 0003 [#1] PREEMPT SMP
[    2.31][   T68] RIP: 0010:{rip}
[    2.31][   T68] Call Trace:
[    2.31][   T68]  <TASK>
{frames}
[    2.31][   T68]  </TASK>
[    2.31][   T68] ---[ end trace 0000000000000000 ]---
"""


def _fault(access: str, rip: str, frames: list[str]) -> str:
    body = "\n".join(f"[    2.31][   T68]  {fr}" for fr in frames)
    return _FAULT.format(access=access, rip=rip, frames=body)


@pytest.mark.parametrize(
    ("access", "rip", "frames", "guilty"),
    [
        # the RIP ran wrong: it is guilty, the '?' frame is stale
        ("write access", "foo_write+0x5/0x20", ["? bar+0x1/0x9", "baz+0x2/0x9"], "foo_write"),
        # frameless assembly leaf: its caller is the first (unreliable) frame
        (
            "write access",
            "memcpy_erms+0x6/0x10",
            ["? foo_copy+0x5a/0x6e", "baz+0x2/0x9"],
            "foo_copy",
        ),
        # instruction fetch: the RIP is the jump target, the caller made the call
        (
            "instruction fetch",
            "data_area+0x0/0x40",
            ["? foo_call+0x6e/0x7f", "baz+0x2/0x9"],
            "foo_call",
        ),
        (
            "instruction fetch",
            "0xffff88803f833d70",
            ["? foo_call+0x6e/0x7f", "baz+0x2/0x9"],
            "foo_call",
        ),
        # func+N/N is a function pointer (the next function's start), not a return address
        ("instruction fetch", "0xffff88803f833d70", ["? foo_call+0x7f/0x7f", "baz+0x2/0x9"], "baz"),
        # no reliable frame at all: the stack is garbage, nothing is blamed
        (
            "instruction fetch",
            "0xffffffffffffffff",
            ["? foo_call+0x6e/0x7f", "? baz+0x2/0x9"],
            None,
        ),
    ],
)
def test_fault_caller_rule(access: str, rip: str, frames: list[str], guilty: str | None) -> None:
    (f,) = detect_text(_fault(access, rip, frames))
    assert f.guilty == guilty
    if guilty is None:
        assert f.title == "BUG: unable to handle kernel paging request (corrupted)"
        assert f.corrupted
    else:
        assert f.title == f"BUG: unable to handle kernel paging request in {guilty}"
    assert len(f.frames) == 1 + len(frames) - (rip.startswith("0x"))  # caller not repeated


def test_panic_on_warn_title_ignores_the_origin() -> None:
    for reason in (
        "panic_on_warn set ...",
        "kernel: panic_on_warn set ...",
        "KASAN: panic_on_warn set ...",
    ):
        (f,) = detect_text(f"[    2.43][   T69] Kernel panic - not syncing: {reason}\n")
        assert f.title == "Kernel panic - not syncing: panic_on_warn set ..."


def test_symbolize_addresses_use_the_printed_symbol() -> None:
    cat = default_catalogue()
    symbols: dict[str, list[tuple[int, int | None]]] = {
        "ksys_write": [(0x1000, 0xE5)],
        "entry_SYSCALL_64_after_hwframe": [(0x2000, None)],
        "dup": [(0x3000, 0x10), (0x4000, 0x20)],
    }
    ksys = parse_frame(" ksys_write+0x84/0xe5", cat)
    entry = parse_frame(" entry_SYSCALL_64_after_hwframe+0x4b/0xb5", cat)
    dup = parse_frame(" dup+0x4/0x20", cat)
    rip = parse_frame(" dup+0x4/0x10", cat)
    assert ksys is not None and entry is not None and dup is not None and rip is not None
    assert (ksys.func, ksys.symbol) == ("write", "ksys_write")
    assert _frame_pc(ksys, symbols, False) == 0x1083  # return address - 1
    assert _frame_pc(entry, symbols, False) == 0x204A
    assert _frame_pc(dup, symbols, False) == 0x4003  # the symbol whose size matches
    assert _frame_pc(rip, symbols, True) == 0x3004
    assert _location("/t/out/./arch/x86/a.h:2:7") == "/t/out/arch/x86/a.h:2"
    assert _location("??:0:0") == "??:0"
