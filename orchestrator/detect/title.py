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
   Before giving up: a report cut before its trace blames its RIP (rule 3c) unless the RIP
   is skipped by the class or lies in a ``reporter_families`` function (a checker such as
   ``__list_del_entry_valid`` or ``usercopy_abort`` detected the bug, its caller made it);
   then the header's own function, if it names one (rule 3b).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from orchestrator.detect.catalogue import Catalogue, ReportClass
from orchestrator.detect.finding import CORRUPTED_SUFFIX
from orchestrator.detect.frames import Frame
from orchestrator.detect.stack import rip_only, rip_untrusted, source_frames, trace_frames

__all__ = ["CORRUPTED_MARKER", "TitleResult", "build_title", "sanitize_text"]

CORRUPTED_MARKER = CORRUPTED_SUFFIX

_PLACEHOLDER_RE = re.compile(r"\{(\w+)\}")
_SAN_KEYVAL_RE = re.compile(r"\b[\w-]+=\s*(?:0x[0-9a-fA-F]+|-?\d+)\b")
_SAN_OFFSET_RE = re.compile(r"\+0x[0-9a-fA-F]+/0x[0-9a-fA-F]+")
_SAN_HEX_RE = re.compile(r"\b0x[0-9a-fA-F]+\b|\b[0-9a-fA-F]{8,}\b")
_SAN_NUM_RE = re.compile(r"(?<![A-Za-z_])-?\d+(?:\.\d+)?")
_SPACES_RE = re.compile(r"\s{2,}")


def sanitize_text(text: str) -> str:
    """Remove numbers, addresses and offsets from free text (and the separator left dangling
    at the end by a removed value: "on freeing mm: 8192" -> "on freeing mm")."""
    text = _SAN_KEYVAL_RE.sub("", text)
    text = _SAN_OFFSET_RE.sub("", text)
    text = _SAN_HEX_RE.sub("", text)
    text = _SAN_NUM_RE.sub("", text)
    return _SPACES_RE.sub(" ", text).strip().rstrip(":,;=").rstrip()


@dataclass
class TitleResult:
    title: str
    guilty: str | None
    frames: list[Frame]
    trace_found: bool
    missing: bool  # some placeholder could not be filled
    notes: list[str] = field(default_factory=list)  # how the guilty frame was chosen


def _pick(
    frames: list[Frame], rc: ReportClass, cat: Catalogue, notes: list[str], *, jumped: bool = False
) -> str | None:
    """The guilty function among ``frames`` (rules 2, 2c and 4), explained in ``notes``."""
    reliable = [f for f in frames if f.reliable]
    pool = reliable
    if not reliable and frames and not jumped:
        pool = frames  # rule 2c: a kernel that printed every frame with '?'
        notes.append("no reliable frame: the '?' frames are used (rule 2c)")
    usable: list[str] = []
    for f in frames:
        if f not in pool:
            notes.append(f"  skip {f.raw.strip()}: unreliable ('?')")
            continue
        why = cat.skip_rule(f.func, rc)
        if why is not None:
            notes.append(f"  skip {f.func}: {why}")
            continue
        notes.append(f"  keep {f.func}")
        usable.append(f.func)
    if not usable:
        return None
    if rc.extractor == "stall":
        # dispatch points are looked for among all frames (a skipped vfs_write is still the
        # point where the stalled code was entered); the guilty frame is the nearest kept one
        # before the first of them
        anchors = rc.anchors or cat.stall_anchors
        if anchors is not None:
            kept = set(usable)
            prev: str | None = None
            for f in pool:
                if anchors.fullmatch(f.func) and prev is not None:
                    notes.append(
                        f"guilty {prev}: the frame before dispatch point {f.func} (stall rule 4)"
                    )
                    return prev
                if f.func in kept:
                    prev = f.func
        notes.append(f"guilty {usable[0]}: no dispatch point, first frame kept (stall rule 4)")
        return usable[0]
    if rc.extractor == "hung":
        for func in usable:
            for key, repl in cat.hung_anchors:
                if key in func:
                    notes.append(f"guilty {repl or func}: hung anchor {key!r} (rule 4)")
                    return repl or func
        for func in usable:
            if cat.hung_skip is None or not cat.hung_skip.fullmatch(func):
                notes.append(f"guilty {func}: first frame that is not wait plumbing (rule 4)")
                return func
            notes.append(f"  skip {func}: hung_skip")
        return None
    notes.append(f"guilty {usable[0]}: first frame kept (rule 2)")
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
    notes: list[str] = []
    groups = {k: v for k, v in header.groupdict().items() if v is not None}
    header_func = groups.pop("func", None)
    frames: list[Frame] = []
    guilty: str | None = None
    if rc.use_header_func and header_func:
        hf = source_frames("header", rc, cat, msgs, header_func)
        guilty = hf[0].func if hf else None
        if guilty is not None:
            notes.append(f"guilty {guilty}: named by the header (rule 3)")
    stack_found = False
    for level, sources in (("stack", rc.stack), ("stack_fallback", rc.stack_fallback)):
        if not sources:
            continue
        cand: list[Frame] = []
        shown: list[Frame] = []  # "caller" repeats a trace frame: not shown twice
        # a symbol-less or jump-target RIP: '?' frames are stack garbage then (rule 2c)
        jumped = rip_untrusted(msgs, cat, rc)
        for src in sources:
            got = source_frames(src, rc, cat, msgs, header_func)
            if src != "header" and any(f.reliable for f in got):
                stack_found = True
            if src != "header" and got and not stack_found and src not in ("rip", "caller"):
                stack_found = True  # a trace of '?' frames is still a trace (rule 2c)
            notes.append(f"{level} source {src}: {len(got)} frame(s)")
            cand.extend(got)
            if src != "caller":
                shown.extend(got)
        if not frames:
            frames = shown
        if guilty is None:
            guilty = _pick(cand, rc, cat, notes, jumped=jumped)
        if guilty is not None:
            break
    if guilty is None and rip_only(msgs, cat, rc):
        rip = source_frames("rip", rc, cat, msgs, None)
        class_skip = rc.skip_frames
        if (
            rip
            and rip[0].reliable
            and not (class_skip and class_skip.fullmatch(rip[0].func))
            and not cat.is_reporter(rip[0].func)
        ):
            guilty = rip[0].func
            notes.append(f"guilty {guilty}: the report was cut before its trace, the RIP is "
                         "the only code it names (rule 3c)")  # fmt: skip
    if guilty is None and header_func:
        hf = source_frames("header", rc, cat, msgs, header_func)
        if hf:
            guilty = hf[0].func
            notes.append(f"guilty {guilty}: no usable frame, the header's function (rule 3b)")
    tr_frames, trace_found = trace_frames(msgs, cat)
    if not frames:
        frames = tr_frames
    values: dict[str, str] = {}
    for k, v in groups.items():
        values[k] = sanitize_text(v) if k in rc.sanitize else v
    for k, v in _fields(rc, msgs).items():
        values[k] = sanitize_text(v) if k in rc.sanitize else v
    for k, table in rc.values:
        raw = values.get(k)
        if raw is not None:
            for rx, canonical in table:
                if rx.search(raw):
                    notes.append(f"{k} {raw!r} is written {canonical!r} (values rule)")
                    values[k] = canonical
                    break
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
        notes.append("no guilty function or field: marked corrupted (rule 7)")
    has_trace = (trace_found and bool(tr_frames)) or stack_found
    return TitleResult(title, guilty, frames, has_trace, missing, notes)
