"""Streaming kernel splat detector.

:class:`Detector` takes console bytes in any chunking and turns them into :class:`Finding`
objects.  Design:

* Lines are split incrementally (partial lines are kept, at most ``MAX_LINE`` characters);
  only the first ``MAX_MSG`` characters of a message are examined (printk's own limit), which
  bounds the cost of every catalogue regex on hostile input.
* Hot path: while no report is open, whole chunks are scanned for the catalogue's header
  keywords (one regex for keywords starting with a non-lowercase character plus ``str.find``
  for the others); only lines containing a keyword are parsed and matched against the
  per-class header regexes.  Noise therefore costs a few C-level scans per chunk.
* Open reports are kept per PRINTK_CALLER id (``T123``/``C1``; ``None`` without caller ids),
  so interleaved reports from different tasks/CPUs are separated.  After a
  ``cross_cpu_after`` line (e.g. ``Sending NMI from CPU``) a report also takes lines from any
  CPU context (NMI backtraces of other CPUs).
* In a stream whose kernel lines carry timestamps, lines without one (user space writing to
  the console) are ignored.
* A report ends at: a global or class ``end`` line (``---[ end trace ... ]---``); the
  outermost ``</TASK>`` (or an old-style trace without markers) followed by a line that is
  neither trace nor trailer; a line not matching the class ``body``; the next header from
  the same caller; ``max_report_lines``; ``STALE_LINES`` lines without a line of its own;
  the settle timeout (:meth:`Detector.poll`); or the end of the stream (:meth:`close`).
* A report cut before its trace ended, or without a usable trace, is ``corrupted``.
* Reports of a ``cause`` class (kernel panics) record the title of the report that came
  just before them (within ``CAUSE_LINES`` lines) as ``cause``.
"""

from __future__ import annotations

import codecs
import re
from collections import deque
from dataclasses import dataclass, field

from orchestrator.detect.catalogue import Catalogue, ReportClass, default_catalogue
from orchestrator.detect.console import ConsoleLine, parse_line
from orchestrator.detect.finding import Finding, FindingSet, dedup
from orchestrator.detect.frames import is_marker, parse_frame
from orchestrator.detect.title import build_title

__all__ = ["Detector", "Finding", "FindingSet", "dedup", "detect_text"]

MAX_LINE = 64 * 1024
#: printk never prints a line longer than this (LOG_LINE_MAX is 1024 minus the prefix); only
#: this much of a message is examined, so a long garbage line costs linear time however the
#: catalogue's regexes are written
MAX_MSG = 1024
MAX_LINE_EXAMINED = MAX_MSG + 128  # room for the timestamp / caller / kmsg prefix
STALE_LINES = 2000
CLOSED_STALE_LINES = 40
CAUSE_LINES = 5000
MAX_OPEN = 64
#: foreign lines (another CPU's or task's output without caller ids) a report skips inside an
#: old-style trace or a body-limited report before it is taken as ended
GRACE_LINES = 3
_END_REASONS = {
    "end": "an end line (---[ end trace ]--- or the class's end)",
    "trace-close": "the line after the closed trace",
    "body": "a line outside the class's body",
    "next-header": "the next report's header from the same caller",
    "max-lines": "the report length limit",
    "stale": "silence from its caller",
    "timeout": "the settle timeout",
    "close": "the end of the log",
}


@dataclass(eq=False)
class _Report:
    rc: ReportClass
    key: str | None
    header: re.Match[str]
    seq: int
    first_ts: float | None
    start_wall: float | None
    lines: list[str] = field(default_factory=list)
    msgs: list[str] = field(default_factory=list)
    last_ts: float | None = None
    last_seq: int = 0
    in_trace: bool = False
    frames_seen: bool = False
    markers: bool = False
    pending_close: bool = False
    grace: int = 0  # foreign lines skipped since the report's last own line
    trace_done: bool = False
    cross_cpu: bool = False
    fatal: bool = False
    cause_ref: _Report | None = None
    finding: Finding | None = None
    absorbed: list[str] | None = None  # --explain: later headers this report took in

    def add(self, cl: ConsoleLine, seq: int) -> None:
        self.lines.append(cl.raw)
        self.msgs.append(cl.msg)
        if cl.ts is not None:
            self.last_ts = cl.ts
        self.last_seq = seq


class Detector:
    """Streaming detector; see the module docstring."""

    def __init__(
        self,
        catalogue: Catalogue | None = None,
        *,
        settle_seconds: float = 10.0,
        max_report_lines: int = 400,
        explain: bool = False,
    ) -> None:
        self._cat = catalogue if catalogue is not None else default_catalogue()
        self._settle = settle_seconds
        self._max_lines = max(1, max_report_lines)
        self._explain = explain  # findings carry Finding.explanation (pgo-orch detect --explain)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._open: dict[str | None, _Report] = {}
        self._recent: deque[_Report] = deque(maxlen=8)
        self._out: list[Finding] = []
        self._seq = 0
        self._prefixed_seen = False
        self._now: float | None = None
        keywords: dict[str, list[int]] = {}
        for idx, rc in enumerate(self._cat.classes):
            for kw in rc.keywords:
                keywords.setdefault(kw, []).append(idx)
        self._kw_classes = [(kw, idxs) for kw, idxs in keywords.items()]
        # the prefilter only needs keywords that do not contain another keyword
        minimal = [k for k in keywords if not any(o != k and o in k for o in keywords)]
        upper = [kw for kw in minimal if not kw[0].islower()]
        self._lower = [kw for kw in minimal if kw[0].islower()]
        alt = "|".join(re.escape(k) for k in sorted(upper, key=len, reverse=True))
        self._upper_re = re.compile(alt) if alt else None
        low = "|".join(re.escape(k) for k in self._lower)
        self._lower_re = re.compile(low) if low else None

    def _has_keyword(self, msg: str) -> bool:
        if self._upper_re is not None and self._upper_re.search(msg) is not None:
            return True
        return self._lower_re is not None and self._lower_re.search(msg) is not None

    # ------------------------------------------------------------------ public API
    def feed(self, data: bytes, now: float | None = None) -> list[Finding]:
        """Feed console bytes; returns the reports finalized by this call."""
        self._now = now
        self._feed_text(self._decoder.decode(data))
        if now is not None:
            self._poll(now)
        return self._drain()

    def feed_text(self, text: str, now: float | None = None) -> list[Finding]:
        """Like :meth:`feed` for already-decoded text."""
        self._now = now
        self._feed_text(text)
        if now is not None:
            self._poll(now)
        return self._drain()

    def poll(self, now: float) -> list[Finding]:
        """Finalize reports whose settle time has passed (wall clock seconds)."""
        self._poll(now)
        return self._drain()

    def close(self) -> list[Finding]:
        """End of stream: finalize everything still open."""
        tail = self._decoder.decode(b"", final=True)
        text = self._pending + tail
        self._pending = ""
        if text:
            self._process_block(text + "\n")
        for rep in list(self._open.values()):
            self._finalize(rep, "close")
        return self._drain()

    @property
    def open_reports(self) -> int:
        return len(self._open)

    @property
    def buffered_chars(self) -> int:
        """Characters held internally (partial line plus open reports); for tests."""
        return len(self._pending) + sum(sum(len(x) for x in r.lines) for r in self._open.values())

    # ------------------------------------------------------------------ internals
    def _drain(self) -> list[Finding]:
        out, self._out = self._out, []
        return out

    def _poll(self, now: float) -> None:
        for rep in list(self._open.values()):
            if rep.start_wall is None:
                rep.start_wall = now
            elif now - rep.start_wall >= self._settle:
                self._finalize(rep, "timeout")

    def _feed_text(self, text: str) -> None:
        if not text:
            return
        if self._pending:
            text = self._pending + text
            self._pending = ""
        last = text.rfind("\n")
        if last < 0:
            self._pending = text
        else:
            self._process_block(text[: last + 1])
            self._pending = text[last + 1 :]
        while len(self._pending) > MAX_LINE:
            chunk, self._pending = self._pending[:MAX_LINE], self._pending[MAX_LINE:]
            self._process_block(chunk + "\n")

    def _next_candidate(self, block: str, pos: int, cache: list[int]) -> int:
        best = -1
        if self._upper_re is not None:
            m = self._upper_re.search(block, pos)
            if m is not None:
                best = m.start()
        for i, kw in enumerate(self._lower):
            p = cache[i]
            if p != -1 and p < pos:
                p = block.find(kw, pos)
                cache[i] = p
            if p != -1 and (best < 0 or p < best):
                best = p
        return best

    def _process_block(self, block: str) -> None:
        """Process complete lines (``block`` ends with a newline)."""
        pos = 0
        n = len(block)
        cache = [-2] * len(self._lower)
        while pos < n:
            if not self._open:
                cand = self._next_candidate(block, pos, cache)
                if cand < 0:
                    self._seq += block.count("\n", pos)
                    return
                ls = block.rfind("\n", pos, cand)
                start = ls + 1 if ls >= 0 else pos
                if start > pos:
                    self._seq += block.count("\n", pos, start)
                pos = start
            end = block.find("\n", pos)
            self._line(block[pos:end])
            pos = end + 1

    def _header(self, msg: str) -> tuple[ReportClass, re.Match[str]] | None:
        cands: set[int] = set()
        for kw, idxs in self._kw_classes:
            if kw in msg:
                cands.update(idxs)
        if not cands:
            return None
        fp = self._cat.false_positives
        if fp is not None and fp.search(msg):
            return None
        classes = self._cat.classes
        for idx in sorted(cands):
            rc = classes[idx]
            m = rc.header.search(msg)
            if m is not None:
                if any(p.search(msg) for p in rc.false_positives):
                    continue
                return rc, m
        return None

    def _line(self, raw: str) -> None:
        self._seq += 1
        cl = parse_line(raw if len(raw) <= MAX_LINE_EXAMINED else raw[:MAX_LINE_EXAMINED])
        if cl.dictionary:
            return
        if cl.prefixed:
            self._prefixed_seen = True
        elif self._prefixed_seen:
            return  # user space writing to the console
        key = cl.caller
        rep = self._open.get(key)
        if rep is None and key is not None and key[0] == "C":
            for other in self._open.values():
                if other.cross_cpu:
                    rep = other
                    break
        if rep is not None and self._continue(rep, cl):
            self._check_stale()
            return
        if self._has_keyword(cl.msg):
            hm = self._header(cl.msg)
            if hm is not None:
                self._start(hm[0], hm[1], cl)
        if self._open and (self._seq & 15) == 0:
            self._check_stale()

    def _check_stale(self) -> None:
        """Finalize reports that stopped receiving lines (checked every 16 lines)."""
        if (self._seq & 15) != 0:
            return
        for rep in list(self._open.values()):
            idle = self._seq - rep.last_seq
            if idle > STALE_LINES or (rep.pending_close and idle > CLOSED_STALE_LINES):
                self._finalize(rep, "stale" if not rep.pending_close else "trace-close")

    def _is_end(self, rc: ReportClass, msg: str) -> bool:
        if self._cat.end.search(msg):
            return True
        return any(e.search(msg) for e in rc.end)

    def _continue(self, rep: _Report, cl: ConsoleLine) -> bool:
        """Add ``cl`` to ``rep``; ``False`` if ``rep`` ended before ``cl`` (reprocess it)."""
        msg = cl.msg
        rc = rep.rc
        cat = self._cat
        if rep.pending_close:
            mk = is_marker(msg)
            if (mk is not None and not mk[0]) or parse_frame(msg, cat) is not None:
                rep.pending_close = False
                rep.trace_done = False
                rep.grace = 0
            elif self._is_end(rc, msg):
                rep.add(cl, self._seq)
                self._finalize(rep, "end")
                return True
            elif cat.trailer.search(msg) and not self._has_keyword(msg):
                rep.add(cl, self._seq)
                return True
            elif self._foreign(rep, msg):
                return True
            else:
                self._finalize(rep, "trace-close")
                return False
        if self._is_end(rc, msg):
            rep.add(cl, self._seq)
            self._finalize(rep, "end")
            return True
        if self._has_keyword(msg):
            hm = self._header(msg)
            if hm is not None:
                hrc = hm[0]
                absorb = (not hrc.interrupts) or (hrc.klass in rc.merge_next and not rep.in_trace)
                if not absorb:
                    self._finalize(rep, "next-header")
                    return False
                if self._explain:
                    why = "interrupts = false" if not hrc.interrupts else "merge_next"
                    rep.absorbed = (rep.absorbed or []) + [
                        f"line {self._seq}: {hrc.id} header taken into this report ({why}): "
                        f"{cl.raw.strip()}"
                    ]
                if hrc.fatal:
                    rep.fatal = True
        if rc.body is not None and not rc.body.search(msg):
            if self._foreign(rep, msg):
                return True
            self._finalize(rep, "body")
            return False
        rep.grace = 0
        # trace state
        if cat.trace_start.search(msg):
            rep.in_trace = True
        elif rep.in_trace and not rep.trace_done:
            mk = is_marker(msg)
            if mk is not None:
                rep.markers = True
                if mk[0] and mk[1] == "TASK":
                    rep.trace_done = True
                    if rc.end_on_trace_close:
                        rep.pending_close = True
            elif parse_frame(msg, cat) is not None:
                rep.frames_seen = True
            elif rep.frames_seen and not rep.markers and not cat.trace_noise.search(msg):
                # an old-style trace (no <TASK> markers) ended with this line
                rep.trace_done = True
                if rc.end_on_trace_close:
                    rep.pending_close = True
                    return self._continue(rep, cl)
        rep.add(cl, self._seq)
        if rc.cross_cpu_after is not None and not rep.cross_cpu and rc.cross_cpu_after.search(msg):
            rep.cross_cpu = True
        self._check_limit(rep)
        return True

    def _foreign(self, rep: _Report, msg: str) -> bool:
        """Skip ``msg`` as another context's line printed into ``rep`` (``GRACE_LINES`` at most;
        never a header, never after a trace closed by its ``</TASK>`` marker)."""
        if rep.markers or rep.grace >= GRACE_LINES or self._has_keyword(msg):
            return False
        rep.grace += 1
        return True

    def _check_limit(self, rep: _Report) -> None:
        limit = self._max_lines
        if rep.rc.max_lines is not None:
            limit = min(limit, rep.rc.max_lines)
        if len(rep.lines) >= limit:
            self._finalize(rep, "max-lines")

    def _start(self, rc: ReportClass, m: re.Match[str], cl: ConsoleLine) -> None:
        if len(self._open) >= MAX_OPEN:
            oldest = min(self._open.values(), key=lambda r: r.last_seq)
            self._finalize(oldest, "stale")
        rep = _Report(rc=rc, key=cl.caller, header=m, seq=self._seq, first_ts=cl.ts,
                      start_wall=self._now, fatal=rc.fatal)  # fmt: skip
        if rc.cause:
            for prev in reversed(self._recent):
                if not prev.rc.cause and self._seq - prev.last_seq <= CAUSE_LINES:
                    rep.cause_ref = prev
                    break
        rep.add(cl, self._seq)
        rep.last_ts = cl.ts
        if rc.cross_cpu_after is not None and rc.cross_cpu_after.search(cl.msg):
            rep.cross_cpu = True
        self._open[cl.caller] = rep
        self._recent.append(rep)
        self._check_limit(rep)

    def _finalize(self, rep: _Report, reason: str) -> None:
        if self._open.get(rep.key) is rep:
            del self._open[rep.key]
        if rep.finding is not None:
            return
        rep.finding = self._make_finding(rep, reason)
        self._out.append(rep.finding)
        # drop the text of reports that can no longer be a cause
        if not rep.rc.cause:
            rep.lines = []
            rep.msgs = rep.msgs[:0]

    def _make_finding(self, rep: _Report, reason: str) -> Finding:
        rc = rep.rc
        tr = build_title(rc, self._cat, rep.header, rep.msgs)
        corrupted = tr.missing
        if rc.needs_trace:
            if not tr.trace_found:
                corrupted = True
            elif rep.in_trace and not rep.trace_done and reason not in ("end", "body"):
                corrupted = True  # cut in the middle of the trace
        cause: str | None = None
        if rep.cause_ref is not None:
            ref = rep.cause_ref
            if ref.finding is not None:
                cause = ref.finding.title
            else:
                cause = build_title(ref.rc, self._cat, ref.header, ref.msgs).title
            rep.cause_ref = None
        explanation: list[str] | None = None
        if self._explain:
            explanation = [
                f"header: line {rep.seq}, class {rc.id} ({rc.klass}), matched "
                f"{rep.header.group(0)!r} in: {rep.lines[0].strip() if rep.lines else ''}",
                *(rep.absorbed or []),
                f"report: {len(rep.lines)} line(s), ended by {_END_REASONS.get(reason, reason)}",
                *tr.notes,
            ]
            if corrupted:
                explanation.append(
                    "corrupted: "
                    + ("the trace was cut" if tr.trace_found and not tr.missing else
                       "no usable stack" if not tr.trace_found else "a title field is missing")
                )  # fmt: skip
        return Finding(
            explanation=explanation,
            klass=rc.klass,
            title=tr.title,
            report="\n".join(rep.lines),
            frames=tr.frames,
            guilty=tr.guilty,
            corrupted=corrupted,
            fatal=rep.fatal,
            caller=rep.key,
            first_time=rep.first_ts,
            last_time=rep.last_ts if rep.last_ts is not None else rep.first_ts,
            cause=cause,
            class_id=rc.id,
            line=rep.seq,
        )


def detect_text(text: str, catalogue: Catalogue | None = None) -> list[Finding]:
    """Batch detection over a whole console log, deduplicated."""
    det = Detector(catalogue)
    found = FindingSet()
    found.extend(det.feed_text(text))
    found.extend(det.close())
    return found.findings()
