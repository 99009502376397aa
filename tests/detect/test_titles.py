"""Titles are stable across addresses, offsets, line numbers, PIDs, CPUs and timestamps."""

from __future__ import annotations

import random
import re

from orchestrator.detect import detect_text
from orchestrator.detect.title import sanitize_text
from tests.detect.corpus import all_logs, load


def _mutate(text: str, seed: int) -> str:
    rnd = random.Random(seed)

    def hexrep(m: re.Match[str]) -> str:
        return "".join(rnd.choice("0123456789abcdef") for _ in m.group(0))

    text = re.sub(r"(?<=\+0x)[0-9a-f]+(?=/0x)", lambda m: f"{rnd.randint(1, 4000):x}", text)
    text = re.sub(r"(?<=/0x)[0-9a-f]+", lambda m: f"{rnd.randint(4001, 9000):x}", text)
    text = re.sub(r"\b(?:ffff|0000)[0-9a-f]{12}\b", hexrep, text)
    text = re.sub(r"(?<=\.c:)\d+", lambda m: str(rnd.randint(1, 9999)), text)
    text = re.sub(r"(?<=PID: )\d+", lambda m: str(rnd.randint(2, 30000)), text)
    text = re.sub(r"(?<=CPU: )\d+", lambda m: str(rnd.randint(0, 63)), text)
    text = re.sub(r"(?<=pid: )\d+", lambda m: str(rnd.randint(2, 30000)), text)
    text = re.sub(r"\.llvm\.\d+", lambda m: f".llvm.{rnd.randint(10**8, 10**12)}", text)
    shift = rnd.uniform(1, 5000)
    text = re.sub(
        r"^\[\s*(\d+\.\d+)\]",
        lambda m: f"[{float(m.group(1)) + shift:12.6f}]",
        text,
        flags=re.M,
    )
    return text


def test_same_bug_same_title_under_mutation() -> None:
    for path in all_logs():
        body = load(path).body
        want = [f.title for f in detect_text(body)]
        for seed in range(3):
            got = [f.title for f in detect_text(_mutate(body, seed))]
            assert got == want, path.name


def test_titles_have_no_numbers_from_the_log() -> None:
    for path in all_logs():
        for f in detect_text(load(path).body):
            assert not re.search(r"0x[0-9a-f]+|\b\d{3,}\b|:\d+\b", f.title), f.title


def test_pgo_bug_title_and_frames() -> None:
    path = next(p for p in all_logs() if p.name == "pgo-sleep-in-atomic.log")
    (f,) = detect_text(load(path).body)
    assert f.title == "BUG: sleeping function called from invalid context in prf_open"
    assert f.guilty == "prf_open"
    assert f.caller == "T201"
    assert f.first_time == 4.51221
    assert f.last_time is not None and f.last_time >= 4.537
    funcs = [fr.func for fr in f.frames if fr.reliable]
    assert funcs[:4] == ["dump_stack_lvl", "__might_resched", "__vmalloc_node_range", "vzalloc"]
    assert "openat" in funcs  # __x64_sys_ prefix stripped
    assert any(not fr.reliable for fr in f.frames)  # "? prf_open" kept but unreliable
    data = f.to_json()
    assert data["class"] == "sleep-in-atomic" and data["count"] == 1


def test_dedup_counts_and_times() -> None:
    path = next(p for p in all_logs() if p.name == "same-bug-twice.log")
    (f,) = detect_text(load(path).body)
    assert f.count == 2
    assert f.first_time == 44.410512 and f.last_time == 95.134877


def test_sanitize_text() -> None:
    assert sanitize_text("Attempted to kill init! exitcode=0x0000000b") == "Attempted to kill init!"
    assert sanitize_text("Fatal exception in interrupt") == "Fatal exception in interrupt"
    assert sanitize_text("corrupted in: foo+0x1e/0x30") == "corrupted in: foo"
    assert sanitize_text("hung for 120 seconds on sda1") == "hung for seconds on sda1"
    assert sanitize_text("non-zero pgtables_bytes on freeing mm: 8192") == (
        "non-zero pgtables_bytes on freeing mm"
    )
