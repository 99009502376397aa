"""Kernel options implied by a report: the data table ``implied.toml`` and its reader."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import InvalidInput

TABLE = Path(__file__).with_name("implied.toml")
_OPTION = re.compile(r"^CONFIG_[A-Za-z0-9_]+=\S+$")


@dataclass(frozen=True)
class Rule:
    kind: str  # "class" or "frame"
    match: str
    options: tuple[str, ...]
    why: str


def load_rules(path: Path = TABLE) -> list[Rule]:
    """The table's rules; InvalidInput naming the entry when one is malformed."""
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInput(f"cannot read the implied-options table: {exc}",
                           path=str(path)) from exc
    rules: list[Rule] = []
    for kind in ("class", "frame"):
        for i, entry in enumerate(data.get(kind, [])):
            where = f"{kind}[{i}]"
            match, options, why = entry.get("match"), entry.get("options"), entry.get("why", "")
            if not isinstance(match, str) or not match:
                raise InvalidInput("match must be a non-empty string", path=str(path),
                                   field=f"{where}.match")
            if not isinstance(options, list) or not all(
                    isinstance(o, str) and _OPTION.match(o) for o in options):
                raise InvalidInput("options must be a list of CONFIG_X=V strings",
                                   path=str(path), field=f"{where}.options")
            rules.append(Rule(kind, match, tuple(options), str(why)))
    return rules


def implied(klass: str, frames: list[str], rules: list[Rule]
            ) -> list[tuple[str, Rule, str]]:
    """(option, rule, what matched) for a report's class and frames, first value wins."""
    out: list[tuple[str, Rule, str]] = []
    seen: set[str] = set()

    def add(rule: Rule, what: str) -> None:
        for opt in rule.options:
            name = opt.split("=", 1)[0]
            if name not in seen:
                seen.add(name)
                out.append((opt, rule, what))

    for rule in rules:
        if rule.kind == "class" and fnmatch.fnmatchcase(klass, rule.match):
            add(rule, klass)
    for func in frames:
        for rule in rules:
            if rule.kind == "frame" and fnmatch.fnmatchcase(func, rule.match):
                add(rule, func)
    return out
