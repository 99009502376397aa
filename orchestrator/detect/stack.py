"""Where a report's candidate frames come from (the ``stack`` sources of ``catalogue.toml``).

A report offers several stack sources; each class lists the ones it trusts, in order:

* ``rip``     the kernel ``RIP:``/``pc :`` line (unreliable when the class's ``rip_is_target``
              says the RIP is a bad jump target, not code that ran)
* ``caller``  the caller of a faulting location that set up no frame (``title.py`` rule 2b)
* ``trace``   the frames after the first ``Call Trace:`` line up to the closing ``</TASK>``;
              frames of other CPUs and tasks printed in between are already left out by the
              detector (it keeps one report per PRINTK_CALLER id)
* ``task``    the stack of the task that was running when an interrupt reported it (stalls,
              soft lockups): per backtrace, the frames after the last closing interrupt
              section (``</IRQ>``, ``</NMI>``, ``</SOFTIRQ>``) or after the last interrupt
              entry frame (``irq_entry`` in the catalogue), including a ``RIP:`` printed there,
              preceded by the report's own RIP when it was printed before the trace (that is
              the interrupted code).  The first backtrace that has such frames wins.
* ``header``  the function named in the header line
* ``after:RE`` frames and RIP lines after the first line matching RE
* a name from ``[global.sources]``: one frame per line matching that regex

Every source returns ``Frame`` objects; ``? func`` frames are kept as unreliable so the guilty
choice (``title.py``) can fall back on them when a kernel printed nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from orchestrator.detect.catalogue import Catalogue, ReportClass
from orchestrator.detect.frames import (
    Frame,
    arm_caller,
    is_marker,
    parse_frame,
    parse_frame_text,
    parse_rip,
)

__all__ = ["rip_only", "rip_untrusted", "source_frames", "trace_frames"]

GRACE_LINES = 3  # foreign lines skipped inside a trace (the detector's own limit)
_IRQ_SECTIONS = ("IRQ", "NMI", "SOFTIRQ", "EOI", "#DF", "#MC", "DB", "#DB")
_BACKTRACE_START_RE = re.compile(r"NMI backtrace for cpu \d+$|Task dump for CPU \d+:")


def trace_frames(msgs: Sequence[str], cat: Catalogue) -> tuple[list[Frame], bool]:
    """Frames after the first ``Call Trace:`` line, up to the closing ``</TASK>`` (without
    such a line, the first run of frame lines; the flag says whether the line was there)."""
    for i, msg in enumerate(msgs):
        if cat.trace_start.search(msg):
            return collect(msgs, i + 1, cat, include_rip=False), True
    for i, msg in enumerate(msgs):  # no "Call Trace:" line (32-bit ARM): the first frame run
        if parse_frame(msg, cat) is not None:
            return collect(msgs, i, cat, include_rip=False), False
    return [], False


def collect(msgs: Sequence[str], start: int, cat: Catalogue, *, include_rip: bool) -> list[Frame]:
    """Frames from ``msgs[start]`` on, until the trace visibly ends."""
    frames: list[Frame] = []
    caller: Frame | None = None  # 32-bit ARM: the last line's "from" function
    gap = 0  # foreign lines since the last frame (another CPU's output interleaved)
    for msg in msgs[start:]:
        fr = parse_frame(msg, cat)
        if fr is not None:
            frames.append(fr)
            caller = arm_caller(msg, cat) if " from " in msg else None
            gap = 0
            continue
        mk = is_marker(msg)
        if mk is not None:
            if mk[0] and mk[1] == "TASK":
                break
            continue
        if include_rip:
            rip = parse_rip(msg, cat)
            if rip is not None:
                if rip[0] and rip[1] is not None:
                    frames.append(rip[1])
                continue
        if cat.trace_noise.search(msg):
            continue
        if frames:
            # a line ending in ':' opens the report's next section ("Allocated by task 1:",
            # "stack backtrace:"); anything else may be another context's line: skip a few
            gap += 1
            if gap > GRACE_LINES or msg.rstrip().endswith(":"):
                break
    if caller is not None:
        frames.append(caller)
    return frames


def _rip_frames(msgs: Sequence[str], cat: Catalogue, rc: ReportClass) -> list[Frame]:
    """The first kernel ``RIP:`` frame, followed by the RIP lines right after it (a symbolised
    RIP lists the functions inlined at it first, ``RIP: 0010:div_u64 math64.h:128 [inline]``);
    unreliable when the class says the RIP is a jump target."""
    for i, msg in enumerate(msgs):
        rip = parse_rip(msg, cat)
        if rip is not None and rip[0]:
            if rip[1] is None:
                return []
            frames = [rip[1]]
            for nxt in msgs[i + 1 :]:
                more = parse_rip(nxt, cat)
                if more is None or not more[0] or more[1] is None:
                    break
                frames.append(more[1])
            if rc.rip_is_target is not None and any(rc.rip_is_target.search(m) for m in msgs):
                return [replace(f, reliable=False) for f in frames]
            return frames
    return []


def rip_only(msgs: Sequence[str], cat: Catalogue, rc: ReportClass) -> bool:
    """The report has a kernel RIP but no frame anywhere else (it was cut before its trace)."""
    if not _rip_frames(msgs, cat, rc):
        return False
    for msg in msgs:
        if parse_rip(msg, cat) is None and parse_frame(msg, cat) is not None:
            return False
    return True


def rip_untrusted(msgs: Sequence[str], cat: Catalogue, rc: ReportClass) -> bool:
    """The report's kernel RIP has no symbol or is a bad jump target: execution left known
    code, so unreliable (``?``) frames on the stack are garbage, not a trace."""
    for msg in msgs:
        rip = parse_rip(msg, cat)
        if rip is not None and rip[0]:
            if rip[1] is None:
                return True
            return rc.rip_is_target is not None and any(rc.rip_is_target.search(m) for m in msgs)
    return False


def _caller_frames(msgs: Sequence[str], rc: ReportClass, cat: Catalogue) -> list[Frame]:
    """The caller of a faulting code location that set up no stack frame (rule 2b)."""
    rip = _rip_frames(msgs, cat, rc)
    frameless = cat.frameless
    if rip and rip[0].reliable and (frameless is None or not frameless.fullmatch(rip[0].func)):
        return []  # the RIP ran wrong itself
    frames, _ = trace_frames(msgs, cat)
    if not frames or not any(f.reliable for f in frames):
        return []  # no frame chain at all: the stack itself is garbage
    first = frames[0]
    if first.offset is None:
        return []
    off, _, size = first.offset.partition("/")
    if off == size:
        return []  # func+N/N: the start of the next function, a function pointer
    return [replace(first, reliable=True)]


def _task_frames(msgs: Sequence[str], rc: ReportClass, cat: Catalogue) -> list[Frame]:
    """The interrupted task's stack (see the module docstring)."""
    starts = [
        i for i, m in enumerate(msgs) if cat.trace_start.search(m) or _BACKTRACE_START_RE.search(m)
    ]
    top_rip: list[Frame] = []
    first_trace = starts[0] if starts else len(msgs)
    rips = _rip_frames(msgs[:first_trace], cat, rc)
    if rips and rips[0].reliable:
        top_rip = rips
    irq_entry = cat.irq_entry
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(msgs)
        after = -1  # index in msgs after which the task's frames start
        saw_irq = False
        task_rip: list[Frame] = []  # a RIP printed after </IRQ> (older x86 kernels)
        for i in range(start + 1, end):
            msg = msgs[i]
            mk = is_marker(msg)
            if mk is not None:
                if mk[1] in _IRQ_SECTIONS:
                    saw_irq = True
                    if mk[0]:
                        after, task_rip = i, []
                elif mk[0] and mk[1] == "TASK":
                    break
                continue
            fr = parse_frame(msg, cat)
            if fr is not None:
                if irq_entry is not None and irq_entry.fullmatch(fr.func):
                    after = i
                    saw_irq = True
                continue
            if after >= 0 and not task_rip:
                rip = parse_rip(msg, cat)
                if rip is not None and rip[0] and rip[1] is not None:
                    task_rip = [rip[1]]
        if after < 0:
            if saw_irq:
                continue  # cut inside the interrupt section: no task frames here
            if n == 0 and top_rip:
                # a trace without interrupt section under a RIP: the RIP's own stack
                return top_rip + collect(msgs, start + 1, cat, include_rip=False)
            continue
        frames = collect(msgs, after + 1, cat, include_rip=not task_rip)
        if frames or task_rip:
            if task_rip:
                return task_rip + frames
            if n == 0 and not any(parse_rip(m, cat) for m in msgs[after + 1 : end]):
                return top_rip + frames
            return frames
    return top_rip


def source_frames(
    src: str, rc: ReportClass, cat: Catalogue, msgs: Sequence[str], header_func: str | None
) -> list[Frame]:
    """The candidate frames of one stack source (see the module docstring)."""
    if src == "header":
        if header_func is None:
            return []
        fr = parse_frame_text(header_func, cat)
        if fr is None:
            fr = parse_frame_text(header_func + "+0x0/0x0", cat, raw=header_func)
        return [fr] if fr is not None else []
    if src == "rip":
        return _rip_frames(msgs, cat, rc)
    if src == "caller":
        return _caller_frames(msgs, rc, cat)
    if src == "trace":
        return trace_frames(msgs, cat)[0]
    if src == "task":
        return _task_frames(msgs, rc, cat)
    if src.startswith("after:"):
        rx = re.compile(src[len("after:") :])
        for i, msg in enumerate(msgs):
            if rx.search(msg):
                return collect(msgs, i + 1, cat, include_rip=True)
        return []
    pat = cat.sources[src]
    out: list[Frame] = []
    for msg in msgs:
        m = pat.search(msg)
        if m is not None:
            text = m.group("frame")
            fr = parse_frame_text(text, cat, raw=msg) or parse_frame(text, cat)
            if fr is None and text.isidentifier():  # a bare function name ("Workqueue: ev f")
                fr = parse_frame_text(text + "+0x0/0x0", cat, raw=msg)
            if fr is not None:
                out.append(fr)
    return out
