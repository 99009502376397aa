"""Streaming behaviour: chunking, settle timeout, memory bounds."""

from __future__ import annotations

import random

from orchestrator.detect import Detector, Finding, dedup, detect_text
from tests.detect.corpus import all_logs, load

NOISE = (
    "[  {t:9.6f}][  T{pid}] systemd-journald[{pid}]: "
    "Received client request to flush runtime journal.\n"
)


def _stream(text: str, seed: int, crlf: bool = False) -> list[Finding]:
    data = text.replace("\n", "\r\n").encode() if crlf else text.encode()
    rnd = random.Random(seed)
    det = Detector()
    out: list[Finding] = []
    pos = 0
    while pos < len(data):
        n = rnd.choice([1, 2, 3, 7, 64, 333, 4096])
        out += det.feed(data[pos : pos + n])
        pos += n
    out += det.close()
    out.sort(key=lambda f: f.line)
    return dedup(out)


def _key(fs: list[Finding]) -> list[tuple[str, str, bool, bool, int, str | None]]:
    return [(f.klass, f.title, f.corrupted, f.fatal, f.count, f.cause) for f in fs]


def test_random_chunks_equal_batch() -> None:
    for i, path in enumerate(all_logs()):
        body = load(path).body
        assert _key(_stream(body, i)) == _key(detect_text(body)), path.name


def test_crlf_and_utf8_split() -> None:
    body = load(all_logs()[0]).body
    text = "[    0.100000][    T1] caf\u00e9 \u2603 boot\n" + body
    assert _key(_stream(text, 1, crlf=True)) == _key(detect_text(body))


def test_settle_timeout_finalizes_open_report() -> None:
    det = Detector(settle_seconds=10.0)
    head = (
        "[    4.512210][  T201] BUG: sleeping function called from invalid context "
        "at mm/vmalloc.c:2980\n"
        "[    4.512987][  T201] in_atomic(): 1, irqs_disabled(): 1, non_block: 0, "
        "pid: 201, name: cat\n"
    )
    assert det.feed(head.encode(), now=100.0) == []
    assert det.poll(105.0) == []
    got = det.poll(110.5)
    assert [f.title for f in got] == [
        "BUG: sleeping function called from invalid context (corrupted)"
    ]
    assert got[0].corrupted
    assert det.close() == []


def test_poll_without_now_in_feed_starts_clock() -> None:
    det = Detector(settle_seconds=5.0)
    det.feed(b"[    1.0][  T1] BUG: scheduling while atomic: a/1/0x00000002\n")
    assert det.poll(50.0) == []
    assert len(det.poll(56.0)) == 1


def test_partial_line_is_kept_until_newline() -> None:
    det = Detector()
    line = b"[   44.410512][  T700] WARNING: CPU: 1 PID: 700 at kernel/x.c:1 foo+0x9e/0xc0\n"
    assert det.feed(line[:30]) == []
    assert det.feed(line[30:]) == []
    assert det.open_reports == 1
    got = det.close()
    assert [f.title for f in got] == ["WARNING in foo"]
    assert got[0].corrupted  # no trace


def test_memory_bounded_on_noise() -> None:
    det = Detector()
    rnd = random.Random(5)
    chunk_lines = []
    t = 0.0
    for _ in range(2000):
        t += 0.001
        chunk_lines.append(NOISE.format(t=t, pid=rnd.randint(1, 9999)))
    chunk = "".join(chunk_lines).encode()
    total = 0
    peak = 0
    # one splat in the middle of ~50 MB of noise, plus a line without newline at the end
    splat = load(all_logs()[0]).body.encode()
    while total < 50 * 1024 * 1024:
        assert det.feed(chunk) == []
        total += len(chunk)
        peak = max(peak, det.buffered_chars)
    found = det.feed(splat)
    found += det.feed(b"x" * 300_000)
    peak = max(peak, det.buffered_chars)
    found += det.close()
    assert peak <= 70_000
    assert len(found) == 1


def test_report_length_is_capped() -> None:
    det = Detector(max_report_lines=50)
    text = "[    1.000000][  T9] BUG: sleeping function called from invalid context at x.c:1\n"
    text += "".join(f"[    1.{i:06d}][  T9] junk line {i}\n" for i in range(500))
    found = det.feed(text.encode()) + det.close()
    assert len(found) == 1
    assert len(found[0].report.splitlines()) == 50


def test_interleaved_reports_are_separated_by_caller() -> None:
    body = next(p for p in all_logs() if p.name == "interleaved-two-cpus.log")
    found = detect_text(load(body).body)
    by_caller = {f.caller: f for f in found}
    assert set(by_caller) == {"T310", "C0"}
    assert all("[    C0]" in line for line in by_caller["C0"].report.splitlines())
    assert all("[  T310]" in line for line in by_caller["T310"].report.splitlines())
