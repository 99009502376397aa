"""The splat detector attached to a live console: thread-safe, prints findings as they come."""

from __future__ import annotations

import threading
import time

from orchestrator import ui
from orchestrator.detect.detector import Detector, Finding, dedup


class LiveDetector:
    def __init__(self, settle_seconds: float = 10.0) -> None:
        self._det = Detector(settle_seconds=settle_seconds)
        self._lock = threading.Lock()
        self._found: list[Finding] = []
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
            cut = " (corrupted)" if f.corrupted and not f.title.endswith("(corrupted)") else ""
            ui.say("detect", f"{f.klass}: {f.title}{cut}")
        self._found.extend(found)

    def findings(self) -> list[Finding]:
        """Close the stream and return every finding, deduplicated by title."""
        with self._lock:
            self._take(self._det.close())
            return dedup(self._found)

    def seen_any(self) -> bool:
        with self._lock:
            return bool(self._found)
