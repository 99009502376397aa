"""Report titles: which function is guilty and how the title is written.

Title rules
-----------
1. Each catalogue class has a title format (``title`` in ``catalogue.toml``), e.g.
   ``BUG: sleeping function called from invalid context in {func}``.  The formats follow
   syzkaller's conventions where they exist (``WARNING in func``, ``general protection fault
   in func``, ``possible deadlock in func``, ``KASAN: slab-out-of-bounds Read in func`` ...);
   a kernel panic keeps the kernel's words: ``Kernel panic - not syncing: <reason>``.
2. ``{func}`` is the *guilty function*.  Candidate frames come from the class's ``stack``
   sources, concatenated in order (``rip``: the kernel ``RIP:`` line; ``trace``: the frames
   after ``Call Trace:``; ``at``: lockdep ``at: func`` lines; ``after:RE``: the frames after a
   line matching RE; ``header``: the function named in the header line).  The guilty
   function is the first *reliable* candidate (``? func`` frames never count) whose
   normalized name is not in the global ``skip_frames`` nor the class's ``skip_frames``
   (fullmatch).  ``stack_fallback`` is tried when nothing is left.
2b. Faults whose RIP is not code that ran wrong.  A class's ``rip_is_target`` regex (e.g.
   ``#PF: supervisor instruction fetch``) marks the RIP as the bad jump target (``data_area``,
   ``0xffff888...``): the ``rip`` source then yields it as unreliable.  The ``caller`` source
   blames the code that jumped there: when the RIP is missing, symbol-less, a jump target or a
   function listed in the global ``frameless`` (assembly leaves such as ``memcpy_erms`` that
   push no frame pointer), the frame-pointer unwinder prints the caller's return address as
   the trace's first frame, usually as ``? caller+0x6e/0x7f`` because the frame chain skips
   it.  That first frame counts as reliable unless it reads ``func+N/N`` (the start of the
   next function: a function pointer on the stack, not a return address) or the trace has no
   reliable frame at all (the stack itself is garbage, e.g. after a smashed return address).
3. ``WARNING: CPU: N PID: N at file:line func+0x1/0x2`` names the function directly: for
   classes with ``use_header_func`` it is used as is (no skipping).
4. ``extractor = "stall"`` (lockups, RCU stalls): among the non-skipped frames, the frame
   just before the first dispatch point (``stall_anchors``: syscall entry, vfs_write,
   process_one_work ...) is guilty, so the same stall gets the same title wherever the loop
   was interrupted.  ``extractor = "hung"``: frames containing ``rtnl_lock`` or
   ``synchronize_*rcu`` win (the latter written ``synchronize_rcu``); otherwise the first
   frame not matching ``hung_skip`` (scheduler, lock and wait plumbing).
5. Function names are normalized (``.isra.N``/``.constprop.N``/``.cold``/``.part.N``/
   ``.llvm.N`` suffixes and ``__x64_sys_``/``__se_sys_``/``__do_sys_``/``ksys_`` prefixes
   removed), so ``__x64_sys_openat`` is written ``openat``.
6. Numbers never enter a title: placeholders listed in a class's ``sanitize`` (free text such
   as a panic reason) lose hex values, addresses, ``+0x1/0x2`` offsets and decimal numbers;
   other placeholders are identifiers taken from fixed-form header groups.  CPU, PID,
   addresses, line numbers and timestamps are never placeholders.
7. Corrupted reports (trace missing or cut): the title is still produced.  When the guilty
   function is unknown, `` in {func}`` is dropped and the marker `` (corrupted)`` is
   appended, e.g. ``BUG: sleeping function called from invalid context (corrupted)``.  A
   missing non-function placeholder is dropped the same way.  If the function is known but
   the trace was cut, the title is the normal one and only ``Finding.corrupted`` is set.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from orchestrator.detect.catalogue import Catalogue, ReportClass
from orchestrator.detect.frames import Frame, is_marker, parse_frame, parse_frame_text, parse_rip

__all__ = ["CORRUPTED_MARKER", "TitleResult", "build_title", "sanitize_text"]

CORRUPTED_MARKER = " (corrupted)"

_PLACEHOLDER_RE = re.compile(r"\{(\w+)\}")
_SAN_KEYVAL_RE = re.compile(r"\b[\w-]+=\s*(?:0x[0-9a-fA-F]+|-?\d+)\b")
_SAN_OFFSET_RE = re.compile(r"\+0x[0-9a-fA-F]+/0x[0-9a-fA-F]+")
_SAN_HEX_RE = re.compile(r"\b0x[0-9a-fA-F]+\b|\b[0-9a-fA-F]{8,}\b")
_SAN_NUM_RE = re.compile(r"(?<![A-Za-z_])-?\d+(?:\.\d+)?")
_SPACES_RE = re.compile(r"\s{2,}")


def sanitize_text(text: str) -> str:
    """Remove numbers, addresses and offsets from free text."""
    text = _SAN_KEYVAL_RE.sub("", text)
    text = _SAN_OFFSET_RE.sub("", text)
    text = _SAN_HEX_RE.sub("", text)
    text = _SAN_NUM_RE.sub("", text)
    return _SPACES_RE.sub(" ", text).strip()


@dataclass
class TitleResult:
    title: str
    guilty: str | None
    frames: list[Frame]
    trace_found: bool
    missing: bool  # some placeholder could not be filled


def _trace_frames(msgs: Sequence[str], cat: Catalogue) -> tuple[list[Frame], bool]:
    """Frames after the first ``Call Trace:`` line, up to the closing ``</TASK>``."""
    start = -1
    for i, msg in enumerate(msgs):
        if cat.trace_start.search(msg):
            start = i
            break
    if start < 0:
        return [], False
    return _collect(msgs, start + 1, cat, include_rip=False), True


def _collect(msgs: Sequence[str], start: int, cat: Catalogue, *, include_rip: bool) -> list[Frame]:
    frames: list[Frame] = []
    for msg in msgs[start:]:
        fr = parse_frame(msg, cat)
        if fr is not None:
            frames.append(fr)
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
            break
    return frames


def _rip_frames(msgs: Sequence[str], cat: Catalogue, rc: ReportClass) -> list[Frame]:
    """The first kernel ``RIP:`` frame; unreliable when the class says the RIP is a jump target."""
    for msg in msgs:
        rip = parse_rip(msg, cat)
        if rip is not None and rip[0]:
            if rip[1] is None:
                return []
            if rc.rip_is_target is not None and any(rc.rip_is_target.search(m) for m in msgs):
                return [replace(rip[1], reliable=False)]
            return [rip[1]]
    return []


def _caller_frames(msgs: Sequence[str], rc: ReportClass, cat: Catalogue) -> list[Frame]:
    """The caller of a faulting code location that set up no stack frame (rule 2b)."""
    rip = _rip_frames(msgs, cat, rc)
    frameless = cat.frameless
    if rip and rip[0].reliable and (frameless is None or not frameless.fullmatch(rip[0].func)):
        return []  # the RIP ran wrong itself
    frames, _ = _trace_frames(msgs, cat)
    if not frames or not any(f.reliable for f in frames):
        return []  # no frame chain at all: the stack itself is garbage
    first = frames[0]
    if first.offset is None:
        return []
    off, _, size = first.offset.partition("/")
    if off == size:
        return []  # func+N/N: the start of the next function, a function pointer
    return [replace(first, reliable=True)]


def _source_frames(
    src: str, rc: ReportClass, cat: Catalogue, msgs: Sequence[str], header_func: str | None
) -> list[Frame]:
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
        return _trace_frames(msgs, cat)[0]
    if src.startswith("after:"):
        rx = re.compile(src[len("after:") :])
        for i, msg in enumerate(msgs):
            if rx.search(msg):
                return _collect(msgs, i + 1, cat, include_rip=True)
        return []
    pat = cat.sources[src]
    out: list[Frame] = []
    for msg in msgs:
        m = pat.search(msg)
        if m is not None:
            fr = parse_frame_text(m.group("frame"), cat, raw=msg)
            if fr is not None:
                out.append(fr)
    return out


def _skipped(func: str, rc: ReportClass, cat: Catalogue) -> bool:
    if cat.skip_frames.fullmatch(func):
        return True
    return rc.skip_frames is not None and rc.skip_frames.fullmatch(func) is not None


def _pick(frames: list[Frame], rc: ReportClass, cat: Catalogue) -> str | None:
    usable = [f.func for f in frames if f.reliable and not _skipped(f.func, rc, cat)]
    if not usable:
        return None
    if rc.extractor == "stall":
        anchors = rc.anchors or cat.stall_anchors
        if anchors is not None:
            prev = usable[0]
            for func in usable:
                if anchors.fullmatch(func):
                    return prev
                prev = func
        return usable[0]
    if rc.extractor == "hung":
        for func in usable:
            for key, repl in cat.hung_anchors:
                if key in func:
                    return repl or func
        for func in usable:
            if cat.hung_skip is None or not cat.hung_skip.fullmatch(func):
                return func
        return None
    return usable[0]


def _fields(rc: ReportClass, msgs: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, rx in rc.fields:
        for msg in msgs[1:]:
            m = rx.search(msg)
            if m is not None:
                out[name] = m.group(name) if name in rx.groupindex else m.group(0)
                break
    return out


def build_title(
    rc: ReportClass, cat: Catalogue, header: re.Match[str], msgs: Sequence[str]
) -> TitleResult:
    """Guilty function, frames and title for a finished report (``msgs`` from its header)."""
    groups = {k: v for k, v in header.groupdict().items() if v is not None}
    header_func = groups.pop("func", None)
    frames: list[Frame] = []
    guilty: str | None = None
    if rc.use_header_func and header_func:
        hf = _source_frames("header", rc, cat, msgs, header_func)
        guilty = hf[0].func if hf else None
    stack_found = False
    for sources in (rc.stack, rc.stack_fallback):
        cand: list[Frame] = []
        shown: list[Frame] = []  # "caller" repeats a trace frame: not shown twice
        for src in sources:
            got = _source_frames(src, rc, cat, msgs, header_func)
            if src != "header" and any(f.reliable for f in got):
                stack_found = True
            cand.extend(got)
            if src != "caller":
                shown.extend(got)
        if not frames:
            frames = shown
        if guilty is None:
            guilty = _pick(cand, rc, cat)
        if guilty is not None:
            break
    trace_frames, trace_found = _trace_frames(msgs, cat)
    if not frames:
        frames = trace_frames
    values: dict[str, str] = {}
    for k, v in groups.items():
        values[k] = sanitize_text(v) if k in rc.sanitize else v
    for k, v in _fields(rc, msgs).items():
        values[k] = sanitize_text(v) if k in rc.sanitize else v
    if guilty is not None:
        values["func"] = guilty
    missing = False

    def repl(m: re.Match[str]) -> str:
        nonlocal missing
        val = values.get(m.group(1))
        if not val:
            missing = True
            return "\x00"
        return val

    title = _PLACEHOLDER_RE.sub(repl, rc.title)
    if missing:
        title = title.replace(" in \x00", "").replace(" \x00", "").replace("\x00", "")
        title = _SPACES_RE.sub(" ", title).strip().rstrip(":").rstrip()
        title += CORRUPTED_MARKER
    has_trace = (trace_found and bool(trace_frames)) or stack_found
    return TitleResult(title, guilty, frames, has_trace, missing)
