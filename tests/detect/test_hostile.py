"""Hostile input: long garbage lines and endless repeats cost linear time and bounded memory.

Timing is never asserted as an absolute number: a 64 KB garbage line made of every catalogue
keyword is compared with the same bytes cut into ordinary 1 KB lines, measured in the same
test (best of three).  A quadratic regex makes the long line cost ~64x more than the short
lines; linear work costs about the same.
"""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

from pytest import MonkeyPatch

from orchestrator.commands import detect as detect_command
from orchestrator.commands.detect import scan_file
from orchestrator.detect import Detector, Finding, default_catalogue
from orchestrator.detect.finding import FindingSet
from tests.detect.corpus import CORPUS, load

LINE = 64 * 1024


def _keyword_soup(size: int) -> str:
    words = sorted({kw for rc in default_catalogue().classes for kw in rc.keywords})
    soup = " ".join(f"{w} x" for w in words) + " "
    return (soup * (size // len(soup) + 1))[:size]


def _cost(lines: list[str]) -> float:
    best = float("inf")
    for _ in range(3):
        det = Detector()
        t0 = time.perf_counter()
        for ln in lines:
            det.feed_text(f"[    1.000000][  T1] {ln}\n")
        det.close()
        best = min(best, time.perf_counter() - t0)
    return best


def test_64k_garbage_line_costs_as_much_as_its_bytes_in_short_lines() -> None:
    soup = _keyword_soup(LINE)
    baseline = _cost([soup[i : i + 1024] for i in range(0, LINE, 1024)])
    long_line = _cost([soup])
    # generous: linear work is ~1x; the unbounded catalogue regexes measured ~1000x
    assert long_line <= 10 * baseline + 0.005, (long_line, baseline)


def test_every_header_regex_is_bounded_on_a_long_line() -> None:
    """Each class's header regex on its own, on a long line of its keywords and filler."""
    cat = default_catalogue()
    det = Detector()
    for rc in cat.classes:
        line = (" ".join(rc.keywords) + " a.b " * 50) * 200  # ~ 40-100 KB, no match
        t0 = time.perf_counter()
        det.feed_text(f"[    1.000000][  T1] {line}\n")
        det.close()
        det = Detector()
        short = line[:1024]
        t1 = time.perf_counter()
        for _ in range(max(1, len(line) // 1024)):
            det.feed_text(f"[    1.000000][  T1] {short}\n")
        det.close()
        det = Detector()
        t2 = time.perf_counter()
        assert t1 - t0 <= 10 * (t2 - t1) + 0.005, (rc.id, t1 - t0, t2 - t1)


def _scan_peak(tmp_path: Path, repeats: int) -> tuple[int, list[Finding]]:
    body = load(CORPUS / "real-warning.log").body
    log = tmp_path / f"repeats-{repeats}.log"
    log.write_text(body * repeats)
    tracemalloc.start()
    try:
        found = scan_file(log)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, found


def test_memory_does_not_grow_with_repeats(tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
    """``pgo-orch detect`` on 100 and 400 repeats of one report (both files are many read
    chunks long): the same memory, one finding."""
    monkeypatch.setattr(detect_command, "CHUNK", 64 * 1024)
    small, found_small = _scan_peak(tmp_path, 100)
    big, found_big = _scan_peak(tmp_path, 400)
    assert [(f.title, f.count) for f in found_small] == [("WARNING in lkdtm_WARNING", 100)]
    assert [(f.title, f.count) for f in found_big] == [("WARNING in lkdtm_WARNING", 400)]
    # keeping every repeat's text (the old behaviour) adds ~3 MB for the 300 more
    assert big < small + 1024 * 1024, (small, big)


def test_finding_set_caps_distinct_titles() -> None:
    body = load(CORPUS / "real-warning.log").body
    fs = FindingSet(max_distinct=2)
    for i in range(5):
        det = Detector()
        fs.extend(det.feed_text(body.replace("lkdtm_WARNING", f"lkdtm_WARNING{i}")) + det.close())
    assert len(fs) == 2 and fs.dropped == 3


def test_catalogue_line_regexes_are_bounded() -> None:
    """Header and false-positive regexes never use an unbounded ``.*``/``.+`` (bounded
    repeats such as ``.{0,200}`` instead), so no line regex can go quadratic."""
    cat = default_catalogue()
    pats = [("global.false_positives", cat.false_positives)]
    for rc in cat.classes:
        pats.append((f"{rc.id}.header", rc.header))
        pats.extend((f"{rc.id}.false_positives", p) for p in rc.false_positives)
    for where, pat in pats:
        if pat is not None:
            assert ".*" not in pat.pattern and ".+" not in pat.pattern, where


def test_cut_repeat_counts_as_the_complete_report() -> None:
    """``X (corrupted)`` after ``X in f`` of the same class is a cut repeat, not a new bug;
    a cut report of another class stays its own finding."""
    body = load(CORPUS / "real-warning.log").body
    det = Detector()
    found = FindingSet()
    found.extend(det.feed_text(body))
    cut = "[  100.000000][    T1] WARNING: CPU: 0 PID: 1 at drivers/misc/lkdtm/bugs.c:85\n"
    other = "[  101.000000][    T2] BUG: scheduling while atomic: a/2/0x00000002\n"
    found.extend(det.feed_text(cut + other) + det.close())
    titles = [(f.title, f.count) for f in found.findings()]
    assert titles == [
        ("WARNING in lkdtm_WARNING", 2),
        ("BUG: scheduling while atomic (corrupted)", 1),
    ], titles


def test_cut_warning_at_another_site_is_a_new_finding() -> None:
    """A cut WARNING raised at another ``FILE:LINE`` than the complete one is a new bug (a
    patch's new warning must not count as a repeat of an old one); at the same site it is
    the repeat, and with two complete candidates it stays apart (ambiguous)."""
    body = load(CORPUS / "real-warning.log").body
    cut_other = "[  100.000000][    T1] WARNING: CPU: 0 PID: 1 at net/core/dev.c:99\n"
    cut_same = "[  101.000000][    T1] WARNING: CPU: 0 PID: 1 at drivers/misc/lkdtm/bugs.c:85\n"
    det = Detector()
    found = FindingSet()
    found.extend(det.feed_text(body))
    found.extend(det.feed_text(cut_other + cut_same) + det.close())
    titles = [(f.title, f.count) for f in found.findings()]
    assert titles == [("WARNING in lkdtm_WARNING", 2), ("WARNING (corrupted)", 1)], titles
    # two complete WARNINGs at the same site, different guilty functions: no single twin
    det = Detector()
    found = FindingSet()
    found.extend(det.feed_text(body))
    found.extend(det.feed_text(body.replace("lkdtm_WARNING", "lkdtm_WARNING_TWO")))
    found.extend(det.feed_text(cut_same) + det.close())
    titles = [(f.title, f.count) for f in found.findings()]
    assert ("WARNING (corrupted)", 1) in titles, titles
