"""Views of a message body: its own text or its quoted text, with mail wrapping undone.

A reply quotes the report with ``> `` (or ``>`` and nesting such as ``> > ``).  The *own*
view keeps the lines a message's author wrote; the *quoted* view keeps the quoted lines with
every quote marker removed.  Lines of the other kind become blank lines, so a report never
runs across an author's comment.

Mail clients wrap long lines at about 72 columns, which splits kernel lines such as
``BUG: sleeping function called from invalid context at include/linux/sched/mm.h:201``.
:func:`unwrap` joins a line to the one before it when the previous line is long enough to
have been wrapped and the line does not look like the start of a kernel line (a frame, a
timestamp, a known report line, or the same indentation as the lines around it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from orchestrator.mail.read import SrcLine

_QUOTE = re.compile(r"^((?:[ \t]?>)+)[ ]?")
#: lines that start a kernel report line of their own (never a wrapped continuation)
_KERNEL_START = re.compile(
    r"^\s*(?:\[\s*\d+\.\d+\]|<\d>|\? |\[<[0-9a-f]+>\]|[A-Za-z_.$][\w.$]*\+0x[0-9a-f]+/0x"
    r"|BUG:|WARNING:|INFO:|Call [Tt]race:|CPU:|Hardware name:|in_atomic\(\)|RIP:|RSP:|RAX:"
    r"|RDX:|RBP:|R\d\d:|FS:|CS:|CR2:|DR\d:|Code:|Modules linked in|</?[A-Z]+>|---\[|Kernel panic"
    r"|preempt_count|irq event stamp|hardirqs |softirqs |Preemption disabled|={4,}|-{4,}"
    r"|Workqueue:|pc :|lr :|sp :|x\d+:|pstate:|Tainted:|general protection|Oops|Unable to"
    r"|kernel BUG|UBSAN:|KASAN|Read of size|Write of size|diff --git|index |@@ |\+\+\+ |--- )")
WRAP_MIN = 66  # the narrowest wrap width mail clients use (most use 72 to 78)
WRAP_MAX = 80  # a line longer than the widest wrap width was not wrapped


def quote_depth(line: str) -> int:
    m = _QUOTE.match(line)
    return m.group(1).count(">") if m else 0


def strip_quote(line: str) -> str:
    m = _QUOTE.match(line)
    return line[m.end():] if m else line


def own_view(lines: Sequence[SrcLine]) -> list[SrcLine]:
    """The author's own lines; quoted lines become blank."""
    return [ln if quote_depth(ln.text) == 0 else SrcLine("", ln.where) for ln in lines]


def quoted_view(lines: Sequence[SrcLine]) -> list[SrcLine]:
    """The quoted lines without their markers; the author's lines become blank."""
    return [SrcLine(strip_quote(ln.text), ln.where) if quote_depth(ln.text) else
            SrcLine("", ln.where) for ln in lines]


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" \t"))


def unwrap(lines: Sequence[SrcLine]) -> list[SrcLine]:
    """Join lines a mail client wrapped (see the module docstring); ``where`` of the first.

    Lines of a diff are never joined (a patch is read as it is, see ``patch.py``)."""
    out: list[SrcLine] = []
    in_diff = False
    for ln in lines:
        text = ln.text.rstrip("\r")
        if text.startswith(("diff --git ", "--- a/", "@@ -")):
            in_diff = True
        elif in_diff and not text.startswith((" ", "+", "-", "@", "\\", "index ")) and text:
            in_diff = False
        if out and not in_diff and _is_continuation(out[-1].text, text):
            prev = out[-1]
            out[-1] = SrcLine(prev.text.rstrip() + " " + text.strip(), prev.where)
            continue
        out.append(SrcLine(text, ln.where))
    return out


def _is_continuation(prev: str, text: str) -> bool:
    if not text.strip() or not prev.strip():
        return False
    # wrapped: the next word would not have fitted on the previous line
    if len(prev.rstrip()) > WRAP_MAX or len(prev.rstrip()) + 1 + len(text.split()[0]) <= WRAP_MIN:
        return False
    if _KERNEL_START.match(text):
        return False
    if not _KERNEL_START.match(prev):
        return False  # ordinary prose (or a report line that was not wrapped): leave it
    # a wrapped tail starts at the left margin, left of the report's own indentation
    return _indent(text) < max(1, _indent(prev))
