"""Helpers for the console log corpus in tests/corpus/console."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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
        elif key not in ("note", "source"):
            raise ValueError(f"{path.name}: unknown header key {key!r}")
    return log


def all_logs() -> list[Path]:
    return sorted(CORPUS.glob("*.log"))
