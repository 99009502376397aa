"""Hostile input: long garbage lines and endless repeats cost linear time and bounded memory.

Timing is never asserted as an absolute number, only as a ratio of two costs measured in the
same test, each the best of three: a 64 KB garbage line against the same bytes in ordinary
1 KB lines (the line is cut to MAX_LINE_EXAMINED before any regex runs), and every catalogue
regex on an adversarial line of the examined length against twice it (a quadratic regex
costs ~4x, linear work ~2x).
"""

from __future__ import annotations

import dataclasses
import re
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

from pytest import MonkeyPatch

from orchestrator.commands import detect as detect_command
from orchestrator.commands.detect import scan_file
from orchestrator.detect import Detector, Finding, default_catalogue
from orchestrator.detect.detector import MAX_LINE_EXAMINED
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
    """Only MAX_LINE_EXAMINED characters of a line are read: a 64 KB line costs about what its
    first 1 KB does, not what 64 KB of short lines do (this checks the truncation; the
    regexes themselves are checked by ``test_every_catalogue_regex_is_linear``)."""
    soup = _keyword_soup(LINE)
    baseline = _cost([soup[i : i + 1024] for i in range(0, LINE, 1024)])
    long_line = _cost([soup])
    # 64 short lines do 64x the work of one truncated line; relative, no absolute slack
    assert long_line <= baseline / 4, (long_line, baseline)


def test_every_header_regex_is_bounded_on_a_long_line() -> None:
    """Each class's keywords on a long line (~40-100 KB, no match) cost no more than the same
    line cut to 1 KB and fed as many times (best of three, relative bound only)."""
    cat = default_catalogue()
    for rc in cat.classes:
        line = (" ".join(rc.keywords) + " a.b " * 50) * 200
        short = line[:1024]
        long_cost = _cost([line])
        short_cost = _cost([short] * max(1, len(line) // 1024))
        assert long_cost <= 2 * short_cost, (rc.id, long_cost, short_cost)


def _patterns(value: object, where: str) -> Iterator[tuple[str, re.Pattern[str]]]:
    """Every compiled regex reachable from a catalogue value (fields, tuples, dicts)."""
    if isinstance(value, re.Pattern):
        yield where, value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for fld in dataclasses.fields(value):
            yield from _patterns(getattr(value, fld.name), f"{where}.{fld.name}")
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _patterns(v, f"{where}[{k}]")
    elif isinstance(value, (tuple, list)):
        for i, v in enumerate(value):
            yield from _patterns(v, f"{where}[{i}]")


#: catalogue fields matched against one function name (``fullmatch``), not searched in a line
_NAME_FIELDS = {"skip_frames", "families", "anchors", "stall_anchors", "hung_skip", "frameless",
                "irq_entry"}


def _adversarial_line(pat: re.Pattern[str], size: int, *, name: bool = False) -> str:
    """A line dense in the pattern's own words (all but its last, so it does not match) and
    report punctuation, repeated; one long identifier for patterns matched against names."""
    words = re.findall(r"[A-Za-z_]{3,}:?", pat.pattern)[:-1][:12]
    unit = " ".join(words) + " at a/b.c:1 f+0x1/0x2 [<ffff>] RIP: 0010: <TASK> "
    if name:
        unit = re.sub(r"\W", "_", unit)
    return (unit * (size // len(unit) + 1))[:size]


def _match_cost(pat: re.Pattern[str], line: str, name: bool) -> float:
    op = pat.fullmatch if name else pat.search
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(5):
            op(line)
        best = min(best, time.perf_counter() - t0)
    return best


def _growth(pat: re.Pattern[str], *, name: bool = False) -> float:
    """How much more matching costs on a line four times MAX_LINE_EXAMINED long than on one
    MAX_LINE_EXAMINED long: ~4 (or less) for linear work, ~16 for quadratic (2x lengths give
    2 against 4, too close to tell apart on a loaded machine).  A pattern that takes under
    5 us a match even on the longer line is too fast to time and counts as 1."""
    one = _adversarial_line(pat, MAX_LINE_EXAMINED, name=name)
    four = _adversarial_line(pat, 4 * MAX_LINE_EXAMINED, name=name)
    long_cost = _match_cost(pat, four, name)
    if long_cost < 2.5e-5:
        return 1.0
    return long_cost / max(_match_cost(pat, one, name), 1e-9)


def test_every_catalogue_regex_is_linear() -> None:
    """Every regex of the catalogue, used as the detector uses it (searched in a line, or
    fullmatched against a function name), on an adversarial input of the examined length and
    of four times it, costs at most ~linearly more (best of three, ratio bound): a quadratic
    pattern added to the catalogue fails here.  The control shows the check sees one (the
    unanchored ``BUG: .*stack guard page`` of issue 9 item 12)."""
    quadratic = re.compile(r"BUG: .*stack guard page")
    assert _growth(quadratic) > 8.0, "the check cannot see a quadratic regex"
    pats = list(_patterns(default_catalogue(), "catalogue"))
    assert len(pats) > 50
    slow = []
    for where, pat in pats:
        name = any(f".{n}" in where for n in _NAME_FIELDS)
        if (g := _growth(pat, name=name)) > 8.0:
            # a ratio can catch a scheduling blip: a quadratic pattern fails every time
            g = min(g, _growth(pat, name=name))
            if g > 8.0:
                slow.append((where, round(g, 1)))
    assert not slow, slow


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
