"""The value types of ``pgo-orch reproduce``: a fact with its source, a report from a mail."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: how a fact was learned
TEXT = "text"  # read from a line of the mail
TREE = "tree"  # looked up in the kernel tree
RULE = "rule"  # derived from other facts by a rule (the rule is in ``why``)


@dataclass(frozen=True)
class Fact:
    """One thing learned, with the line it came from and how."""

    name: str
    value: Any
    how: str
    where: str
    line: str = ""
    why: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value, "how": self.how, "where": self.where,
                "line": self.line, "why": self.why}


@dataclass
class MailReport:
    """A kernel report found in the mail (through the detector)."""

    key: str
    klass: str
    title: str
    guilty: str | None
    frames: list[str]  # reliable frames, innermost first
    callers: list[str]  # reliable frames after the guilty one (who called it)
    where: str
    quoted: bool  # found only in quoted text
    arch: str  # "x86_64", "arm64", ... ("x86_64" when nothing says otherwise)
    text: str
    facts: list[Fact] = field(default_factory=list)

    def fact(self, name: str) -> Fact | None:
        return next((f for f in self.facts if f.name == name), None)

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "class": self.klass, "title": self.title, "guilty": self.guilty,
                "frames": self.frames, "callers": self.callers, "where": self.where,
                "quoted": self.quoted, "arch": self.arch, "text": self.text,
                "facts": [f.to_json() for f in self.facts]}
