"""Expected findings: an allowlist of titles (exact or regex) with the reason they are OK."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.detect.detector import Finding
from orchestrator.errors import InvalidInput

__all__ = ["Allowlist", "AllowlistEntry", "classify"]


@dataclass(frozen=True)
class AllowlistEntry:
    """One expected finding: ``title`` (exact) or ``pattern`` (regex, fullmatch), and why."""

    reason: str
    title: str | None = None
    pattern: str | None = None
    klass: str | None = None
    _regex: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if (self.title is None) == (self.pattern is None):
            raise InvalidInput("allowlist entry needs exactly one of title or pattern")
        if not self.reason:
            raise InvalidInput("allowlist entry needs a reason")
        if self.pattern is not None:
            try:
                object.__setattr__(self, "_regex", re.compile(self.pattern))
            except re.error as exc:
                raise InvalidInput(f"bad allowlist pattern {self.pattern!r}: {exc}") from exc

    def matches(self, finding: Finding) -> bool:
        if self.klass is not None and finding.klass != self.klass:
            return False
        if self.title is not None:
            return finding.title == self.title
        assert self._regex is not None
        return self._regex.fullmatch(finding.title) is not None


@dataclass
class Allowlist:
    """Ordered list of :class:`AllowlistEntry`; the first matching entry gives the reason."""

    entries: list[AllowlistEntry] = field(default_factory=list)

    def add(
        self,
        reason: str,
        *,
        title: str | None = None,
        pattern: str | None = None,
        klass: str | None = None,
    ) -> None:
        self.entries.append(
            AllowlistEntry(reason=reason, title=title, pattern=pattern, klass=klass)
        )

    def reason_for(self, finding: Finding) -> str | None:
        for entry in self.entries:
            if entry.matches(finding):
                return entry.reason
        return None

    @classmethod
    def load(cls, path: str | Path) -> Allowlist:
        """Load ``[[expected]]`` tables (``title``/``pattern``, ``reason``, optional ``class``)."""
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise InvalidInput("allowlist file not found", path=str(p)) from exc
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput(f"not valid TOML: {exc}", path=str(p)) from exc
        out = cls()
        for i, item in enumerate(data.get("expected", [])):
            if not isinstance(item, dict):
                raise InvalidInput("expected a table", path=str(p), field=f"expected[{i}]")
            try:
                out.add(
                    str(item.get("reason", "")),
                    title=item.get("title"),
                    pattern=item.get("pattern"),
                    klass=item.get("class"),
                )
            except InvalidInput as exc:
                raise InvalidInput(exc.message, path=str(p), field=f"expected[{i}]") from exc
        return out


def classify(
    findings: Iterable[Finding], allowlist: Allowlist
) -> tuple[list[Finding], list[tuple[Finding, str]]]:
    """Split findings into (unexpected, expected-with-reason)."""
    unexpected: list[Finding] = []
    expected: list[tuple[Finding, str]] = []
    for f in findings:
        reason = allowlist.reason_for(f)
        if reason is None:
            unexpected.append(f)
        else:
            expected.append((f, reason))
    return unexpected, expected
