"""The patch a mail carries: the first unified diff in the text, cut by its hunk counts.

Hunks are read by their ``@@ -a,b +c,d @@`` line counts, so text after the diff (a signature,
``base-commit:``, a reviewer's comment) never becomes part of it; an empty line inside a
hunk is a context line whose trailing space a mail client dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.mail.read import SrcLine

_HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")
_FILE_HEADER = ("diff --git ", "index ", "--- ", "+++ ", "new file mode", "deleted file mode",
                "old mode", "new mode", "similarity index", "rename from", "rename to",
                "copy from", "copy to", "dissimilarity index", "Binary files")


@dataclass(frozen=True)
class MailPatch:
    text: str  # the diff, ending in a newline
    files: list[str]
    where: str  # where its first line came from

    def to_json(self) -> dict[str, object]:
        return {"files": self.files, "where": self.where, "lines": self.text.count("\n")}


def find_patch(lines: Sequence[SrcLine]) -> MailPatch | None:
    """The first diff in ``lines`` (whole files with complete hunks), or None."""
    i = 0
    n = len(lines)
    while i < n:
        t = lines[i].text
        if t.startswith("diff --git ") or (t.startswith("--- ") and i + 1 < n
                                            and lines[i + 1].text.startswith("+++ ")):
            got = _read_diff(lines, i)
            if got is not None:
                return got
        i += 1
    return None


def _read_diff(lines: Sequence[SrcLine], start: int) -> MailPatch | None:
    out: list[str] = []
    files: list[str] = []
    i = start
    n = len(lines)
    hunks = 0
    while i < n:
        t = lines[i].text.rstrip("\r")
        if t.startswith(_FILE_HEADER):
            if t.startswith("+++ "):
                name = t[4:].split("\t")[0]
                files.append(name[2:] if name.startswith("b/") else name)
            out.append(t)
            i += 1
            continue
        m = _HUNK.match(t)
        if m is None:
            break
        old = int(m.group(1)) if m.group(1) is not None else 1
        new = int(m.group(2)) if m.group(2) is not None else 1
        out.append(t)
        i += 1
        while (old > 0 or new > 0) and i < n:
            h = lines[i].text.rstrip("\r")
            if h == "":
                h = " "
            c = h[0]
            if c == " ":
                old -= 1
                new -= 1
            elif c == "-":
                old -= 1
            elif c == "+":
                new -= 1
            elif c != "\\":
                return None  # the hunk ended early: not a usable patch
            out.append(h)
            i += 1
        if i < n and lines[i].text.startswith("\\ No newline"):
            out.append(lines[i].text)
            i += 1
        if old > 0 or new > 0:
            return None
        hunks += 1
    if not hunks or not files:
        return None
    return MailPatch("\n".join(out) + "\n", files, lines[start].where)
