"""Stack-trace line parsing.

Recognised frame lines (leading whitespace allowed, message already stripped of the console
prefix):

* `` prf_open+0x5c/0x1a0``                       reliable frame
* `` prf_open+0x5c/0x1a0 [prf]``                 frame in a module (build id allowed)
* `` ? foo+0x1/0x2``                              unreliable frame (``reliable=False``)
* `` [<ffffffff81234567>] foo+0x1/0x2``           old format / kmemleak, with address
* `` foo+0x1/0x2 fs/open.c:123``                  symbolized frame
* `` __vmalloc_node mm/vmalloc.c:3240 [inline]``  symbolized inline frame (no offset)
* ``RIP: 0010:func+0x12/0x34``                   faulting kernel RIP (``0033`` is user space);
  arm64 ``pc : func+0x14/0x150`` and older ARM ``PC is at func+0x1/0x2`` alike
* `` func (fs/open.c:123)``                        decoded by scripts/decode_stacktrace.sh
* `` func+0x1/0x2 (P)``                            arm64 (6.x): ``(P)``/``(L)`` mark PC/LR frames
* ``[<807762c0>] (func) from [<8077>] (caller+0x50/0xa8)``  32-bit ARM (the first function
  is the frame; ``func from caller+0x20/0xac`` in newer kernels)
* ``[c000002fc621f1e0] [c00000000007c6f0] func+0x10c/0x118 (unreliable)``  powerpc

Function names are normalized (``Frame.func``; ``Frame.symbol`` keeps the name as printed, which
is what a symbol table knows): compiler suffixes (``.isra.N``, ``.constprop.N``, ``.cold``,
``.part.N``, ``.llvm.NNNN`` ...; the catalogue's ``frame_suffix``) and syscall wrapper
prefixes (``__x64_sys_``, ``__se_sys_``, ``__do_sys_``, ``__ia32_sys_``, ``ksys_`` ...;
``syscall_prefixes``) are stripped.  ``Frame.raw`` keeps the text as printed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchestrator.detect.catalogue import Catalogue

__all__ = [
    "Frame",
    "arm_caller",
    "is_marker",
    "normalize_func",
    "parse_frame",
    "parse_frame_text",
    "parse_rip",
]

_FRAME_RE = re.compile(
    r"^\s*(?:\[<(?P<addr>(?:0x)?[0-9a-f]+)>\]\s*)?(?P<q>\?\s+)?(?P<func>[A-Za-z_.$][\w.$]*)"
    r"(?:\+0x(?P<off>[0-9a-f]+)/0x(?P<size>[0-9a-f]+))?"
    r"(?:\s+\[(?P<mod>[\w-]+)(?:\s+[0-9a-f]+)?\])?"
    r"(?P<src>\s+[\w./-]+:\d+(?::\d+)?)?(?P<inline>\s+\[inline\])?\s*$"
)
_RIP_RE = re.compile(
    r"^\s*(?:(?:RIP|EIP|IP): (?:(?P<cs>[0-9a-f]{4}):)?|pc ?: |PC is at )"
    r"(?:\[<[0-9a-f]+>\]\s*){0,2}(?P<rest>.*)$"
)
_MARKER_RE = re.compile(r"^\s*<(/?)([#A-Z]+)>\s*$")
_NAME = r"[A-Za-z_.$][\w.$]*"
# 32-bit ARM: "[<807762c0>] (__schedule) from [<80776938>] (schedule+0x50/0xa8)"
_ARM_FROM_RE = re.compile(
    rf"^\s*(?:\[<[0-9a-f]+>\]\s*)?\(?(?P<func>{_NAME})(?:\+0x(?P<off>[0-9a-f]+)/0x(?P<size>[0-9a-f]+))?"
    r"(?:\s+\[(?P<mod>[\w-]+)\])?\)?\s+from\s+(?=\[<|\(?[A-Za-z_.$][\w.$]*\+0x)"
)
# decode_stacktrace.sh: " ? func (fs/open.c:123 fs/open.c:99) [inline]"
_DECODED_RE = re.compile(
    rf"^\s*(?P<q>\?\s+)?(?P<func>{_NAME})\s+\((?P<src>[\w./-]+:\d+)(?:\s+[\w./-]+:\d+)*\)"
    r"(?:\s+\[(?P<mod>[\w-]+)\])?(?P<inline>\s+\[inline\])?\s*$"
)
_PPC_PREFIX_RE = re.compile(r"^\s*\[[0-9a-f]{8,16}\]\s+\[[0-9a-f]{8,16}\]\s+")
_SUFFIX_RE = re.compile(r"\s+\((?:P|L|unreliable)\)\s*$")


@dataclass
class Frame:
    """One stack frame.  ``func`` is normalized, ``raw`` is the line as printed."""

    func: str
    offset: str | None
    module: str | None
    reliable: bool
    raw: str
    address: int | None = None
    source: str | None = None  # file:line, set by symbolize.py
    inlined: list[str] | None = None  # outer inlined locations, set by symbolize.py
    symbol: str | None = None  # the symbol as printed (``__x64_sys_write``), for symbolize.py

    def to_json(self) -> dict[str, object]:
        return {
            "func": self.func,
            "offset": self.offset,
            "module": self.module,
            "reliable": self.reliable,
            "raw": self.raw,
            "address": self.address,
            "source": self.source,
            "inlined": self.inlined,
            "symbol": self.symbol,
        }


def normalize_func(name: str, cat: Catalogue) -> str:
    """Strip compiler suffixes and syscall wrapper prefixes from a function name."""
    if "." in name:
        name = cat.frame_suffix.sub("", name)
        if "." in name:  # any other compiler-generated suffix
            name = name.split(".", 1)[0]
    if "sys_" in name:
        for prefix in cat.syscall_prefixes:
            if name.startswith(prefix) and len(name) > len(prefix):
                name = name[len(prefix) :]
                break
    return name


def parse_frame_text(text: str, cat: Catalogue, raw: str | None = None) -> Frame | None:
    """Parse ``func+0x1/0x2 [mod]`` style text (with optional ``? `` and ``[<addr>]``)."""
    m = _FRAME_RE.match(text)
    if m is None:
        return None
    off = m.group("off")
    if off is None and m.group("src") is None:
        return None  # a bare word is not a frame
    addr = m.group("addr")
    name = m.group("func")
    return Frame(
        func=normalize_func(name, cat),
        offset=f"0x{off}/0x{m.group('size')}" if off is not None else None,
        module=m.group("mod"),
        reliable=m.group("q") is None,
        raw=raw if raw is not None else text,
        address=int(addr, 16) if addr else None,
        symbol=name,
    )


_ARM_CALLER_RE = re.compile(
    rf"\sfrom\s+(?:\[<[0-9a-f]+>\]\s*)?\(?(?P<func>{_NAME})(?:\+0x(?P<off>[0-9a-f]+)/0x(?P<size>[0-9a-f]+))?"
    r"(?:\s+\[(?P<mod>[\w-]+)\])?\)?\s*$"
)


def arm_caller(msg: str, cat: Catalogue) -> Frame | None:
    """The caller named after ``from`` in a 32-bit ARM frame line (the next line repeats it as
    its own frame, except on the last line of a trace)."""
    m = _ARM_CALLER_RE.search(msg)
    return None if m is None else _arm_frame(m, msg, cat)


def _arm_frame(m: re.Match[str], msg: str, cat: Catalogue) -> Frame:
    """The frame a 32-bit ARM trace match names (``func``, ``off``, ``size``, ``mod`` groups)."""
    off = m.group("off")
    return Frame(
        func=normalize_func(m.group("func"), cat),
        offset=f"0x{off}/0x{m.group('size')}" if off is not None else None,
        module=m.group("mod"), reliable=True, raw=msg, symbol=m.group("func"),
    )  # fmt: skip


def parse_frame(msg: str, cat: Catalogue) -> Frame | None:
    """Parse a trace line in any of the module docstring's formats; ``None`` if not a frame."""
    if " from " in msg:
        m = _ARM_FROM_RE.match(msg)
        if m is not None:
            return _arm_frame(m, msg, cat)
    if "+0x" in msg or "[inline]" in msg:
        text = msg
        if text.lstrip().startswith("[") and not text.lstrip().startswith("[<"):
            pm = _PPC_PREFIX_RE.match(text)
            if pm is not None:
                text = text[pm.end() :]
        if text.endswith(")"):
            sm = _SUFFIX_RE.search(text)
            if sm is not None:
                fr = parse_frame_text(text[: sm.start()], cat, raw=msg)
                if fr is not None and "unreliable" in sm.group(0):
                    fr.reliable = False
                return fr
        fr = parse_frame_text(text, cat, raw=msg)
        if fr is not None or "[inline]" not in msg:
            return fr
    if ":" in msg and msg.rstrip().endswith(("]", ")")):
        m = _DECODED_RE.match(msg)
        if m is not None:
            return Frame(
                func=normalize_func(m.group("func"), cat), offset=None, module=m.group("mod"),
                reliable=m.group("q") is None, raw=msg, source=m.group("src"),
                symbol=m.group("func"),
            )  # fmt: skip
    return None


def parse_rip(msg: str, cat: Catalogue) -> tuple[bool, Frame | None] | None:
    """Parse a ``RIP:`` line.

    Returns ``None`` if the line is not a RIP line, ``(False, None)`` for a user-space RIP,
    ``(True, frame_or_None)`` for a kernel RIP (``None`` when it has no symbol, e.g. 0x0).
    """
    if "IP:" not in msg and "pc :" not in msg and "pc:" not in msg and "PC is at" not in msg:
        return None
    m = _RIP_RE.match(msg)
    if m is None:
        return None
    if m.group("cs") == "0033" or m.group("cs") == "0023":
        return (False, None)
    rest = m.group("rest").strip()
    frame = parse_frame_text(rest, cat, raw=msg)
    if frame is None and rest.endswith(")"):
        frame = parse_frame(rest, cat)  # decoded: "RIP: 0010:kfree (mm/slub.c:3567)"
        if frame is not None:
            frame.raw = msg
    return (True, frame)


def is_marker(msg: str) -> tuple[bool, str] | None:
    """``(closing, name)`` for `` <IRQ>``/`` </TASK>`` style markers, else ``None``."""
    if "<" not in msg:
        return None
    m = _MARKER_RE.match(msg)
    if m is None:
        return None
    return (m.group(1) == "/", m.group(2))
