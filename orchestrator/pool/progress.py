"""Pool progress for people: one line per guest event, or a live table on a terminal.

Each guest's own phase lines go to ``<out_root>/pool-logs/<job_id>.log`` (see
``execute.log_sink``); stderr only gets what the pool says about each guest, prefixed with
its job id, so several guests at once stay readable.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import IO, Any

from orchestrator.job import Job


@dataclass
class _Row:
    job_id: str
    label: str
    state: str = "queued"
    slot: int | None = None
    started: float | None = None
    ended: float | None = None
    verdict: str = ""


def label_of(job: Job) -> str:
    name = job.scenario_origin.rsplit("/", 1)[-1].removesuffix(".toml")
    return name + (f" [{job.attempt_tag}]" if job.attempt_tag else "")


class Progress:
    """Thread-safe; ``live`` redraws a table in place (default: when stderr is a TTY)."""

    def __init__(self, jobs: list[Job], *, stream: IO[str] | None = None,
                 live: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.rows = {j.job_id: _Row(j.job_id, label_of(j)) for j in jobs}
        self.t0 = time.monotonic()
        self._lock = threading.Lock()
        self._drawn = 0

    def note(self, message: str) -> None:
        with self._lock:
            self._clear()
            self.stream.write(f"[pool] {message}\n")
            self._draw()
            self.stream.flush()

    def started(self, job: Job, slot: int) -> None:
        with self._lock:
            row = self.rows.setdefault(job.job_id, _Row(job.job_id, label_of(job)))
            row.state, row.slot, row.started = "running", slot, time.monotonic()
            self._event(row, f"started on slot {slot}")

    def finished(self, job: Job, result: dict[str, Any]) -> None:
        with self._lock:
            row = self.rows.setdefault(job.job_id, _Row(job.job_id, label_of(job)))
            row.state, row.ended = "done", time.monotonic()
            row.verdict = str(result.get("verdict", "error")).upper()
            took = f" in {row.ended - row.started:.0f}s" if row.started else ""
            extra = ""
            pool = result.get("pool")
            if isinstance(pool, dict) and pool.get("host_note"):
                extra = f" [{pool['host_note']}]"
            reason = str(result.get("reason") or "").splitlines()[0:1]
            self._event(row, f"{row.verdict}{took}: {reason[0] if reason else ''}{extra}")

    def failed(self, job: Job, message: str) -> None:
        with self._lock:
            row = self.rows.setdefault(job.job_id, _Row(job.job_id, label_of(job)))
            row.state, row.verdict, row.ended = "done", "ERROR", time.monotonic()
            self._event(row, f"ERROR: {message}")

    # -- output ----------------------------------------------------------------------------

    def _event(self, row: _Row, text: str) -> None:
        if self.live:
            self._clear()
            if row.state == "done":
                self.stream.write(f"[pool] {row.job_id} {row.label}: {text}\n")
            self._draw()
        else:
            self.stream.write(f"[pool] {row.job_id} {row.label}: {text}\n")
        self.stream.flush()

    def _clear(self) -> None:
        if self.live and self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0

    def _draw(self) -> None:
        if not self.live:
            return
        now = time.monotonic()
        active = [r for r in self.rows.values() if r.state != "done"]
        done = len(self.rows) - len(active)
        lines = [f"[pool] {done}/{len(self.rows)} done, {now - self.t0:.0f}s"]
        for r in active:
            el = f"{now - r.started:.0f}s" if r.started else ""
            slot = "" if r.slot is None else f"slot {r.slot}"
            lines.append(f"  {r.job_id}  {r.label[:32]:32}  {r.state:8} {slot:7} {el}")
        self.stream.write("\n".join(lines) + "\n")
        self._drawn = len(lines)

    def tick(self) -> None:
        """Refresh the live table (elapsed times)."""
        if self.live:
            with self._lock:
                self._clear()
                self._draw()
                self.stream.flush()
