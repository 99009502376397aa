"""The detector's result type and how repeated findings are merged.

:class:`Finding` is one kernel report as :class:`~orchestrator.detect.detector.Detector`
finalizes it.  :class:`FindingSet` merges findings with the same title *while they stream in*
(one finding per title, with a count and a time range), so memory depends on the number of
distinct titles, never on how often a splat repeats; :func:`dedup` is the batch form.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from orchestrator.detect.frames import Frame

__all__ = ["MAX_DISTINCT", "Finding", "FindingSet", "dedup"]

#: distinct titles kept by a FindingSet; later new titles only count in ``FindingSet.dropped``
MAX_DISTINCT = 10_000
CORRUPTED_SUFFIX = " (corrupted)"  # appended to a title without its guilty function (title.py)
#: where a header says it was raised: ``at FILE:LINE`` (WARNING, might_sleep, ...)
_SITE_AT = re.compile(r"\bat ([\w.+-]{1,200}(?:/[\w.+-]{1,200}){0,30}:\d{1,9})\b")
#: or the function the header names (``... in func+0x1c/0x40``, ``RIP: ...func+0x..``)
_SITE_FUNC = re.compile(r"([A-Za-z_][\w.]{0,200})\+0x[0-9a-f]{1,16}")


def header_site(report: str) -> str | None:
    """Where the report's header line says it was raised (``at FILE:LINE`` or its function)."""
    head = report.lstrip("\n").split("\n", 1)[0][:1152]
    m = _SITE_AT.search(head) or _SITE_FUNC.search(head)
    return m.group(1) if m else None


@dataclass
class Finding:
    """One kernel report."""

    klass: str
    title: str
    report: str
    frames: list[Frame]
    guilty: str | None
    corrupted: bool
    fatal: bool
    caller: str | None
    first_time: float | None
    last_time: float | None
    count: int = 1
    cause: str | None = None
    class_id: str = ""
    line: int = 0  # line number of the header in the stream (1-based)
    #: the allowlist's reason when the scenario expected this finding (it does not fail)
    expected: str | None = None
    #: how the detector read the report (``Detector(explain=True)``; ``pgo-orch detect --explain``)
    explanation: list[str] | None = None

    @property
    def key(self) -> str:
        """The stable key runs, builds and mails are compared on (titles are normalised)."""
        return f"{self.klass}|{self.title}"

    def to_json(self) -> dict[str, object]:
        return {
            "class": self.klass,
            "title": self.title,
            "guilty": self.guilty,
            "corrupted": self.corrupted,
            "fatal": self.fatal,
            "caller": self.caller,
            "first_time": self.first_time,
            "last_time": self.last_time,
            "count": self.count,
            "cause": self.cause,
            "line": self.line,
            "frames": [f.to_json() for f in self.frames],
            "report": self.report,
            **({"explanation": self.explanation} if self.explanation is not None else {}),
        }


class FindingSet:
    """Findings merged by title as they arrive (first occurrence's order and line kept).

    The report text kept for a title is the first uncorrupted one (a corrupted copy is
    replaced by the first complete one that follows), so a title costs one report's memory
    however often it repeats.  A cut repeat of a report already seen complete (``BUG: X
    (corrupted)`` after ``BUG: X in func``, same class) counts as that report, not as a new one,
    but only when its header names the same site (``at FILE:LINE`` or the header's function;
    both naming none counts as the same) and exactly one complete finding could be its twin:
    a new, cut WARNING elsewhere must not pass for a repeat of an old one.
    """

    def __init__(self, max_distinct: int = MAX_DISTINCT) -> None:
        self._by_title: dict[str, Finding] = {}
        self._max = max_distinct
        #: findings whose new title did not fit under ``max_distinct`` (counted, not kept)
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._by_title)

    def add(self, f: Finding) -> None:
        seen = self._complete_twin(f) if f.title.endswith(CORRUPTED_SUFFIX) else None
        if seen is None:
            seen = self._by_title.get(f.title)
        if seen is None:
            if len(self._by_title) >= self._max:
                self.dropped += f.count
                return
            self._by_title[f.title] = replace(f, frames=list(f.frames))
            return
        seen.count += f.count
        seen.line = min(seen.line, f.line)
        seen.fatal = seen.fatal or f.fatal
        if seen.corrupted and not f.corrupted:
            seen.report, seen.frames, seen.corrupted = f.report, list(f.frames), False
        if f.first_time is not None and (seen.first_time is None or f.first_time < seen.first_time):
            seen.first_time = f.first_time
        if f.last_time is not None and (seen.last_time is None or f.last_time > seen.last_time):
            seen.last_time = f.last_time
        if seen.cause is None:
            seen.cause = f.cause

    def _complete_twin(self, f: Finding) -> Finding | None:
        """The complete finding this cut one repeats: same class, its title is the cut title
        with the function filled in (``X (corrupted)`` after ``X in func``), its header names
        the same site, and it is the only such candidate (ambiguity keeps the cut one apart)."""
        stem = f.title[: -len(CORRUPTED_SUFFIX)] + " in "
        site = header_site(f.report)
        twins = [
            seen for title, seen in self._by_title.items()
            if seen.klass == f.klass and title.startswith(stem) and not seen.corrupted
            and header_site(seen.report) == site
        ]
        return twins[0] if len(twins) == 1 else None

    def extend(self, findings: Iterable[Finding]) -> None:
        for f in findings:
            self.add(f)

    def findings(self) -> list[Finding]:
        """The merged findings in the order of their first header in the stream."""
        return sorted(self._by_title.values(), key=lambda f: f.line)


def dedup(findings: Iterable[Finding]) -> list[Finding]:
    """Merge findings with the same title: one finding each, with count and time range."""
    fs = FindingSet(max_distinct=1 << 62)
    fs.extend(findings)
    return fs.findings()
