"""The splat detector attached to a live console: thread-safe, prints findings as they come.

Findings are merged into a :class:`~orchestrator.detect.finding.FindingSet` as they arrive, so a
run's memory depends on the number of distinct reports, never on how often one repeats; only a
title not seen before is printed (a title already ending in "(corrupted)" gets no second suffix).
"""

from __future__ import annotations

import threading
import time

from orchestrator import ui
from orchestrator.detect.detector import Detector, Finding
from orchestrator.detect.finding import CORRUPTED_SUFFIX, FindingSet


class LiveDetector:
    def __init__(self, settle_seconds: float = 10.0) -> None:
        self._det = Detector(settle_seconds=settle_seconds)
        self._lock = threading.Lock()
        self._found = FindingSet()
        self.first_header_at: float | None = None

    def feed(self, chunk: bytes) -> None:
        with self._lock:
            self._take(self._det.feed(chunk, time.monotonic()))

    def poll(self) -> None:
        with self._lock:
            self._take(self._det.poll(time.monotonic()))

    def _take(self, found: list[Finding]) -> None:
        for f in found:
            if self.first_header_at is None:
                self.first_header_at = time.monotonic()
            title = f.title
            if f.corrupted and not title.endswith(CORRUPTED_SUFFIX):
                title += CORRUPTED_SUFFIX
            known = len(self._found)
            self._found.add(f)
            if len(self._found) > known:  # a new title, not a repeat (nor a cut repeat)
                ui.say("detect", f"{f.klass}: {title}")

    def findings(self) -> list[Finding]:
        """Close the stream and return every finding, deduplicated by title."""
        with self._lock:
            self._take(self._det.close())
            return self._found.findings()

    def seen_any(self) -> bool:
        with self._lock:
            return len(self._found) > 0
