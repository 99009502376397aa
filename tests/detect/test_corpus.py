"""Every corpus log gives exactly the findings its header announces."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.detect import detect_text
from tests.detect.corpus import all_logs, load

LOGS = all_logs()


def test_corpus_is_big_enough() -> None:
    assert len(LOGS) >= 40


@pytest.mark.parametrize("path", LOGS, ids=[p.name for p in LOGS])
def test_corpus_log(path: Path) -> None:
    log = load(path)
    found = detect_text(log.body)
    got = [(f.title, f.klass) for f in found]
    if log.none:
        assert got == []
        return
    assert log.titles, f"{path.name}: header announces no finding"
    assert [f.title for f in found] == log.titles
    if log.classes:
        assert [f.klass for f in found] == log.classes[: len(found)] or [
            f.klass for f in found
        ] == log.classes * len(found)
    if log.corrupted:
        want = log.corrupted if len(log.corrupted) == len(found) else log.corrupted * len(found)
        assert [f.corrupted for f in found] == want
    if log.fatal:
        want = log.fatal if len(log.fatal) == len(found) else log.fatal * len(found)
        assert [f.fatal for f in found] == want
    for cause in log.causes:
        assert cause in [f.cause for f in found]
    for f in found:
        assert f.report, "report text is kept"
        if not f.corrupted and "{func}" not in f.title:
            assert "(corrupted)" not in f.title
