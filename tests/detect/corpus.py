"""Helpers for the console log corpus in tests/corpus/console."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "console"


@dataclass
class CorpusLog:
    path: Path
    text: str
    titles: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    corrupted: list[bool] = field(default_factory=list)
    fatal: list[bool] = field(default_factory=list)
    causes: list[str] = field(default_factory=list)
    none: bool = False

    @property
    def body(self) -> str:
        """The log without the ``# key: value`` header."""
        lines = self.text.splitlines(keepends=True)
        i = 0
        while i < len(lines) and lines[i].startswith("# "):
            i += 1
        return "".join(lines[i:])


def _bool(value: str) -> bool:
    if value not in ("true", "false"):
        raise ValueError(f"expected true/false, got {value!r}")
    return value == "true"


def load(path: Path) -> CorpusLog:
    text = path.read_text(encoding="utf-8")
    log = CorpusLog(path=path, text=text)
    for line in text.splitlines():
        if not line.startswith("# "):
            break
        key, _, value = line[2:].partition(":")
        value = value.strip()
        if key == "title":
            log.titles.append(value)
        elif key == "class":
            log.classes.append(value)
        elif key == "corrupted":
            log.corrupted.append(_bool(value))
        elif key == "fatal":
            log.fatal.append(_bool(value))
        elif key == "cause":
            log.causes.append(value)
        elif key == "findings":
            log.none = value == "none"
        elif key not in ("note", "source", "licence"):
            raise ValueError(f"{path.name}: unknown header key {key!r}")
    return log


def all_logs() -> list[Path]:
    return sorted(CORPUS.glob("*.log"))


def title_class(title: str) -> str:
    """The class part of a title: what comes before the guilty function (" in func")."""
    return title.split(" in ")[0].removesuffix(" (corrupted)")


@dataclass
class Agreement:
    """Detection, class and title agreement of the detector with a set of corpus logs."""

    logs: int = 0
    detected: int = 0
    klass: int = 0
    title: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, log: CorpusLog, got: list[str]) -> None:
        want = [] if log.none else log.titles
        self.logs += 1
        self.detected += bool(got) == bool(want)
        self.klass += [title_class(t) for t in got] == [title_class(t) for t in want]
        ok = got == want
        self.title += ok
        if not ok:
            self.misses.append(f"{log.path.name}: want {want} got {got}")

    def pct(self, n: int) -> float:
        return 100.0 * n / self.logs if self.logs else 0.0

    def summary(self) -> str:
        return (
            f"{self.logs} logs: detected {self.pct(self.detected):.1f}%, "
            f"class {self.pct(self.klass):.1f}%, title {self.pct(self.title):.1f}%"
        )


#: issue 15's goals, in percent of the logs
GOAL_DETECTED, GOAL_CLASS, GOAL_TITLE = 99.0, 97.0, 90.0


def assert_goals(label: str, agreement: Agreement, capsys: pytest.CaptureFixture[str]) -> None:
    """Print ``label`` with the agreement figures and every miss, then check issue 15's goals."""
    with capsys.disabled():
        print(f"\n{label} {agreement.summary()}")
        for miss in agreement.misses:
            print(f"  miss {miss}")
    assert agreement.pct(agreement.detected) >= GOAL_DETECTED, agreement.summary()
    assert agreement.pct(agreement.klass) >= GOAL_CLASS, agreement.summary()
    assert agreement.pct(agreement.title) >= GOAL_TITLE, agreement.summary()
